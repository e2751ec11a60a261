"""The dashboard without a browser: its page and assets, the state stream, the meeting page."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.settings import Settings
from meetings_emulator.ui import dashboard, event_stream

from ..conftest import BASIC, START, app_emulator, free_port

STATIC = Path(dashboard.__file__).with_name("static")
ROOMS = "/v1/meetings/rooms"


@pytest.fixture(autouse=True)
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep-alive comments often, so a reader waiting for a snapshot can keep its deadline."""
    monkeypatch.setattr(event_stream, "KEEPALIVE_SECONDS", 0.2)


@pytest.fixture
def local_app() -> Starlette:
    return create_app(Settings(seed=1, local_links=True), clock=Clock.frozen_at(START), ids=Ids(1))


@pytest.fixture
def local_client(local_app: Starlette) -> Iterator[TestClient]:
    with TestClient(local_app, headers={"Authorization": BASIC}) as test_client:
        yield test_client


class Stream:
    """Server-sent events from an iterator of lines, with a deadline on each read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.comments: list[str] = []
        self.retry: int | None = None

    def next(self, kind: str = "state", timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        event, data = "message", []
        for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("retry:"):
                self.retry = int(line.partition(":")[2])
            elif line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data.append(line.partition(":")[2].strip())
            elif line == "" and data:
                if event == kind:
                    return json.loads("\n".join(data))
                event, data = "message", []
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no {kind!r} event within {timeout} s")

    def until(self, condition: Any, timeout: float = 5.0) -> Any:
        """The first snapshot for which `condition(snapshot)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.next(timeout=max(0.1, deadline - time.monotonic()))
            if condition(snapshot):
                return snapshot


def room_of(snapshot: dict[str, Any], room_id: str) -> dict[str, Any]:
    return next(room for room in snapshot["rooms"] if room["id"] == room_id)


def names(people: list[dict[str, Any]]) -> list[str]:
    return [person["name"] for person in people]


# -- the page and its assets --------------------------------------------------------------


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


# An address elsewhere: absolute, or protocol-relative in markup, CSS or an import.
EXTERNAL = re.compile(
    r"""https?://|(?:src|href)\s*=\s*["']?//|url\(\s*["']?//|import\s*\(?\s*["']//""",
    re.IGNORECASE,
)


def test_the_dashboard_page_and_every_asset_are_served_with_nothing_from_elsewhere(
    client: TestClient,
) -> None:
    page = client.get("/_emulator/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy

    parser = Assets()
    parser.feed(page.text)
    local = [url for url in parser.urls if url.startswith("/")]
    assert all(url.startswith(("/", "data:", "#")) for url in parser.urls), parser.urls
    assert "/_emulator/static/dashboard.js" in local
    assert "/_emulator/static/emulator.css" in local

    # Every asset, and every module the scripts import, is served by the emulator.
    to_fetch = ["/_emulator/static/" + path.name for path in STATIC.iterdir()]
    fetched: dict[str, str] = {}
    while to_fetch:
        path = to_fetch.pop()
        if path in fetched:
            continue
        answer = client.get(path)
        assert answer.status_code == 200, path
        expected = "text/javascript" if path.endswith(".js") else "text/css"
        assert answer.headers["content-type"].startswith(expected), path
        fetched[path] = answer.text
        for module in re.findall(r'from\s+"(\./[^"]+)"', answer.text):
            to_fetch.append("/_emulator/static/" + module[2:])
    assert {"/_emulator/static/dom.js", "/_emulator/static/meet.js"} <= set(fetched)
    for path, text in {**fetched, "/_emulator/ui": page.text}.items():
        assert not EXTERNAL.findall(text), path
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert risky not in text, (path, risky)


@pytest.mark.parametrize(
    "path",
    [
        "/_emulator/static/nothing.js",
        "/_emulator/static/..%2Fdashboard.py",
        "/_emulator/static/dashboard.py",
        "/_emulator/static/.hidden.js",
    ],
)
def test_only_the_static_files_are_served(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["name"] == "NotFoundError"


# -- the state stream, in process ---------------------------------------------------------


def test_the_stream_gives_a_snapshot_on_connect_and_another_after_a_join(
    client: TestClient,
) -> None:
    room = client.post(ROOMS, json={"display_name": "Standup"}).json()
    with client.stream("GET", "/_emulator/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = Stream(response.iter_lines())
        first = stream.next()
        assert stream.retry == event_stream.RETRY_MILLISECONDS
        assert first["now"] == "2026-03-02T09:30:00.125Z"
        assert first["frozen"] is True
        shown = room_of(first, room["id"])
        assert shown["meeting_code"] == room["meeting_code"]
        assert shown["type"] == "instant"
        assert shown["is_available"] is True
        assert shown["expires_at"] == room["expires_at"]
        assert shown["session"] is None
        assert shown["waiting"] == []
        assert shown["recordings"] == []

        joined = client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Ann"})
        assert joined.status_code == 201
        second = stream.next()
        assert second["version"] != first["version"]
        session = room_of(second, room["id"])["session"]
        assert names(session["participants"]) == ["Ann"]
        assert session["participants"][0]["state"] == "joined"
        assert room_of(second, room["id"])["expiry_held"] is True
        assert [d["event"] for d in second["deliveries"]] == [
            "session:participant:joined",
            "session:started",
        ]
        delivery = second["deliveries"][0]
        assert delivery["payload"]["name"] == "Ann"
        assert delivery["status"] == "undelivered"
        assert delivery["attempts"] == []

        # Nothing changes: only keep-alive comments, no new snapshot.
        stream.comments.clear()
        with pytest.raises(AssertionError, match="no 'state' event"):
            stream.next(timeout=0.6)
        assert ": keep-alive" in stream.comments


def test_the_stream_shows_waiting_admission_recordings_and_the_clock(client: TestClient) -> None:
    body = {"display_name": "Gated", "join_approval_level": "explicit_approval"}
    room = client.post(ROOMS, json=body).json()
    people = f"/_emulator/rooms/{room['id']}/participants"
    with client.stream("GET", "/_emulator/events") as response:
        stream = Stream(response.iter_lines())
        stream.next()
        host = client.post(people, json={"name": "Hana", "is_host": True}).json()
        guest = client.post(people, json={"name": "Gil"}).json()
        shown = room_of(stream.until(lambda s: room_of(s, room["id"])["waiting"]), room["id"])
        assert names(shown["waiting"]) == ["Gil"]
        assert shown["waiting"][0]["waiting_for"] == "approval"

        client.post(f"{people}/{guest['participant_id']}/admit")
        shown = room_of(stream.until(lambda s: not room_of(s, room["id"])["waiting"]), room["id"])
        assert names(shown["session"]["participants"]) == ["Hana", "Gil"]

        started = client.post(
            f"/_emulator/sessions/{host['session_id']}/recordings",
            json={"participant_id": host["participant_id"]},
        ).json()
        stream.until(lambda s: room_of(s, room["id"])["recordings"])
        client.post(f"/_emulator/recordings/{started['id']}/stop")
        before = stream.until(
            lambda s: room_of(s, room["id"])["recordings"][0]["status"] == "stopped"
        )

        # A clock move is a change even though no event comes with it (the upload does).
        client.post("/_emulator/clock", json={"advance_seconds": 60})
        after = stream.until(lambda s: s["now"] != before["now"])
        assert after["now"] == "2026-03-02T09:31:00.125Z"
        recording = room_of(after, room["id"])["recordings"][0]
        assert recording["status"] == "uploaded"
        assert recording["_links"]["url"]["href"] == (
            f"/_emulator/recordings/{started['id']}/archive.mp4"
        )
        assert client.get(recording["_links"]["url"]["href"]).status_code == 200


def test_a_running_clock_is_no_change_but_a_jump_is(app: Starlette) -> None:
    emulator = app_emulator(app)
    emulator.clock.release()
    with TestClient(app) as test_client, test_client.stream("GET", "/_emulator/events") as response:
        stream = Stream(response.iter_lines())
        first = stream.next()
        assert first["frozen"] is False
        with pytest.raises(AssertionError):
            stream.next(timeout=0.7)  # the time runs on, and nothing is sent for it
        test_client.post("/_emulator/clock", json={"advance_seconds": 600})
        moved = stream.next()
        gap = (emulator_time(moved["now"]) - emulator_time(first["now"])).total_seconds()
        assert 600 <= gap < 610


def emulator_time(text: str) -> Any:
    from meetings_emulator.domain.isotime import parse_iso

    return parse_iso(text)


def test_a_delivery_that_progresses_is_a_change_too() -> None:
    """Callback deliveries settle without any event: the stream notices by itself."""
    answers = [503, 200]

    def receive(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0) if answers else 200)

    app = create_app(
        Settings(seed=3, callback_url="http://receiver.test/cb", callback_base_delay=5),
        clock=Clock.frozen_at(START),
        ids=Ids(3),
        transport=httpx.MockTransport(receive),
    )
    with TestClient(app, headers={"Authorization": BASIC}) as test_client:
        room = test_client.post(ROOMS, json={"display_name": "Hooks"}).json()
        with test_client.stream("GET", "/_emulator/events") as response:
            stream = Stream(response.iter_lines())
            stream.next()
            test_client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "A"})
            retrying = stream.until(
                lambda s: any(d["status"] == "retrying" for d in s["deliveries"])
            )
            failed_once = next(d for d in retrying["deliveries"] if d["status"] == "retrying")
            assert failed_once["attempts"][0]["status_code"] == 503
            assert failed_once["next_attempt_at"] is not None
            test_client.post("/_emulator/clock", json={"advance_seconds": 10})
            done = stream.until(
                lambda s: (
                    all(d["status"] == "delivered" for d in s["deliveries"])
                    and len(s["deliveries"]) == 2
                )
            )
            retried = next(d for d in done["deliveries"] if d["id"] == failed_once["id"])
            assert [a["status_code"] for a in retried["attempts"]] == [503, 200]
            assert done["counts"]["callbacks"]["delivered"] == 2


def test_the_stream_narrowed_to_one_room(client: TestClient) -> None:
    mine = client.post(ROOMS, json={"display_name": "Mine"}).json()
    client.post(ROOMS, json={"display_name": "Other"})
    with client.stream("GET", f"/_emulator/events?room_id={mine['id']}") as response:
        snapshot = Stream(response.iter_lines()).next()
    assert [room["id"] for room in snapshot["rooms"]] == [mine["id"]]
    assert snapshot["room_id"] == mine["id"]
    assert snapshot["deliveries"] == []

    unknown = client.get("/_emulator/events?room_id=nope")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "message": "Room nope was not found",
        "name": "NotFoundError",
        "status": 404,
    }
    odd = client.get("/_emulator/events?rooms=all")
    assert odd.status_code == 400
    assert odd.json()["message"] == '"rooms" is not allowed'
    head = client.head("/_emulator/events")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")


def test_the_stream_follows_a_reset(client: TestClient, app: Starlette) -> None:
    client.post(ROOMS, json={"display_name": "Before"})
    with client.stream("GET", "/_emulator/events") as response:
        stream = Stream(response.iter_lines())
        assert names_of_rooms(stream.next()) == ["Before"]
        client.post("/_emulator/reset", json={})
        assert names_of_rooms(stream.next()) == []
        room = client.post(ROOMS, json={"display_name": "After"}).json()
        stream.until(lambda s: names_of_rooms(s) == ["After"])
        # Events of the new state still wake the stream at once.
        hub = app.state.dashboard_hub
        changes = hub.changes
        client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Z"})
        assert hub.changes > changes
        stream.until(lambda s: s["rooms"][0]["session"] is not None)


def names_of_rooms(snapshot: dict[str, Any]) -> list[str]:
    return [room["display_name"] for room in snapshot["rooms"]]


def test_a_stream_ends_when_its_client_goes(client: TestClient, app: Starlette) -> None:
    with client.stream("GET", "/_emulator/events") as response:
        Stream(response.iter_lines()).next()
        hub = app.state.dashboard_hub
        assert hub.streams == 1
    deadline = time.monotonic() + 5
    while hub.streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.streams == 0


def test_a_snapshot_holds_the_latest_rooms_and_deliveries_only(app: Starlette) -> None:
    emulator = app_emulator(app)
    created = [emulator.rooms.create(RoomSettings(f"room {n}")) for n in range(230)]
    for room in created[-110:]:
        emulator.sessions.join(room.id, "P")  # two events each
    state = dashboard.build_state(emulator)
    assert len(state["rooms"]) == dashboard.MAX_ROOMS
    assert state["rooms"][0]["display_name"] == "room 229"
    assert state["rooms"][-1]["display_name"] == "room 30"
    assert state["counts"]["rooms"] == 230
    assert state["counts"]["shown_rooms"] == dashboard.MAX_ROOMS
    assert len(state["deliveries"]) == dashboard.MAX_DELIVERIES
    assert state["deliveries"][0]["room_id"] == created[-1].id  # newest first


# -- the state stream over a real server --------------------------------------------------


class Server:
    """uvicorn in a thread, so a test can watch it stop."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            assert time.monotonic() < deadline, "uvicorn did not start in time"
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10) -> float:
        """Ask the server to stop; return how long it took."""
        began = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout)
        return time.monotonic() - began

    def __exit__(self, *_: object) -> None:
        if self.thread.is_alive():
            self.server.force_exit = True
            self.stop()


@pytest.mark.network
def test_over_a_real_server_the_stream_ends_when_the_client_goes(app: Starlette) -> None:
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        room = http.post(ROOMS, json={"display_name": "Live"}, headers={"Authorization": BASIC})
        with http.stream("GET", "/_emulator/events") as response:
            stream = Stream(response.iter_lines())
            assert names_of_rooms(stream.next()) == ["Live"]
            http.post(f"/_emulator/rooms/{room.json()['id']}/participants", json={"name": "Ann"})
            stream.until(lambda s: s["rooms"][0]["session"] is not None)
            hub = app.state.dashboard_hub
            assert hub.streams == 1
        deadline = time.monotonic() + 5
        while hub.streams and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.streams == 0
        assert server.stop() < 5
        assert not server.thread.is_alive()


@pytest.mark.network
def test_over_a_real_server_shutdown_ends_an_open_stream(app: Starlette) -> None:
    """uvicorn waits for open responses before it stops: the stream must end by itself."""
    seen: list[str] = []
    connected = threading.Event()

    def listen(url: str) -> None:
        with httpx.stream("GET", url + "/_emulator/events", timeout=10) as response:
            for line in response.iter_lines():
                seen.append(line)
                if line.startswith("data:"):
                    connected.set()

    with Server(app) as server:
        listener = threading.Thread(target=listen, args=(server.url,), daemon=True)
        listener.start()
        assert connected.wait(5)
        took = server.stop()
        listener.join(5)
        assert not server.thread.is_alive(), "the server did not stop with a stream open"
        assert took < 3
        assert not listener.is_alive(), "the stream did not end"
        assert "event: closing" in seen
        assert app.state.dashboard_hub.streams == 0


# -- the local meeting page ---------------------------------------------------------------


class Body(HTMLParser):
    """The `data-*` attributes of a page's body."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.data = {k[5:]: v or "" for k, v in attrs if k.startswith("data-")}
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def page_data(client: TestClient, url: str) -> dict[str, str]:
    parts = urlsplit(url)
    answer = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    parser = Body()
    parser.feed(answer.text)
    return parser.data


def test_a_guest_joins_through_the_guest_url(
    local_client: TestClient, local_app: Starlette
) -> None:
    room = local_client.post(ROOMS, json={"display_name": "Standup"}).json()
    guest_url = room["_links"]["guest_url"]["href"]
    assert guest_url == f"http://127.0.0.1:9010/meet/{room['meeting_code']}"
    data = page_data(local_client, guest_url)
    assert data["room-id"] == room["id"]
    assert data["meeting-code"] == room["meeting_code"]
    assert data["display-name"] == "Standup"
    assert data["host"] == "false"
    assert data["token"] == "none"
    assert data["available"] == "true"

    joined = local_client.post(
        f"/_emulator/meet/{room['meeting_code']}/participants", json={"name": "Gil"}
    )
    assert joined.status_code == 201
    person = joined.json()
    assert person["name"] == "Gil"
    assert person["is_host"] is False
    assert person["state"] == "joined"
    assert person["room_id"] == room["id"]
    events = [event.name for event in app_emulator(local_app).events]
    assert events == ["session:started", "session:participant:joined"]

    # Leaving is the control plane's: the same operation, the same callbacks.
    gone = local_client.delete(
        f"/_emulator/rooms/{room['id']}/participants/{person['participant_id']}"
    )
    assert gone.status_code == 204
    assert [event.name for event in app_emulator(local_app).events][-2:] == [
        "session:participant:left",
        "session:ended",
    ]


def test_the_host_url_is_recognised_by_its_participant_token(
    local_client: TestClient, local_app: Starlette
) -> None:
    body = {"display_name": "Gated", "join_approval_level": "after_owner_only"}
    room = local_client.post(ROOMS, json=body).json()
    host_url = room["_links"]["host_url"]["href"]
    query = dict(part.split("=", 1) for part in urlsplit(host_url).query.split("&"))
    assert query["room_token"] == room["meeting_code"]
    data = page_data(local_client, host_url)
    assert data["host"] == "true"
    assert data["token"] == "host"
    assert data["participant-token"] == query["participant_token"]

    code = room["meeting_code"]
    guest = local_client.post(f"/_emulator/meet/{code}/participants", json={"name": "Gil"}).json()
    assert guest["state"] == "waiting"
    assert guest["waiting_for"] == "host"
    host = local_client.post(
        f"/_emulator/meet/{code}/participants",
        json={"name": "Hana", "participant_token": query["participant_token"]},
    ).json()
    assert host["is_host"] is True
    assert host["state"] == "joined"
    meeting = local_client.get(f"/_emulator/rooms/{room['id']}/session").json()
    assert [(p["name"], p["is_host"]) for p in meeting["session"]["participants"]] == [
        ("Hana", True),
        ("Gil", False),
    ]
    joined = [e for e in app_emulator(local_app).events if e.name == "session:participant:joined"]
    assert [e.participant.is_host for e in joined] == [True, False]


def forged_tokens(local_app: Starlette, room: dict[str, Any], other: dict[str, Any]) -> list[str]:
    emulator = app_emulator(local_app)
    real = jwt.decode(
        urlsplit(room["_links"]["host_url"]["href"]).query.split("participant_token=")[1],
        options={"verify_signature": False},
    )
    kid = emulator.ids.token_key_id
    other_token = urlsplit(other["_links"]["host_url"]["href"]).query.split("participant_token=")[1]
    header, _payload, signature = other_token.split(".")
    swapped = base64.urlsafe_b64encode(json.dumps(real).encode()).decode().rstrip("=")
    return [
        # the right claims, signed with a key of the caller's own
        jwt.encode(real, "not-the-emulator-s-key-" * 2, algorithm="HS256", headers={"kid": kid}),
        # another room's genuine host token
        other_token,
        # another room's token with this room's claims pasted in
        f"{header}.{swapped}.{signature}",
        # no signature at all
        jwt.encode(real, None, algorithm="none", headers={"kid": kid}),
        "not a token",
    ]


def test_a_forged_or_foreign_token_is_not_a_host(
    local_client: TestClient, local_app: Starlette
) -> None:
    room = local_client.post(ROOMS, json={"display_name": "Target"}).json()
    other = local_client.post(ROOMS, json={"display_name": "Other"}).json()
    code = room["meeting_code"]
    for number, token in enumerate(forged_tokens(local_app, room, other)):
        data = page_data(local_client, f"/meet/?room_token={code}&participant_token={token}")
        assert data["host"] == "false", token
        assert data["token"] == "rejected", token
        assert data["participant-token"] == ""
        joined = local_client.post(
            f"/_emulator/meet/{code}/participants",
            json={"name": f"Mallory {number}", "participant_token": token},
        )
        assert joined.status_code == 201
        assert joined.json()["is_host"] is False, token


def test_an_unknown_meeting_code_answers_404_with_the_api_error_body(
    local_client: TestClient,
) -> None:
    for path in ("/meet/123456789", "/meet/?room_token=123456789&participant_token=x"):
        answer = local_client.get(path)
        assert answer.status_code == 404
        assert answer.json() == {
            "message": "Meeting 123456789 was not found",
            "name": "NotFoundError",
            "status": 404,
        }
    joined = local_client.post("/_emulator/meet/123456789/participants", json={"name": "X"})
    assert joined.status_code == 404
    assert joined.json()["message"] == "Meeting 123456789 was not found"
    bare = local_client.get("/meet/")
    assert bare.status_code == 404
    assert bare.json()["name"] == "NotFoundError"


def test_joining_through_a_link_checks_the_body(local_client: TestClient) -> None:
    room = local_client.post(ROOMS, json={"display_name": "Checks"}).json()
    path = f"/_emulator/meet/{room['meeting_code']}/participants"
    cases = {
        '"name" is required': {},
        '"extra" is not allowed': {"name": "A", "extra": 1},
        '"participant_token" must be a string': {"name": "A", "participant_token": 5},
    }
    for message, body in cases.items():
        answer = local_client.post(path, json=body)
        assert answer.status_code == 400
        assert answer.json()["name"] == "InputValidationError"
        assert answer.json()["message"] == message


def test_an_expired_room_shows_its_page_but_nobody_can_join(
    local_client: TestClient, local_app: Starlette
) -> None:
    room = local_client.post(ROOMS, json={"display_name": "Soon gone"}).json()
    app_emulator(local_app).advance(timedelta(minutes=11))
    data = page_data(local_client, room["_links"]["guest_url"]["href"])
    assert data["available"] == "false"
    joined = local_client.post(
        f"/_emulator/meet/{room['meeting_code']}/participants", json={"name": "Late"}
    )
    assert joined.status_code == 409
    assert joined.json()["name"] == "ConflictError"


def test_names_are_escaped_in_the_meeting_page(local_client: TestClient) -> None:
    name = '<script>alert("x")</script> & "quotes"'
    room = local_client.post(ROOMS, json={"display_name": name}).json()
    answer = local_client.get(f"/meet/{room['meeting_code']}")
    assert "<script>alert" not in answer.text
    parser = Body()
    parser.feed(answer.text)
    assert parser.data["display-name"] == name
    assert parser.title == f"{name} · meeting"
