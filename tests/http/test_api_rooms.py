"""The rooms endpoints as a caller sees them: statuses, bodies, headers, links."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.isotime import format_iso

from ..conftest import FIXTURES, START, app_emulator
from ..shapes import fixture, shape

V1 = "/v1/meetings"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def create(client: TestClient, body: dict[str, Any] | None = None, prefix: str = V1) -> Any:
    response = client.post(f"{prefix}/rooms", json=body or {"display_name": "my_test_room"})
    assert response.status_code == 201, response.text
    return response.json()


def long_term_body(expires_in: timedelta, **extra: Any) -> dict[str, Any]:
    return {
        "display_name": "test_long_term_room",
        "type": "long_term",
        "expires_at": format_iso(START + expires_in),
        **extra,
    }


# -- shapes and values -------------------------------------------------------------------


def test_created_instant_room_has_the_live_shape_and_defaults(client: TestClient) -> None:
    response = client.post(f"{V1}/rooms", json={"display_name": "my_test_room"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    room = response.json()
    live = fixture(FIXTURES, "meeting_room.json")
    assert shape(room) == shape(live)
    assert list(room) == list(live)
    for key in (
        "metadata",
        "type",
        "recording_options",
        "is_available",
        "expire_after_use",
        "theme_id",
        "initial_join_options",
        "join_approval_level",
        "ui_settings",
        "available_features",
    ):
        assert room[key] == live[key], key
    assert room["created_at"] == format_iso(START) == "2026-03-02T09:30:00.125Z"
    assert room["expires_at"] == "2026-03-02T09:40:00.125Z"
    assert "callback_urls" not in room


def test_long_term_room_matches_its_fixture_and_echoes_expiry(client: TestClient) -> None:
    room = create(client, long_term_body(timedelta(days=5)))
    live = fixture(FIXTURES, "long_term_room.json")
    ours, theirs = shape(room), shape(live)
    # The 2023 fixture predates `is_captions_available`; everything it has, we have alike.
    assert ours["available_features"].pop("is_captions_available") == "bool"
    assert ours == theirs
    assert room["type"] == "long_term"
    assert room["expires_at"] == format_iso(START + timedelta(days=5))


def test_links_carry_meeting_code_and_a_signed_participant_token(client: TestClient) -> None:
    room = create(client)
    code = room["meeting_code"]
    assert re.fullmatch(r"[1-9][0-9]{8}", code)
    assert room["_links"]["guest_url"]["href"] == f"https://meetings.vonage.com/{code}"
    host = urlsplit(room["_links"]["host_url"]["href"])
    assert (host.scheme, host.netloc, host.path) == ("https", "meetings.vonage.com", "/")
    query = parse_qs(host.query)
    assert query["room_token"] == [code]
    token = query["participant_token"][0]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert re.fullmatch(r"[0-9a-f-]{36}", header["kid"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"participantId", "iat"}
    assert claims["iat"] == int(START.timestamp())


def test_base_url_setting_changes_the_links() -> None:
    from meetings_emulator.app import create_app
    from meetings_emulator.domain.settings import Settings

    from ..conftest import BASIC

    app = create_app(Settings(base_url="http://localhost:9010/meet/"))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        room = create(client)
    assert room["_links"]["guest_url"]["href"] == (
        f"http://localhost:9010/meet/{room['meeting_code']}"
    )


def test_every_optional_field_is_stored_and_returned(client: TestClient) -> None:
    body = long_term_body(
        timedelta(days=30),
        metadata="team: blue",
        expire_after_use=True,
        recording_options={"auto_record": True, "record_only_owner": True},
        join_approval_level="explicit_approval",
        initial_join_options={"microphone_state": "off"},
        callback_urls={
            "rooms_callback_url": "https://example.com/rooms",
            "sessions_callback_url": "http://example.com/sessions",
        },
        available_features={"is_chat_available": False, "is_captions_available": True},
        ui_settings={"language": "PT-BR"},
    )
    room = create(client, body)
    assert room["metadata"] == "team: blue"
    assert room["expire_after_use"] is True
    assert room["recording_options"] == {"auto_record": True, "record_only_owner": True}
    assert room["join_approval_level"] == "explicit_approval"
    assert room["initial_join_options"] == {"microphone_state": "off"}
    assert room["callback_urls"] == body["callback_urls"]
    assert room["available_features"] == {
        "is_recording_available": True,
        "is_chat_available": False,
        "is_whiteboard_available": True,
        "is_locale_switcher_available": False,
        "is_captions_available": True,
    }
    assert room["ui_settings"] == {"language": "pt-br"}


def test_get_returns_the_created_room_under_either_prefix(client: TestClient) -> None:
    room = create(client, prefix="/beta/meetings")
    for prefix in (V1, "/beta/meetings"):
        response = client.get(f"{prefix}/rooms/{room['id']}")
        assert response.status_code == 200
        assert response.json() == room


# -- listing -----------------------------------------------------------------------------


def test_listing_pages_follow_absolute_next_links_until_the_last(client: TestClient) -> None:
    made = [create(client, {"display_name": f"room {n}"})["id"] for n in range(7)]
    url: str | None = f"http://testserver{V1}/rooms?page_size=3"
    seen, counts, sizes = [], [], []
    while url:
        page = client.get(url).json()
        assert page["total_items"] == 7
        sizes.append(page["page_size"])
        counts.append(len(page["_embedded"]))
        seen += [room["id"] for room in page["_embedded"]]
        links = page["_links"]
        assert links["first"] == {"href": f"http://testserver{V1}/rooms?page_size=3"}
        url = links.get("next", {}).get("href")
    assert seen == made
    # As the live service: `page_size` echoes the request, and the last page with rooms
    # still points past its last room, to an empty page with no `next`.
    assert sizes == [3, 3, 3, 3]
    assert counts == [3, 3, 1, 0]


def test_listing_page_shape_matches_the_fixture(client: TestClient) -> None:
    for n in range(3):
        create(client, {"display_name": f"room {n}"})
    page = client.get(f"{V1}/rooms", params={"page_size": 1, "start_id": 2}).json()
    live = fixture(FIXTURES, "multiple_rooms.json")
    assert set(page) == set(live)
    assert set(page["_links"]) == set(live["_links"]) == {"first", "self", "prev", "next"}
    assert shape(page["_embedded"][0]) == shape(fixture(FIXTURES, "meeting_room.json"))
    base = f"http://testserver{V1}/rooms"
    assert page["_links"] == {
        "first": {"href": f"{base}?page_size=1"},
        "self": {"href": f"{base}?page_size=1&start_id=2"},
        "prev": {"href": f"{base}?page_size=1&start_id=1&end_id=2"},
        "next": {"href": f"{base}?page_size=1&start_id=3"},
    }
    assert (page["page_size"], page["total_items"]) == (1, 3)


def test_listing_honours_end_id_and_default_page_size(client: TestClient) -> None:
    for n in range(25):
        create(client, {"display_name": f"room {n}"})
    page = client.get(f"{V1}/rooms").json()
    assert page["page_size"] == 20
    assert page["_links"]["next"]["href"].endswith("page_size=20&start_id=21")
    bounded = client.get(f"{V1}/rooms/", params={"start_id": 3, "end_id": 6}).json()
    assert [room["display_name"] for room in bounded["_embedded"]] == ["room 2", "room 3", "room 4"]
    # Past the last room in range, `next` leads to an empty page, which has none.
    assert bounded["_links"]["next"]["href"].endswith("page_size=20&start_id=6&end_id=6")
    after = client.get(bounded["_links"]["next"]["href"]).json()
    assert (after["_embedded"], "next" in after["_links"]) == ([], False)


def test_empty_listing(client: TestClient) -> None:
    page = client.get(f"{V1}/rooms").json()
    assert page == {
        "page_size": 20,
        "total_items": 0,
        "_embedded": [],
        "_links": {
            "first": {"href": f"http://testserver{V1}/rooms?page_size=20"},
            "self": {"href": f"http://testserver{V1}/rooms?page_size=20"},
        },
    }


# -- updates and deletion ----------------------------------------------------------------


def test_update_long_term_room(client: TestClient) -> None:
    room = create(client, long_term_body(timedelta(days=1)))
    new_expiry = format_iso(START + timedelta(days=2))
    response = client.patch(
        f"{V1}/rooms/{room['id']}",
        json={
            "update_details": {
                "expires_at": new_expiry,
                "available_features": {"is_recording_available": False},
                "join_approval_level": "after_owner_only",
            }
        },
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["expires_at"] == new_expiry
    assert updated["available_features"]["is_recording_available"] is False
    assert updated["join_approval_level"] == "after_owner_only"
    assert client.get(f"{V1}/rooms/{room['id']}").json() == updated


def test_update_errors_match_the_live_bodies(client: TestClient) -> None:
    instant = create(client)
    long_term = create(client, long_term_body(timedelta(days=1)))

    no_keys = client.patch(f"{V1}/rooms/{long_term['id']}", json={"update_details": {}})
    assert (no_keys.status_code, no_keys.json()) == (400, fixture(FIXTURES, "update_no_keys.json"))

    by_type = client.patch(
        f"{V1}/rooms/{instant['id']}", json={"update_details": {"expire_after_use": True}}
    )
    expected = fixture(FIXTURES, "update_room_type_error.json")
    expected["message"] = expected["message"].replace(
        "b3142c46-d1c1-4405-baa6-85683827ed69", instant["id"]
    )
    assert (by_type.status_code, by_type.json()) == (400, expected)


def test_update_with_the_node_sdk_key_is_refused_naming_it(client: TestClient) -> None:
    room = create(client, long_term_body(timedelta(days=1)))
    response = client.patch(
        f"{V1}/rooms/{room['id']}", json={"update_options": {"expire_after_use": True}}
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": '"update_options" is not allowed. "update_details" is required',
        "name": "InputValidationError",
        "status": 400,
        "errors": ['"update_options" is not allowed', '"update_details" is required'],
    }


def test_update_of_unknown_or_unavailable_room_is_404(client: TestClient, app: Starlette) -> None:
    unknown = client.patch(
        f"{V1}/rooms/00000000-0000-4000-8000-000000000000",
        json={"update_details": {"expire_after_use": True}},
    )
    assert unknown.status_code == 404
    assert unknown.json() == {
        "message": "Room 00000000-0000-4000-8000-000000000000 was not found",
        "name": "NotFoundError",
        "status": 404,
    }
    room = create(client, long_term_body(timedelta(minutes=11)))
    app_emulator(app).advance(timedelta(minutes=11))
    expired = client.patch(
        f"{V1}/rooms/{room['id']}", json={"update_details": {"expire_after_use": True}}
    )
    assert expired.status_code == 404
    assert expired.json()["message"] == f"Room {room['id']} is not available: it has expired"


def test_delete_leaves_a_readable_unavailable_room(client: TestClient) -> None:
    room = create(client)
    response = client.delete(f"/beta/meetings/rooms/{room['id']}")
    assert (response.status_code, response.content) == (204, b"")
    after = client.get(f"{V1}/rooms/{room['id']}").json()
    assert after["is_available"] is False
    assert {**after, "is_available": True} == room
    assert client.delete(f"{V1}/rooms/{room['id']}").status_code == 204
    assert client.delete(f"{V1}/rooms/not-a-room").status_code == 404


# -- expiry through the control plane ----------------------------------------------------


def test_instant_room_expires_at_ten_minutes_when_the_clock_is_moved(client: TestClient) -> None:
    room = create(client)
    moved = client.post("/_emulator/clock", json={"advance_seconds": 599.999})
    assert moved.json() == {"now": "2026-03-02T09:40:00.124Z", "frozen": True}
    assert client.get(f"{V1}/rooms/{room['id']}").json()["is_available"] is True
    client.post("/_emulator/clock", json={"advance_seconds": 0.001})
    assert client.get(f"{V1}/rooms/{room['id']}").json()["is_available"] is False


def test_clock_can_be_set_forward_but_not_back(client: TestClient) -> None:
    room = create(client, long_term_body(timedelta(hours=1)))
    later = format_iso(START + timedelta(hours=1))
    assert client.post("/_emulator/clock", json={"now": later}).json() == {
        "now": later,
        "frozen": True,
    }
    assert client.get(f"{V1}/rooms/{room['id']}").json()["is_available"] is False
    back = client.post("/_emulator/clock", json={"now": format_iso(START)})
    assert back.status_code == 400
    assert back.json()["message"] == '"now" is refused: the clock only moves forward'
    assert client.get("/_emulator/clock").json()["now"] == later


def test_room_limit_is_403_with_a_body() -> None:
    from meetings_emulator.app import create_app
    from meetings_emulator.domain.settings import Settings

    from ..conftest import BASIC

    app = create_app(Settings(max_rooms=2), clock=Clock.frozen_at(START))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        create(client)
        create(client)
        refused = client.post(f"{V1}/rooms", json={"display_name": "third"})
    assert refused.status_code == 403
    assert refused.json() == {
        "message": "Maximum number of rooms for owner (2) exceeded",
        "name": "ForbiddenError",
        "status": 403,
    }


def test_health_needs_no_credentials(app: Starlette) -> None:
    with TestClient(app) as anonymous:
        response = anonymous.get("/_emulator/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "0.1.0",
        "now": "2026-03-02T09:30:00.125Z",
        "rooms": 0,
        "available_rooms": 0,
        "callbacks_dropped": 0,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"advance_seconds": -1}, '"advance_seconds" must be a number from 0 to 316224000'),
        ({"advance_seconds": "60"}, '"advance_seconds" must be a number from 0 to 316224000'),
        ({"now": "noon"}, '"now" must be a valid date'),
        ({"frozen": "yes"}, '"frozen" must be a boolean'),
        ({"speed": 2}, '"speed" is not allowed'),
        (
            {"now": "2027-01-01T00:00:00Z", "advance_seconds": 1},
            '"now" and "advance_seconds" cannot be used together',
        ),
    ],
)
def test_clock_moves_are_checked(client: TestClient, body: dict[str, Any], message: str) -> None:
    response = client.post("/_emulator/clock", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message, "name": "InputValidationError", "status": 400}
    assert client.get("/_emulator/clock").json() == {"now": format_iso(START), "frozen": True}


def test_clock_can_be_released_and_frozen_again(client: TestClient) -> None:
    running = client.post("/_emulator/clock", json={"frozen": False}).json()
    assert running["frozen"] is False
    frozen = client.post("/_emulator/clock", json={"frozen": True, "advance_seconds": 60}).json()
    assert frozen["frozen"] is True
    assert frozen["now"] >= format_iso(START + timedelta(seconds=60))
    assert client.get("/_emulator/clock").json() == frozen


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], '"value" must be of type object'),
        ({"seed": "x"}, '"seed" must be an integer'),
        ({"everything": True}, '"everything" is not allowed'),
    ],
)
def test_reset_bodies_are_checked(client: TestClient, body: Any, message: str) -> None:
    create(client)
    response = client.post("/_emulator/reset", json=body)
    assert (response.status_code, response.json()["message"]) == (400, message)
    assert client.get(f"{V1}/rooms").json()["total_items"] == 1
    assert client.post("/_emulator/reset").status_code == 204
    assert client.get(f"{V1}/rooms").json()["total_items"] == 0


def test_the_contract_is_served(client: TestClient) -> None:
    import yaml

    as_yaml = client.get("/_emulator/openapi.yaml")
    assert as_yaml.headers["content-type"] == "application/yaml"
    document = yaml.safe_load(as_yaml.text)
    assert document["openapi"].startswith("3.1")
    as_json = client.get("/_emulator/openapi.json")
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert as_json.json() == document
    page = client.get("/_emulator/docs")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<code>/v1/meetings/rooms/{room_id}</code>" in page.text
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no outside assets
