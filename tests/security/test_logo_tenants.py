"""A logo upload key belongs to the tenant whose form named it: another tenant cannot
finalize it onto its own theme, even knowing the key. What the bucket holds is bounded."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain import logos
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.logos import (
    MAX_TEMP_UPLOAD_BYTES,
    MAX_UPLOAD_BYTES,
    LogosInvalid,
    LogoStore,
)
from meetings_emulator.domain.settings import Settings

from ..conftest import START

V1 = "/v1/meetings"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:secret".encode()).decode()}


ALICE, MALLORY = basic("alice1"), basic("mallory")


def logo() -> bytes:
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    image.putpixel((20, 10), (255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload_white(client: TestClient, caller: dict[str, str]) -> str:
    forms = client.get(f"{V1}/themes/logos-upload-urls", headers=caller).json()
    [form] = [f for f in forms if f["fields"]["logoType"] == "white"]
    stored = client.post(form["url"], data=form["fields"], files={"file": ("l.png", logo())})
    assert stored.status_code == 204, stored.text
    return str(form["fields"]["key"])


def theme_of(client: TestClient, caller: dict[str, str]) -> str:
    made = client.post(
        f"{V1}/themes", json={"main_color": "#112233", "brand_text": "Brand"}, headers=caller
    )
    assert made.status_code == 201, made.text
    return str(made.json()["theme_id"])


def test_another_tenant_cannot_finalize_a_key_it_did_not_get() -> None:
    app = create_app(Settings(seed=4, tenancy="isolated"), clock=Clock.frozen_at(START), ids=Ids(4))
    with TestClient(app) as client:
        key = upload_white(client, ALICE)
        theirs, mine = theme_of(client, MALLORY), theme_of(client, ALICE)
        stolen = client.put(
            f"{V1}/themes/{theirs}/finalizeLogos", json={"keys": [key]}, headers=MALLORY
        )
        assert stolen.status_code == 400
        assert stolen.json() == {
            "message": "could not finalize logos",
            "name": "BadRequestError",
            "status": 400,
            "errors": [{"logoKey": key, "code": "key_not_found"}],
        }
        assert (
            client.get(f"{V1}/themes/{theirs}", headers=MALLORY).json()["brand_image_white"] is None
        )
        # the owner still can: the refused attempt did not use the key up
        owned = client.put(f"{V1}/themes/{mine}/finalizeLogos", json={"keys": [key]}, headers=ALICE)
        assert (owned.status_code, owned.text) == (200, "OK")
        white = client.get(f"{V1}/themes/{mine}", headers=ALICE).json()["brand_image_white"]
        assert white.startswith(f"logos/{mine}/white/")


def test_in_shared_tenancy_every_caller_is_one_tenant() -> None:
    app = create_app(Settings(seed=4), clock=Clock.frozen_at(START), ids=Ids(4))
    with TestClient(app) as client:
        key = upload_white(client, ALICE)
        theme = theme_of(client, MALLORY)
        finalized = client.put(
            f"{V1}/themes/{theme}/finalizeLogos", json={"keys": [key]}, headers=MALLORY
        )
        assert finalized.status_code == 200


# -- what the bucket holds is bounded ------------------------------------------------------


def white_fields(store: LogoStore) -> dict[str, str]:
    [form] = [f for f in store.upload_forms("http://e") if f["fields"]["logoType"] == "white"]
    return dict(form["fields"])


def finalize_problems(store: LogoStore, key: str) -> list[dict[str, str]]:
    with pytest.raises(LogosInvalid) as refused:
        store.finalize("theme", [key])
    return [problem.as_json() for problem in refused.value.problems]


def test_temporary_uploads_hold_64_mib_at_most_the_oldest_going_first() -> None:
    store = LogoStore(Clock.frozen_at(START), Ids(5), b"secret")
    largest = bytes(MAX_UPLOAD_BYTES)
    keys = []
    for _ in range(MAX_TEMP_UPLOAD_BYTES // MAX_UPLOAD_BYTES + 1):
        fields = white_fields(store)
        store.accept_upload(fields, largest, "logo.png")
        keys.append(fields["key"])
    assert finalize_problems(store, keys[0]) == [{"logoKey": keys[0], "code": "key_not_found"}]
    kept = finalize_problems(store, keys[-1])  # still there: refused for what it is
    assert [problem["code"] for problem in kept] == ["invalid_logo_properties"] * 2


def test_the_keys_handed_out_are_remembered_up_to_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logos, "MAX_ISSUED_KEYS", 6)
    store = LogoStore(Clock.frozen_at(START), Ids(5), b"secret")
    first = white_fields(store)
    for _ in range(2):
        latest = white_fields(store)
    for fields in (first, latest):
        store.accept_upload(fields, logo(), "logo.png")  # the policy still holds for both
    assert finalize_problems(store, first["key"]) == [
        {"logoKey": first["key"], "code": "key_not_found"}
    ]
    assert set(store.finalize("theme", [latest["key"]])) == {"white"}
