"""Themes, the application, dial-in numbers and the logo flow, as a caller sees them."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, FIXTURES, START
from ..shapes import fixture, shape

V1 = "/v1/meetings"
THEME = {"main_color": "#12f64e", "brand_text": "My Company"}


def make_theme(client: TestClient, **extra: Any) -> Any:
    response = client.post(f"{V1}/themes", json={**THEME, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def error(status: int, name: str, message: str, errors: list[Any] | None = None) -> Any:
    body: dict[str, Any] = {"message": message, "name": name, "status": status}
    if errors is not None:
        body["errors"] = errors
    return body


# -- themes ------------------------------------------------------------------------------


def test_no_themes_reads_as_an_empty_array_as_the_later_live_service(client: TestClient) -> None:
    # The Java and .NET SDKs read an array here; the early capture `empty_themes.json` is `{}`
    # (docs/fidelity.md says why the later answer is the one kept).
    response = client.get(f"{V1}/themes")
    assert (response.status_code, response.json()) == (200, [])


def test_theme_has_the_live_shape(client: TestClient) -> None:
    theme = make_theme(client, theme_name="my_theme", short_company_url="my-company")
    live = fixture(FIXTURES, "theme.json")
    assert list(theme) == list(live)
    assert shape({**theme, "account_id": "x", "application_id": "y"}) == shape(
        {**live, "account_id": "x", "application_id": "y"}
    )
    assert theme["domain"] == "VCP"
    assert client.get(f"{V1}/themes").json() == [theme]
    assert client.get(f"/beta/meetings/themes/{theme['theme_id']}").json() == theme


def test_theme_name_is_made_up_when_not_given(client: TestClient) -> None:
    theme = make_theme(client)
    assert re.fullmatch(r"[0-9a-f-]{36}", theme["theme_name"])
    assert theme["short_company_url"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"brand_text": "x"}, '"main_color" is required'),
        ({"main_color": "#fff"}, '"brand_text" is required'),
        (
            {**THEME, "main_color": "green"},
            '"main_color" with value "green" fails to match the required pattern:'
            " #([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$",
        ),
        (
            {**THEME, "short_company_url": "12345"},
            '"short_company_url" with value "12345" fails to match the required pattern:'
            " ^(?=.*[a-zA-Z_~-])([a-zA-Z0-9_~-]+)$",
        ),
        (
            {**THEME, "brand_text": "b" * 201},
            '"brand_text" length must be less than or equal to 200 characters long',
        ),
        ({**THEME, "logo": "x"}, '"logo" is not allowed'),
    ],
)
def test_create_theme_rejects(client: TestClient, body: Any, message: str) -> None:
    response = client.post(f"{V1}/themes", json=body)
    assert (response.status_code, response.json()) == (
        400,
        error(400, "InputValidationError", message),
    )


def test_theme_conflicts_are_409_with_the_live_messages(client: TestClient) -> None:
    first = make_theme(client, theme_name="my_theme", short_company_url="my-co")
    same_name = client.post(f"{V1}/themes", json={**THEME, "theme_name": "my_theme"})
    assert (same_name.status_code, same_name.json()) == (
        409,
        fixture(FIXTURES, "theme_name_in_use.json"),
    )
    same_url = client.post(f"{V1}/themes", json={**THEME, "short_company_url": "my-co"})
    assert (same_url.status_code, same_url.json()) == (
        409,
        error(409, "ConflictError", "short_company_url already exists"),
    )
    other = make_theme(client, theme_name="other")
    renamed = client.patch(
        f"{V1}/themes/{other['theme_id']}", json={"update_details": {"theme_name": "my_theme"}}
    )
    assert (renamed.status_code, renamed.json()) == (
        409,
        fixture(FIXTURES, "update_theme_already_exists.json"),
    )
    itself = client.patch(
        f"{V1}/themes/{first['theme_id']}", json={"update_details": {"theme_name": "my_theme"}}
    )
    assert itself.status_code == 200


def test_update_theme(client: TestClient) -> None:
    theme = make_theme(client, theme_name="my_theme", short_company_url="my-company")
    details = {
        "theme_name": "updated_theme",
        "main_color": "#FF0000",
        "brand_text": "My Updated Company Name",
        "short_company_url": "updated_company_url",
    }
    response = client.patch(f"{V1}/themes/{theme['theme_id']}", json={"update_details": details})
    assert response.status_code == 200
    updated = response.json()
    live = fixture(FIXTURES, "updated_theme.json")
    assert {key: updated[key] for key in details} == {key: live[key] for key in details}
    empty = client.patch(f"{V1}/themes/{theme['theme_id']}", json={"update_details": {}})
    assert (empty.status_code, empty.json()) == (400, fixture(FIXTURES, "update_no_keys.json"))


def test_unknown_theme_is_404_with_the_live_messages(client: TestClient) -> None:
    theme_id = "90a21428-b74a-4221-adc3-783935d654dc"
    for method in ("GET", "DELETE"):
        response = client.request(method, f"{V1}/themes/{theme_id}")
        assert (response.status_code, response.json()) == (
            404,
            fixture(FIXTURES, "theme_not_found.json"),
        )
    rooms = client.get(f"{V1}/themes/{theme_id}/rooms")
    assert (rooms.status_code, rooms.json()) == (
        404,
        fixture(FIXTURES, "list_rooms_theme_id_not_found.json"),
    )


def test_theme_limit_is_403() -> None:
    app = create_app(Settings(max_themes=1), clock=Clock.frozen_at(START))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        make_theme(client)
        refused = client.post(f"{V1}/themes", json=THEME)
    assert (refused.status_code, refused.json()) == (
        403,
        error(403, "ForbiddenError", "Maximum number of themes for owner (1) exceeded"),
    )


# -- rooms and themes --------------------------------------------------------------------


def test_rooms_links_follow_their_theme_short_url(client: TestClient) -> None:
    theme = make_theme(client, short_company_url="my-company")
    room = client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": theme["theme_id"]})
    body = room.json()
    code = body["meeting_code"]
    assert body["theme_id"] == theme["theme_id"]
    assert body["_links"]["guest_url"]["href"] == f"https://meetings.vonage.com/my-company/{code}"
    assert body["_links"]["host_url"]["href"].startswith(
        f"https://meetings.vonage.com/my-company/?room_token={code}&participant_token="
    )
    client.patch(
        f"{V1}/themes/{theme['theme_id']}",
        json={"update_details": {"short_company_url": "renamed"}},
    )
    again = client.get(f"{V1}/rooms/{body['id']}").json()
    assert again["_links"]["guest_url"]["href"] == f"https://meetings.vonage.com/renamed/{code}"


def test_unknown_theme_on_a_room_is_400(client: TestClient) -> None:
    theme_id = "90a21428-b74a-4221-adc3-783935d654dc"
    response = client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": theme_id})
    assert (response.status_code, response.json()) == (
        400,
        error(
            400, "BadRequestError", f"Failed to create room because theme id {theme_id} not found"
        ),
    )


def test_application_default_theme_applies_to_new_rooms(client: TestClient) -> None:
    theme = make_theme(client)
    response = client.patch(
        f"{V1}/applications", json={"update_details": {"default_theme_id": theme["theme_id"]}}
    )
    assert response.status_code == 200
    application = response.json()
    assert list(application) == ["application_id", "account_id", "default_theme_id"]
    assert application["default_theme_id"] == theme["theme_id"]
    assert theme["application_id"] == application["application_id"]
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    assert room["theme_id"] == theme["theme_id"]
    explicit = client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": None}).json()
    assert explicit["theme_id"] is None


def test_application_errors(client: TestClient) -> None:
    unknown = client.patch(
        f"{V1}/applications",
        json={"update_details": {"default_theme_id": "00000000-0000-4000-8000-000000000000"}},
    )
    assert unknown.status_code == 400
    assert unknown.json()["message"] == (
        "Failed to update application because theme id"
        " 00000000-0000-4000-8000-000000000000 not found"
    )
    live = fixture(FIXTURES, "update_application_theme_id_not_found.json")
    assert set(unknown.json()) == set(live)
    empty = client.patch(f"{V1}/applications", json={"update_details": {}})
    assert (empty.status_code, empty.json()) == (400, fixture(FIXTURES, "update_no_keys.json"))


def test_deleting_a_theme_in_use(client: TestClient) -> None:
    theme = make_theme(client)
    theme_id = theme["theme_id"]
    rooms = [
        client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": theme_id}).json()
        for _ in range(2)
    ]
    client.patch(f"{V1}/applications", json={"update_details": {"default_theme_id": theme_id}})
    refused = client.delete(f"{V1}/themes/{theme_id}", params={"force": "False"})
    assert (refused.status_code, refused.json()) == (
        400,
        error(
            400,
            "BadRequestError",
            "could not delete theme",
            [
                f"Theme {theme_id} is used by 2 rooms",
                f"Theme {theme_id} is the application's default theme",
            ],
        ),
    )
    bad_flag = client.delete(f"{V1}/themes/{theme_id}", params={"force": "yes"})
    assert bad_flag.json()["message"] == '"force" must be a boolean'
    forced = client.delete(f"{V1}/themes/{theme_id}", params={"force": "True"})
    assert forced.status_code == 204
    assert [client.get(f"{V1}/rooms/{r['id']}").json()["theme_id"] for r in rooms] == [None, None]
    assert client.get(f"{V1}/rooms/{rooms[0]['id']}").json()["_links"]["guest_url"]["href"] == (
        f"https://meetings.vonage.com/{rooms[0]['meeting_code']}"
    )
    assert client.post(f"{V1}/rooms", json={"display_name": "x"}).json()["theme_id"] is None


def test_deleting_a_theme_used_by_one_room_says_so_as_live(client: TestClient) -> None:
    theme = make_theme(client)
    client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": theme["theme_id"]})
    refused = client.delete(f"{V1}/themes/{theme['theme_id']}", params={"force": "false"})
    live = fixture(FIXTURES, "delete_theme_in_use.json")
    live["errors"] = [
        live["errors"][0].replace("90a21428-b74a-4221-adc3-783935d654db", theme["theme_id"])
    ]
    assert (refused.status_code, refused.json()) == (400, live)


def test_unused_theme_deletes_and_expired_rooms_do_not_hold_it(client: TestClient) -> None:
    theme = make_theme(client)
    client.post(f"{V1}/rooms", json={"display_name": "x", "theme_id": theme["theme_id"]})
    client.post("/_emulator/clock", json={"advance_seconds": 600})
    assert client.delete(f"{V1}/themes/{theme['theme_id']}").status_code == 204
    assert client.get(f"{V1}/themes/{theme['theme_id']}").status_code == 404


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    uses=st.lists(st.booleans(), min_size=1, max_size=30),
    size=st.integers(1, 7),
    move=st.lists(st.integers(0, 29), max_size=5),
)
def test_a_theme_rooms_listing_pages_exactly_like_the_room_listing(
    uses: list[bool], size: int, move: list[int]
) -> None:
    """The same paginator: the theme listing equals the room listing of the same rooms."""
    app = create_app(clock=Clock.frozen_at(START), ids=Ids(5))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        theme_id = make_theme(client)["theme_id"]
        other_id = make_theme(client)["theme_id"]
        body = {"display_name": "r", "type": "long_term", "expires_at": "2026-03-09T00:00:00Z"}
        ids = [
            client.post(
                f"{V1}/rooms", json={**body, "theme_id": theme_id if used else other_id}
            ).json()["id"]
            for used in uses
        ]
        for index in move:  # rooms taking the theme up (or off) later, out of serial order
            if index < len(ids):
                client.patch(
                    f"{V1}/rooms/{ids[index]}", json={"update_details": {"theme_id": theme_id}}
                )

        def walk(url: str) -> list[list[str]]:
            pages = []
            while url:
                page = client.get(url).json()
                pages.append([room["id"] for room in page["_embedded"]])
                url = page["_links"].get("next", {}).get("href")
            return pages

        themed = walk(f"http://testserver{V1}/themes/{theme_id}/rooms?page_size={size}")
        everyone = [r for page in walk(f"http://testserver{V1}/rooms?page_size=1000") for r in page]
        theirs = [
            r for r in everyone if client.get(f"{V1}/rooms/{r}").json()["theme_id"] == theme_id
        ]
        assert [r for page in themed for r in page] == theirs
        assert all(len(page) <= size for page in themed)


# -- dial-in numbers ---------------------------------------------------------------------


def test_dial_in_numbers_need_no_credentials(app: Any) -> None:
    with TestClient(app) as anonymous:
        response = anonymous.get(f"{V1}/dial-in-numbers")
    assert response.status_code == 200
    numbers = response.json()
    assert shape(numbers) == shape(fixture(FIXTURES, "list_dial_in_numbers.json"))
    assert {
        "number": "442381924626",
        "locale": "en-GB",
        "display_name": "United Kingdom",
    } in numbers


def test_dial_in_numbers_are_configurable(tmp_path: Any) -> None:
    from meetings_emulator.config import build_parser, settings_from

    path = tmp_path / "numbers.json"
    path.write_text('[{"number": "3225880000", "locale": "fr-BE", "display_name": "Belgium"}]')
    settings = settings_from(build_parser().parse_args(["--dial-in-numbers", str(path)]))
    with TestClient(create_app(settings)) as client:
        assert client.get(f"{V1}/dial-in-numbers").json() == [
            {"number": "3225880000", "locale": "fr-BE", "display_name": "Belgium"}
        ]


# -- the logo flow -----------------------------------------------------------------------


def png(width: int, height: int, *, transparent: bool = True) -> bytes:
    """A logo: a white bar on a transparent (or an opaque black) background."""
    mode, background = ("RGBA", (0, 0, 0, 0)) if transparent else ("RGB", (0, 0, 0))
    image = Image.new(mode, (width, height), background)
    for x in range(width // 4, 3 * width // 4):
        for y in range(height // 4, 3 * height // 4):
            image.putpixel((x, y), (255, 255, 255, 255) if transparent else (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload(client: TestClient, logo_type: str, data: bytes, *, as_python_sdk: bool = True) -> str:
    forms = client.get(f"{V1}/themes/logos-upload-urls").json()
    [form] = [f for f in forms if f["fields"]["logoType"] == logo_type]
    fields = form["fields"]
    if as_python_sdk:  # requests.post(url, files={**fields, "file": ...}): every part a file
        files = {name: (name, value) for name, value in fields.items()}
        files["file"] = ("logo.png", data)
        response = client.post(form["url"], files=files, headers={"Authorization": ""})
    else:
        response = client.post(form["url"], data=fields, files={"file": ("logo.png", data)})
    assert (response.status_code, response.content) == (204, b""), response.text
    return fields["key"]


@pytest.fixture
def themed(client: TestClient) -> tuple[TestClient, str]:
    return client, make_theme(client)["theme_id"]


def test_logo_forms_have_the_live_shape(client: TestClient) -> None:
    forms = client.get(f"{V1}/themes/logos-upload-urls").json()
    live = fixture(FIXTURES, "list_logo_upload_urls.json")
    assert [sorted(f["fields"]) for f in forms] == [sorted(f["fields"]) for f in live]
    assert [f["fields"]["logoType"] for f in forms] == ["white", "colored", "favicon"]
    assert all(
        f["url"] == "http://testserver/_emulator/s3/roomservice-whitelabel-logos-prod"
        for f in forms
    )


def test_full_logo_round_trip(themed: tuple[TestClient, str]) -> None:
    client, theme_id = themed
    logos = {"white": png(200, 50), "colored": png(300, 80), "favicon": png(32, 32)}
    keys = [
        upload(client, kind, data, as_python_sdk=kind != "colored") for kind, data in logos.items()
    ]
    response = client.put(f"{V1}/themes/{theme_id}/finalizeLogos", json={"keys": keys})
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    theme = client.get(f"{V1}/themes/{theme_id}").json()
    for kind, field in (
        ("white", "brand_image_white"),
        ("colored", "brand_image_colored"),
        ("favicon", "branded_favicon"),
    ):
        key = theme[field]
        assert key.startswith(f"logos/{theme_id}/{kind}/")
        image = client.get(theme[f"{field}_url"])
        assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
        assert image.content == logos[kind]
    again = client.put(f"{V1}/themes/{theme_id}/finalizeLogos", json={"keys": [{"key": keys[0]}]})
    assert again.status_code == 400  # a temporary key is used up once finalized


@pytest.mark.parametrize(
    ("logo_type", "data", "problem"),
    [
        ("white", png(200, 50, transparent=False), "transparent_bg"),
        ("colored", png(600, 50), "dimensions"),
        ("favicon", png(64, 64), "dimensions"),
        ("white", b"GIF89a not a png", "type"),
        ("white", png(200, 50)[:-30], "type"),
    ],
)
def test_finalize_refuses_each_bad_logo(
    themed: tuple[TestClient, str], logo_type: str, data: bytes, problem: str
) -> None:
    client, theme_id = themed
    key = upload(client, logo_type, data)
    response = client.put(f"{V1}/themes/{theme_id}/finalizeLogos", json={"keys": [key]})
    assert response.status_code == 400
    body = response.json()
    assert (body["message"], body["name"], body["status"]) == (
        "could not finalize logos",
        "BadRequestError",
        400,
    )
    assert {"logoKey": key, "code": "invalid_logo_properties", "invalidProperty": problem} in body[
        "errors"
    ]
    assert client.get(f"{V1}/themes/{theme_id}").json()["brand_image_white"] is None


def test_finalize_refuses_an_oversized_logo(themed: tuple[TestClient, str]) -> None:
    client, theme_id = themed
    noisy = Image.frombytes("RGBA", (300, 300), bytes(range(256)) * (300 * 300 * 4 // 256 + 1))
    out = io.BytesIO()
    noisy.save(out, "PNG", compress_level=0)
    padded = out.getvalue() + b"\0" * (1024 * 1024)
    key = upload(client, "white", padded)
    body = client.put(f"{V1}/themes/{theme_id}/finalizeLogos", json={"keys": [key]}).json()
    assert {
        "logoKey": key,
        "code": "invalid_logo_properties",
        "invalidProperty": "exceeds_size",
    } in body["errors"]


def test_finalize_with_an_unknown_key(themed: tuple[TestClient, str]) -> None:
    client, theme_id = themed
    response = client.put(f"{V1}/themes/{theme_id}/finalizeLogos", json={"keys": ["not-a-key"]})
    assert (response.status_code, response.json()) == (
        400,
        fixture(FIXTURES, "logo_key_error.json"),
    )
    unknown = client.put(
        f"{V1}/themes/00000000-0000-4000-8000-000000000000/finalizeLogos", json={"keys": ["k"]}
    )
    assert unknown.status_code == 404


def test_s3_errors_are_xml(client: TestClient) -> None:
    forms = client.get(f"{V1}/themes/logos-upload-urls").json()
    form = forms[0]
    forged = {**form["fields"], "X-Amz-Signature": "0" * 64}
    cases = [
        ({"data": forged, "files": {"file": ("a.png", png(10, 10))}}, 403, "SignatureDoesNotMatch"),
        ({"data": form["fields"]}, 400, "InvalidArgument"),  # no file
        ({"content": b"", "headers": {"Authorization": "Bearer a.b.c"}}, 400, "InvalidArgument"),
    ]
    for kwargs, status, code in cases:
        response = client.post(form["url"], **kwargs)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/xml"
        root = ET.fromstring(response.content)
        assert root.tag == "Error"
        assert root.findtext("Code") == code
        assert root.findtext("Message")
    missing = client.get("/_emulator/logos/logos/nothing.png")
    assert missing.status_code == 404
    assert ET.fromstring(missing.content).findtext("Code") == "NoSuchKey"


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("main_color", "#fff\n", False),  # the published `$` is the end of the text
        ("main_color", "x#fff", True),  # Joi searched: the published pattern has no `^`
        ("short_company_url", "acme\n", False),
    ],
)
def test_theme_patterns_are_applied_as_the_live_api_did(
    client: TestClient, field: str, value: str, accepted: bool
) -> None:
    response = client.post(f"{V1}/themes", json={**THEME, field: value})
    assert response.status_code == (201 if accepted else 400)
    if accepted:
        assert response.json()[field] == value
