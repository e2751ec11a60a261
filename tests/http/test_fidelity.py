"""Behaviours that follow what the live service was captured answering (docs/fidelity.md).

Each test names the capture (in tests/fixtures/live/) that shows the behaviour, and checks
the emulator against it as a caller would see it: status, body and headers.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ..conftest import FIXTURES, app_emulator
from ..shapes import fixture

V1 = "/v1/meetings"


def claims(host_url: str) -> dict[str, Any]:
    token = parse_qs(urlsplit(host_url).query)["participant_token"][0]
    return jwt.decode(token, options={"verify_signature": False})


def query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def rooms_of(page: dict[str, Any]) -> list[dict[str, Any]]:
    embedded = page["_embedded"]
    return embedded if isinstance(embedded, list) else embedded["rooms"]


# -- listings: multiple_rooms.json, 5 rooms captured at page_size=20 ----------------------


def test_a_listing_reads_as_the_live_capture_of_a_short_last_page(client: TestClient) -> None:
    live = fixture(FIXTURES, "multiple_rooms.json")
    live_rooms = rooms_of(live)
    assert (live["page_size"], len(live_rooms)) == (20, 5)  # what the capture shows
    assert set(live["_links"]) == {"first", "self", "prev", "next"}
    assert "start_id" in query(live["_links"]["self"]["href"])

    for n in range(5):
        client.post(f"{V1}/rooms", json={"display_name": f"room {n}"})
    page = client.get(f"{V1}/rooms", params={"page_size": 20}).json()
    assert (page["page_size"], len(page["_embedded"])) == (20, 5)  # as asked, not as held
    assert set(page["_links"]) == set(live["_links"])
    assert query(page["_links"]["self"]["href"]) == {"page_size": ["20"], "start_id": ["1"]}
    assert query(page["_links"]["next"]["href"]) == {"page_size": ["20"], "start_id": ["6"]}
    assert query(page["_links"]["prev"]["href"]) == {"page_size": ["20"], "end_id": ["1"]}
    # Following `next` ends: the page past the last room is empty and links no further.
    after = client.get(page["_links"]["next"]["href"]).json()
    assert (after["page_size"], after["_embedded"], "next" in after["_links"]) == (20, [], False)


# -- expires_at: what the live validator took, answered as long_term_room.json shows -------


def test_a_dotnet_style_expiry_is_taken_and_answered_in_the_captured_form(
    client: TestClient,
) -> None:
    captured = fixture(FIXTURES, "long_term_room.json")["expires_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", captured)
    body = {"display_name": "x", "type": "long_term", "expires_at": "2026-05-01 10:00:00"}
    created = client.post(f"{V1}/rooms", json=body)
    assert (created.status_code, created.json()["expires_at"]) == (201, "2026-05-01T10:00:00.000Z")


# -- themes: none is `[]` (list_themes.json is an array; the Java and .NET SDKs read one) ---


def test_no_themes_is_an_empty_array(client: TestClient) -> None:
    assert isinstance(fixture(FIXTURES, "list_themes.json"), list)
    response = client.get(f"{V1}/themes")
    assert (response.status_code, response.json()) == (200, [])


# -- PATCH /applications: update_application_theme_id_not_found.json ----------------------


def test_an_unknown_default_theme_is_the_captured_bad_request(client: TestClient) -> None:
    live = fixture(FIXTURES, "update_application_theme_id_not_found.json")
    for theme_id in ("not-a-real-theme-id", "00000000-0000-4000-8000-000000000000"):
        answer = client.patch(
            f"{V1}/applications", json={"update_details": {"default_theme_id": theme_id}}
        )
        expected = json.loads(json.dumps(live).replace("not-a-real-theme-id", theme_id))
        assert (answer.status_code, answer.json()) == (400, expected)
    assert live["name"] == "BadRequestError"


# -- sessions and recordings ----------------------------------------------------------------


def test_a_session_without_recordings_is_the_captured_404(client: TestClient) -> None:
    live = fixture(FIXTURES, "get_session_recordings_not_found.json")
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    guest = client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "G"}).json()
    session_id = guest["session_id"]
    answer = client.get(f"{V1}/sessions/{session_id}/recordings")
    expected = {**live, "message": f"Failed to find session recordings by id: {session_id}"}
    assert live["message"].startswith("Failed to find session recordings by id: ")
    assert (answer.status_code, answer.json()) == (404, expected)


def test_deleting_a_recording_before_upload_is_the_bare_live_500(client: TestClient) -> None:
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    guest = client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "G"}).json()
    recording = client.post(f"/_emulator/sessions/{guest['session_id']}/recordings").json()
    answer = client.delete(f"{V1}/recordings/{recording['id']}")
    assert (answer.status_code, answer.json()) == (
        500,
        {"message": "Internal Server Error", "name": "InternalServerError", "status": 500},
    )
    assert client.get(f"{V1}/recordings/{recording['id']}").status_code == 200


def test_a_recording_pauses_and_resumes_through_the_control_plane(
    app: Starlette, client: TestClient
) -> None:
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    guest = client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "G"}).json()
    made = client.post(f"/_emulator/sessions/{guest['session_id']}/recordings").json()
    live = fixture(FIXTURES, "get_recording.json")
    emulator = app_emulator(app)
    emulator.advance(timedelta(seconds=10))
    paused = client.post(f"/_emulator/recordings/{made['id']}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert set(paused.json()) == set(live)
    assert client.get(f"{V1}/recordings/{made['id']}").json()["status"] == "paused"
    again = client.post(f"/_emulator/recordings/{made['id']}/pause")
    assert (again.status_code, again.json()["message"]) == (
        409,
        f"Recording {made['id']} is paused, not started",
    )
    emulator.advance(timedelta(seconds=30))
    resumed = client.post(f"/_emulator/recordings/{made['id']}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "started")
    emulator.advance(timedelta(seconds=5))
    stopped = client.post(f"/_emulator/recordings/{made['id']}/stop").json()
    assert stopped["status"] == "stopped"
    # The recording:ended callback's duration leaves the 30 paused seconds out.
    [ended] = [e for e in emulator.events if e.name == "recording:ended"]
    assert ended.recording.duration == 15
    unknown = client.post("/_emulator/recordings/nope/resume")
    assert unknown.status_code == 404


# -- the host token: meeting_room.json and multiple_rooms.json, room b3142c46 --------------


def test_each_read_issues_a_fresh_host_token_as_live_did(
    app: Starlette, client: TestClient
) -> None:
    def captured(name: str) -> dict[str, Any]:
        page = fixture(FIXTURES, name)
        rooms = [page] if "id" in page else rooms_of(page)
        [room] = [r for r in rooms if r["id"].startswith("b3142c46")]
        return claims(room["_links"]["host_url"]["href"])

    # The live service: one room read twice, 42,447 s apart; same participant, new `iat`.
    first, second = captured("meeting_room.json"), captured("multiple_rooms.json")
    assert first["participantId"] == second["participantId"]
    assert second["iat"] - first["iat"] == 42_447

    emulator = app_emulator(app)
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    made = claims(room["_links"]["host_url"]["href"])
    emulator.advance(timedelta(seconds=42_447))
    read = client.get(f"{V1}/rooms/{room['id']}").json()
    listed = client.get(f"{V1}/rooms").json()["_embedded"][0]
    for later in (
        claims(read["_links"]["host_url"]["href"]),
        claims(listed["_links"]["host_url"]["href"]),
    ):
        assert later["participantId"] == made["participantId"]
        assert later["iat"] - made["iat"] == 42_447
        assert later["iat"] == int(emulator.clock.now().timestamp())
    # Within one second of emulator time, a read shows the same token again.
    assert client.get(f"{V1}/rooms/{room['id']}").json() == read
    # Every token issued still opens the meeting page as the host.
    for url in (room["_links"]["host_url"]["href"], read["_links"]["host_url"]["href"]):
        token = query(url)["participant_token"][0]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["alg"] == "HS256"
        assert emulator.ids.read_participant_token(token) is not None


# -- headers and paths ---------------------------------------------------------------------


def test_json_answers_carry_the_charset_express_sent(client: TestClient) -> None:
    answers = [
        client.post(f"{V1}/rooms", json={"display_name": "x"}),  # 201
        client.get(f"{V1}/rooms/not-a-room"),  # a domain 404
        client.get(f"{V1}/no-such-path"),  # a routing 404
        client.post(f"{V1}/rooms", json={}),  # 400
        client.get(f"{V1}/rooms", headers={"Authorization": ""}),  # 401
        client.get("/_emulator/health"),  # the control plane
    ]
    assert {a.headers["content-type"] for a in answers} == {"application/json; charset=utf-8"}


def test_a_fixed_path_answers_405_for_a_method_it_does_not_serve(client: TestClient) -> None:
    for prefix in (V1, "/beta/meetings"):
        answer = client.patch(f"{prefix}/themes/logos-upload-urls", json={})
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
        assert answer.json() == {
            "message": f"Method PATCH is not allowed on {prefix}/themes/logos-upload-urls",
            "name": "MethodNotAllowedError",
            "status": 405,
        }
    # A theme id in the same place is still a theme id.
    missing = client.patch(f"{V1}/themes/another-id", json={"update_details": {}})
    assert missing.status_code in (400, 404)
