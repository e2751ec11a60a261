"""Tenants: one shared by default; with isolation, a caller never sees another's state."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.config import build_parser, settings_from
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.settings import Settings

from ..conftest import START

V1 = "/v1/meetings"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:secret".encode()).decode()}


def bearer(application_id: str) -> dict[str, str]:
    claims = {"application_id": application_id, "exp": int(time.time()) + 600}
    return {"Authorization": "Bearer " + jwt.encode(claims, KEY, algorithm="RS256")}


def app_with(**settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings), clock=Clock.frozen_at(START)))


def test_by_default_every_caller_shares_one_tenant() -> None:
    with app_with() as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}, headers=basic("a")).json()
        seen = client.get(f"{V1}/rooms/{room['id']}", headers=bearer("app-2"))
        assert seen.status_code == 200


def test_isolated_tenants_never_see_each_other() -> None:
    with app_with(tenancy="isolated", max_rooms=1, max_themes=1) as client:
        mine, theirs = basic("alice"), bearer("bobs-app")
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}, headers=mine).json()
        theme = client.post(
            f"{V1}/themes",
            json={"main_color": "#fff", "brand_text": "A", "theme_name": "t"},
            headers=mine,
        ).json()

        for method, path in [
            ("GET", f"{V1}/rooms/{room['id']}"),
            ("DELETE", f"{V1}/rooms/{room['id']}"),
            ("GET", f"{V1}/themes/{theme['theme_id']}"),
            ("GET", f"{V1}/themes/{theme['theme_id']}/rooms"),
        ]:
            response = client.request(method, path, headers=theirs)
            assert response.status_code == 404, (method, path)
            assert response.json()["name"] == "NotFoundError"
        assert client.get(f"{V1}/rooms", headers=theirs).json()["total_items"] == 0
        assert client.get(f"{V1}/themes", headers=theirs).json() == []
        patch = client.patch(
            f"{V1}/applications",
            json={"update_details": {"default_theme_id": theme["theme_id"]}},
            headers=theirs,
        )
        assert patch.status_code == 400

        # Limits and theme names count per tenant; short company URLs are global.
        assert (
            client.post(f"{V1}/rooms", json={"display_name": "y"}, headers=theirs).status_code
            == 201
        )
        assert (
            client.post(f"{V1}/rooms", json={"display_name": "z"}, headers=mine).status_code == 403
        )
        same_name = {"main_color": "#fff", "brand_text": "B", "theme_name": "t"}
        assert client.post(f"{V1}/themes", json=same_name, headers=theirs).status_code == 201


def test_recordings_belong_to_their_room_tenant() -> None:
    with app_with(tenancy="isolated") as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}, headers=basic("alice")).json()
        host = client.post(
            f"/_emulator/rooms/{room['id']}/participants", json={"name": "H", "is_host": True}
        ).json()
        recording = client.post(f"/_emulator/sessions/{host['session_id']}/recordings").json()
        assert (
            client.get(f"{V1}/recordings/{recording['id']}", headers=basic("alice")).status_code
            == 200
        )
        assert (
            client.get(f"{V1}/recordings/{recording['id']}", headers=basic("eve")).status_code
            == 404
        )
        other = client.get(f"{V1}/sessions/{host['session_id']}/recordings", headers=basic("eve"))
        assert other.status_code == 404
        assert (
            client.delete(f"{V1}/recordings/{recording['id']}", headers=basic("eve")).json()[
                "message"
            ]
            == "Could not find recording"
        )


def test_short_company_urls_are_unique_across_tenants() -> None:
    with app_with(tenancy="isolated") as client:
        body = {"main_color": "#fff", "brand_text": "A", "short_company_url": "acme"}
        assert client.post(f"{V1}/themes", json=body, headers=basic("a")).status_code == 201
        clash = client.post(f"{V1}/themes", json=body, headers=basic("b"))
        assert (clash.status_code, clash.json()["message"]) == (
            409,
            "short_company_url already exists",
        )


def test_a_themes_identity_is_its_callers() -> None:
    with app_with(tenancy="isolated") as client:
        body = {"main_color": "#fff", "brand_text": "A"}
        by_app = client.post(f"{V1}/themes", json=body, headers=bearer("my-application")).json()
        assert by_app["application_id"] == "my-application"
        by_key = client.post(f"{V1}/themes", json=body, headers=basic("my-key")).json()
        assert by_key["account_id"] == "my-key"


def test_named_tenants_join_a_key_and_an_application(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(
        json.dumps([{"name": "acme", "api_key": "acme-key", "application_id": "acme-app"}])
    )
    settings = settings_from(
        build_parser().parse_args(["--tenancy", "isolated", "--tenants", str(path)])
    )
    with TestClient(create_app(settings)) as client:
        room = client.post(
            f"{V1}/rooms", json={"display_name": "x"}, headers=basic("acme-key")
        ).json()
        assert client.get(f"{V1}/rooms/{room['id']}", headers=bearer("acme-app")).status_code == 200
        assert client.get(f"{V1}/rooms/{room['id']}", headers=basic("other")).status_code == 404
        theme = client.post(
            f"{V1}/themes",
            json={"main_color": "#fff", "brand_text": "A"},
            headers=bearer("acme-app"),
        ).json()
        assert (theme["application_id"], theme["account_id"]) == ("acme-app", "acme-key")


@pytest.mark.parametrize(
    "content", ['{"name": "x"}', '[{"api_key": "k"}]', '[{"name": "x", "colour": "red"}]']
)
def test_bad_tenant_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="tenant"):
        settings_from(build_parser().parse_args(["--tenants", str(path)]))


def test_the_control_plane_sees_every_tenant() -> None:
    with app_with(tenancy="isolated") as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}, headers=basic("alice")).json()
        joined = client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "A"})
        assert joined.status_code == 201
