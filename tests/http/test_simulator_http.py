"""The simulator end to end over HTTP: people join and leave, recordings run, the clock moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.domain.isotime import format_iso

from ..conftest import BASIC, START, serving

V1 = "/v1/meetings"


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.Client]:
    with serving(app) as url, httpx.Client(base_url=url, headers={"Authorization": BASIC}) as c:
        yield c


def advance(client: httpx.Client | TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock", json={"advance_seconds": seconds}).status_code == 200


def join(client: httpx.Client | TestClient, room_id: str, name: str, **extra: Any) -> Any:
    response = client.post(f"/_emulator/rooms/{room_id}/participants", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def available(client: httpx.Client | TestClient, room_id: str) -> bool:
    return client.get(f"{V1}/rooms/{room_id}").json()["is_available"]


@pytest.mark.network
def test_instant_room_lives_while_used_and_ten_minutes_after(http: httpx.Client) -> None:
    room = http.post(f"{V1}/rooms", json={"display_name": "standup"}).json()
    advance(http, 9 * 60 + 59)
    guest = join(http, room["id"], "Avital")
    assert guest["state"] == "joined"
    assert guest["joined_at"] == format_iso(START + timedelta(minutes=9, seconds=59))
    advance(http, 3600)
    assert available(http, room["id"])

    assert (
        http.delete(
            f"/_emulator/rooms/{room['id']}/participants/{guest['participant_id']}"
        ).status_code
        == 204
    )
    meeting = http.get(f"/_emulator/rooms/{room['id']}/session").json()
    assert (meeting["session"], meeting["waiting"]) == (None, [])
    advance(http, 599)
    assert available(http, room["id"])
    advance(http, 1)
    after = http.get(f"{V1}/rooms/{room['id']}").json()
    assert after["is_available"] is False
    assert after["expires_at"] == format_iso(START + timedelta(minutes=79, seconds=59))
    refused = http.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Late"})
    assert refused.status_code == 409
    assert refused.json()["name"] == "ConflictError"


@pytest.mark.network
def test_long_term_room_expires_ten_minutes_after_use(http: httpx.Client) -> None:
    body = {
        "display_name": "weekly",
        "type": "long_term",
        "expires_at": format_iso(START + timedelta(days=7)),
        "expire_after_use": True,
    }
    room = http.post(f"{V1}/rooms", json=body).json()
    host = join(http, room["id"], "Host", is_host=True)
    advance(http, 1800)
    http.delete(f"/_emulator/rooms/{room['id']}/participants/{host['participant_id']}")
    advance(http, 599.999)
    assert available(http, room["id"])
    advance(http, 0.001)
    after = http.get(f"{V1}/rooms/{room['id']}").json()
    assert after["is_available"] is False
    assert after["expires_at"] == format_iso(START + timedelta(minutes=40))


@pytest.mark.network
def test_recording_from_start_to_downloaded_bytes(http: httpx.Client) -> None:
    room = http.post(f"{V1}/rooms", json={"display_name": "recorded"}).json()
    host = join(http, room["id"], "Host", is_host=True)
    started = http.post(
        f"/_emulator/sessions/{host['session_id']}/recordings",
        json={"participant_id": host["participant_id"]},
    )
    assert started.status_code == 201
    recording = started.json()
    assert recording["status"] == "started"
    assert recording["ended_at"] is None
    download = recording["_links"]["url"]["href"]
    assert download == f"{http.base_url}/_emulator/recordings/{recording['id']}/archive.mp4"
    not_yet = httpx.get(download)
    assert not_yet.status_code == 404

    advance(http, 38)
    stopped = http.post(f"/_emulator/recordings/{recording['id']}/stop").json()
    assert stopped["status"] == "stopped"
    assert stopped["ended_at"] == format_iso(START.replace(microsecond=0) + timedelta(seconds=38))
    premature = http.delete(f"{V1}/recordings/{recording['id']}")
    assert premature.status_code == 500
    assert premature.json()["name"] == "InternalServerError"

    advance(http, 5)
    fetched = http.get(f"{V1}/recordings/{recording['id']}").json()
    assert fetched["status"] == "uploaded"
    listed = http.get(f"/beta/meetings/sessions/{host['session_id']}/recordings").json()
    assert listed == {"_embedded": {"recordings": [fetched]}}
    media = httpx.get(fetched["_links"]["url"]["href"])  # no credentials, like a presigned URL
    assert media.status_code == 200
    assert media.headers["content-type"] == "video/mp4"
    assert media.content[4:8] == b"ftyp"

    assert http.delete(f"{V1}/recordings/{recording['id']}").status_code == 204
    gone = http.get(f"{V1}/recordings/{recording['id']}")
    assert (gone.status_code, gone.json()["message"]) == (
        404,
        f"Recording {recording['id']} was not found",
    )
    again = http.delete(f"{V1}/recordings/{recording['id']}")
    assert (again.status_code, again.json()) == (
        404,
        {"message": "Could not find recording", "name": "NotFoundError", "status": 404},
    )


def test_recording_shapes_match_the_live_fixtures(client: TestClient) -> None:
    from ..conftest import FIXTURES
    from ..shapes import fixture, shape

    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    host = join(client, room["id"], "Host", is_host=True)
    recording = client.post(f"/_emulator/sessions/{host['session_id']}/recordings").json()
    client.post(f"/_emulator/recordings/{recording['id']}/stop")
    advance(client, 5)
    ours = client.get(f"{V1}/recordings/{recording['id']}").json()
    assert shape(ours) == shape(fixture(FIXTURES, "get_recording.json"))
    assert list(ours) == list(fixture(FIXTURES, "get_recording.json"))
    listed = client.get(f"{V1}/sessions/{host['session_id']}/recordings").json()
    assert shape(listed) == shape(fixture(FIXTURES, "get_session_recordings.json"))
    missing = client.get(f"{V1}/sessions/not-a-real-session-id/recordings")
    assert (missing.status_code, missing.json()) == (
        404,
        fixture(FIXTURES, "get_session_recordings_not_found.json"),
    )
    unknown = client.get(f"{V1}/recordings/not-a-real-recording-id")
    assert (unknown.status_code, unknown.json()) == (
        404,
        fixture(FIXTURES, "get_recording_not_found.json"),
    )
    assert client.delete(f"{V1}/recordings/nope").json() == fixture(
        FIXTURES, "delete_recording_not_found.json"
    )


def test_waiting_room_over_the_control_plane(client: TestClient) -> None:
    room = client.post(
        f"{V1}/rooms", json={"display_name": "x", "join_approval_level": "explicit_approval"}
    ).json()
    host = join(client, room["id"], "Host", is_host=True)
    guest = join(client, room["id"], "Guest")
    assert (guest["state"], guest["waiting_for"], guest["session_id"]) == (
        "waiting",
        "approval",
        None,
    )
    meeting = client.get(f"/_emulator/rooms/{room['id']}/session").json()
    assert [p["name"] for p in meeting["session"]["participants"]] == ["Host"]
    assert [p["name"] for p in meeting["waiting"]] == ["Guest"]

    admitted = client.post(
        f"/_emulator/rooms/{room['id']}/participants/{guest['participant_id']}/admit"
    )
    assert admitted.status_code == 200
    assert admitted.json()["state"] == "joined"
    assert admitted.json()["session_id"] == host["session_id"]
    twice = client.post(
        f"/_emulator/rooms/{room['id']}/participants/{guest['participant_id']}/admit"
    )
    assert twice.status_code == 409


def test_record_only_owner_and_auto_record_over_the_control_plane(client: TestClient) -> None:
    room = client.post(
        f"{V1}/rooms",
        json={
            "display_name": "x",
            "recording_options": {"auto_record": True, "record_only_owner": True},
        },
    ).json()
    host = join(client, room["id"], "Host", is_host=True)
    guest = join(client, room["id"], "Guest")
    [auto] = client.get(f"{V1}/sessions/{host['session_id']}/recordings").json()["_embedded"][
        "recordings"
    ]
    assert auto["status"] == "started"
    refused = client.post(f"/_emulator/recordings/{auto['id']}/stop")
    assert refused.status_code == 409
    forbidden = client.post(
        f"/_emulator/sessions/{host['session_id']}/recordings",
        json={"participant_id": guest["participant_id"]},
    )
    assert (forbidden.status_code, forbidden.json()["name"]) == (403, "ForbiddenError")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '"name" is required'),
        ({"name": ""}, '"name" is not allowed to be empty'),
        ({"name": "A", "is_host": "yes"}, '"is_host" must be a boolean'),
        ({"name": "A", "role": "host"}, '"role" is not allowed'),
    ],
)
def test_join_bodies_are_checked(client: TestClient, body: dict[str, Any], message: str) -> None:
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    response = client.post(f"/_emulator/rooms/{room['id']}/participants", json=body)
    assert (response.status_code, response.json()) == (
        400,
        {"message": message, "name": "InputValidationError", "status": 400},
    )
