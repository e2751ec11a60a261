"""Callbacks over real HTTP: payloads, routing, headers, signatures, retries, order, the log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, Received, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.domain.models import Room, RoomSettings
from meetings_emulator.domain.outbox import CallbackConfig, Outbox
from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.tls import make_tls

from ..conftest import BASIC, START, serving
from ..sockets import listening
from .conftest import Receiver

pytestmark = pytest.mark.network

V1 = "/v1/meetings"
SECRET = "s3cret"


def emulator_app(receiver: Receiver, **settings: Any) -> Starlette:
    base = {
        "rooms_callback_url": receiver.at("rooms"),
        "sessions_callback_url": receiver.at("sessions"),
        "recordings_callback_url": receiver.at("recordings"),
        "callback_secret": SECRET,
        "public_url": "http://emulator.test:9010",
    }
    return create_app(
        Settings(**(base | settings)), clock=Clock.frozen_at(START), ids=Ids(11), run_timers=False
    )


@pytest.fixture
def client(receiver: Receiver) -> Iterator[TestClient]:
    with TestClient(emulator_app(receiver), headers={"Authorization": BASIC}) as test_client:
        yield test_client


def flush(client: TestClient) -> dict[str, Any]:
    result = client.post("/_emulator/callbacks/flush", json={"timeout": 10}).json()
    assert result["idle"] is True
    return result


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock", json={"advance_seconds": seconds}).status_code == 200


def join(client: TestClient, room_id: str, name: str, **extra: Any) -> Any:
    body = {"name": name, **extra}
    return client.post(f"/_emulator/rooms/{room_id}/participants", json=body).json()


def leave(client: TestClient, room_id: str, person: dict[str, Any]) -> None:
    client.delete(f"/_emulator/rooms/{room_id}/participants/{person['participant_id']}")


def test_every_event_is_posted_with_its_documented_fields(
    client: TestClient, receiver: Receiver
) -> None:
    room = client.post(
        f"{V1}/rooms", json={"display_name": "standup", "metadata": "team: blue / ünïcode"}
    ).json()
    host = join(client, room["id"], "Avital", is_host=True)
    session_id = host["session_id"]
    recording = client.post(
        f"/_emulator/sessions/{session_id}/recordings",
        json={"participant_id": host["participant_id"]},
    ).json()
    advance(client, 38)
    client.post(f"/_emulator/recordings/{recording['id']}/stop")
    advance(client, 2)
    leave(client, room["id"], host)
    advance(client, 5)  # the upload
    advance(client, 600)  # the empty room expires
    flush(client)

    got = {item.event: item for item in receiver.inbox.received}
    assert receiver.inbox.events == [
        "session:started",
        "session:participant:joined",
        "recording:started",
        "recording:ended",
        "session:participant:left",
        "session:ended",
        "recording:uploaded",
        "room:expired",
    ]
    t0 = START
    whole = START.replace(microsecond=0)
    participant = {
        "participant_id": host["participant_id"],
        "session_id": session_id,
        "room_id": room["id"],
        "name": "Avital",
        "type": "Guest",
        "is_host": True,
    }
    assert got["session:started"].payload == {
        "event": "session:started",
        "session_id": session_id,
        "room_id": room["id"],
        "started_at": format_iso(t0),
    }
    assert got["session:participant:joined"].payload == {
        "event": "session:participant:joined",
        **participant,
    }
    assert got["session:participant:left"].payload == {
        "event": "session:participant:left",
        **participant,
    }
    assert got["recording:started"].payload == {
        "event": "recording:started",
        "recording_id": recording["id"],
        "session_id": session_id,
    }
    span = {
        "started_at": format_iso(whole),
        "ended_at": format_iso(whole + timedelta(seconds=38)),
        "duration": 38,
    }
    assert got["recording:ended"].payload == {
        "event": "recording:ended",
        "recording_id": recording["id"],
        "session_id": session_id,
        **span,
    }
    assert got["session:ended"].payload == {
        "event": "session:ended",
        "session_id": session_id,
        "room_id": room["id"],
        "started_at": format_iso(t0),
        "ended_at": format_iso(t0 + timedelta(seconds=40)),
    }
    assert got["recording:uploaded"].payload == {
        "event": "recording:uploaded",
        "recording_id": recording["id"],
        "session_id": session_id,
        "room_id": room["id"],
        **span,
        "url": f"http://emulator.test:9010/_emulator/recordings/{recording['id']}/archive.mp4",
    }
    assert got["room:expired"].payload == {
        "event": "room:expired",
        "room_id": room["id"],
        "room_type": "instant",
        "expires_at": format_iso(t0 + timedelta(seconds=40 + 600)),
        "created_at": format_iso(t0),
    }

    paths = {item.event: item.path for item in receiver.inbox.received}
    assert paths["room:expired"] == "/rooms"
    assert {paths[e] for e in got if e.startswith("session:")} == {"/sessions"}
    assert {paths[e] for e in got if e.startswith("recording:")} == {"/recordings"}

    for item in receiver.inbox.received:
        headers = item.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "meetings-emulator/0.1.0"
        assert headers["x-meetings-event"] == item.event
        assert unquote(headers["x-meetings-room-metadata"]) == "team: blue / ünïcode"
        expected = hmac.new(SECRET.encode(), item.body, hashlib.sha256).hexdigest()
        assert headers["x-meetings-signature"] == f"sha256={expected}"
    ids = [item.headers["x-meetings-event-id"] for item in receiver.inbox.received]
    assert len(set(ids)) == len(ids)


def test_room_urls_override_the_application_kind_by_kind(
    client: TestClient, receiver: Receiver
) -> None:
    body = {
        "display_name": "own urls",
        "callback_urls": {"sessions_callback_url": receiver.at("mine/sessions")},
    }
    room = client.post(f"{V1}/rooms", json=body).json()
    person = join(client, room["id"], "A")
    leave(client, room["id"], person)
    advance(client, 600)
    flush(client)
    assert {(item.event, item.path) for item in receiver.inbox.received} == {
        ("session:started", "/mine/sessions"),
        ("session:participant:joined", "/mine/sessions"),
        ("session:participant:left", "/mine/sessions"),
        ("session:ended", "/mine/sessions"),
        ("room:expired", "/rooms"),
    }


def test_events_without_a_url_are_logged_as_undelivered(receiver: Receiver) -> None:
    app = emulator_app(receiver, rooms_callback_url=None)
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
        advance(client, 600)
        counts = flush(client)
        log = client.get("/_emulator/callbacks", params={"event": "room:expired"}).json()
    assert counts["undelivered"] == 1
    [entry] = log["deliveries"]
    assert (entry["status"], entry["url"], entry["attempts"]) == ("undelivered", None, [])
    assert entry["payload"]["room_id"] == room["id"]
    assert receiver.inbox.received == []


def test_receiver_failing_three_times_then_succeeding(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [500, 503, 429]
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    person = join(client, room["id"], "A")  # session:started, then joined: queued behind it
    flush(client)
    assert receiver.inbox.events == ["session:started"]  # the first failure holds the queue

    waits = []
    for _ in range(3):
        [head] = client.get("/_emulator/callbacks", params={"status": "retrying"}).json()[
            "deliveries"
        ]
        waits.append(head["next_attempt_at"])
        advance(client, 8)
        flush(client)
    assert receiver.inbox.events == [
        "session:started",
        "session:started",
        "session:started",
        "session:started",
        "session:participant:joined",
    ]
    ids = {item.headers["x-meetings-event-id"] for item in receiver.inbox.received[:4]}
    assert len(ids) == 1  # the same delivery, tried four times

    log = client.get("/_emulator/callbacks", params={"room_id": room["id"]}).json()
    first, second = log["deliveries"]
    assert first["event"] == "session:started"
    assert first["status"] == "delivered"
    assert [a["status_code"] for a in first["attempts"]] == [500, 503, 429, 204]
    assert all(a["latency_ms"] >= 0 and a["error"] is None for a in first["attempts"])
    assert second["status"] == "delivered"
    assert len(second["attempts"]) == 1
    # Each wait is the base delay (1 s) doubled per failure, less up to half of it as jitter.
    for failures, (attempt, wait) in enumerate(zip(first["attempts"], waits, strict=False), 1):
        gap = (parse_iso(wait) - parse_iso(attempt["at"])).total_seconds()
        assert 2 ** (failures - 1) / 2 <= gap <= 2 ** (failures - 1)
    leave(client, room["id"], person)


def test_a_receiver_down_for_the_whole_budget(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [500] * 8  # max_attempts is 8
    broken = client.post(f"{V1}/rooms", json={"display_name": "broken"}).json()
    join(client, broken["id"], "A")
    flush(client)
    assert receiver.inbox.events == ["session:started"]  # broken room's first try, 500

    for _ in range(9):
        advance(client, 70)
        flush(client)
    log = client.get("/_emulator/callbacks", params={"room_id": broken["id"]}).json()
    first, second = log["deliveries"]
    assert (first["status"], len(first["attempts"])) == ("failed", 8)
    assert second["status"] == "delivered"  # given up on the first, the next goes on, in order

    healthy = client.post(
        f"{V1}/rooms",
        json={
            "display_name": "other",
            "callback_urls": {"sessions_callback_url": receiver.at("b")},
        },
    ).json()
    join(client, healthy["id"], "B")
    flush(client)
    other = [i.event for i in receiver.inbox.received if i.path == "/b"]
    assert other == ["session:started", "session:participant:joined"]


def test_other_rooms_are_not_held_up_by_a_retrying_room(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [500]
    first = client.post(f"{V1}/rooms", json={"display_name": "first"}).json()
    join(client, first["id"], "A")  # its session:started fails and waits for the clock
    flush(client)
    second = client.post(f"{V1}/rooms", json={"display_name": "second"}).json()
    join(client, second["id"], "B")
    flush(client)
    by_room = [(i.payload["room_id"], i.event) for i in receiver.inbox.received]
    assert by_room == [
        (first["id"], "session:started"),
        (second["id"], "session:started"),
        (second["id"], "session:participant:joined"),
    ]


def test_client_errors_are_not_retried_but_408_is(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [404, 408]
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    join(client, room["id"], "A")
    flush(client)
    log = client.get("/_emulator/callbacks", params={"room_id": room["id"]}).json()["deliveries"]
    assert [(d["event"], d["status"]) for d in log] == [
        ("session:started", "failed"),
        ("session:participant:joined", "retrying"),
    ]
    assert [a["status_code"] for a in log[0]["attempts"]] == [404]


def first_delivery_of_a_join(receiver: Receiver, **settings: Any) -> dict[str, Any]:
    """The first callback logged when a participant joins a new room (a second follows)."""
    with TestClient(emulator_app(receiver, **settings), headers={"Authorization": BASIC}) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
        join(client, room["id"], "A")
        flush(client)
        [first, _] = client.get("/_emulator/callbacks").json()["deliveries"]
    return first


def test_unreachable_receiver_is_retried_with_the_error_logged(receiver: Receiver) -> None:
    entry = first_delivery_of_a_join(
        receiver, sessions_callback_url="http://127.0.0.1:9/unreachable"
    )
    assert entry["status"] == "retrying"
    [attempt] = entry["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("ConnectError")


def test_redeliver_sends_again_with_the_same_event_id(
    client: TestClient, receiver: Receiver
) -> None:
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    join(client, room["id"], "A")
    flush(client)
    first = client.get("/_emulator/callbacks").json()["deliveries"][0]
    response = client.post(f"/_emulator/callbacks/{first['id']}/redeliver")
    assert response.status_code == 202
    flush(client)
    assert receiver.inbox.events[-1] == "session:started"
    assert receiver.inbox.received[-1].headers["x-meetings-event-id"] == first["id"]
    assert receiver.inbox.received[-1].body == receiver.inbox.received[0].body
    missing = client.post("/_emulator/callbacks/nope/redeliver")
    assert (missing.status_code, missing.json()["message"]) == (404, "Callback nope was not found")


def test_api_calls_do_not_wait_for_a_slow_receiver(receiver: Receiver) -> None:
    release = threading.Event()
    arrived = Inbox()

    def slow(item: Received) -> int:
        arrived.add(item)
        release.wait(10)
        return 204

    with serving(create_receiver(respond=slow)) as slow_url:
        app = emulator_app(receiver, sessions_callback_url=slow_url + "/slow")
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
            join(client, room["id"], "A")
            arrived.wait_for(1)  # the receiver holds the first callback...
            for n in range(5):  # ...while the API keeps answering
                assert client.post(f"{V1}/rooms", json={"display_name": f"r{n}"}).status_code == 201
            busy = client.post("/_emulator/callbacks/flush", json={"timeout": 0.2}).json()
            assert busy["idle"] is False
            release.set()
            assert flush(client)["delivered"] == 2


def test_shutdown_tries_pending_callbacks_once_more_and_reports_the_rest(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers = [500]
    app = emulator_app(receiver, rooms_callback_url="http://127.0.0.1:9/never")
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
        join(client, room["id"], "A")  # fails once: retrying, waiting for the clock
        client.delete(f"{V1}/rooms/{room['id']}")  # room:expired to an unreachable URL
        flush(client)
        caplog.set_level(logging.WARNING, logger="meetings_emulator.callbacks")
    emulator = app.state.emulator
    statuses = {d.event: d.status for d in emulator.callbacks.deliveries()}
    assert statuses["session:started"] == "delivered"  # the last try at shutdown got through
    assert statuses["session:participant:joined"] == "delivered"
    assert statuses["room:expired"] == "failed"
    assert "shutting down with" not in caplog.text  # given up, not left behind


def test_shutdown_reports_what_it_could_not_send(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    hold = threading.Event()

    with serving(create_receiver(respond=lambda _i: hold.wait(5) and 204)) as stuck:
        app = emulator_app(receiver, sessions_callback_url=stuck + "/s", shutdown_grace=0.3)
        caplog.set_level(logging.WARNING, logger="meetings_emulator.callbacks")
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
            join(client, room["id"], "A")
        hold.set()
    assert "shutting down with 2 callback(s) not delivered" in caplog.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://x"}, '"url" must be null or a URL starting with http:// or https://'),
        ({"max_attempts": 0}, '"max_attempts" must be an integer from 1 to 20'),
        ({"base_delay": "1"}, '"base_delay" must be a number from 0 to 3600'),
        ({"colour": 1}, '"colour" is not allowed'),
    ],
)
def test_callback_config_is_checked(client: TestClient, body: dict[str, Any], message: str) -> None:
    response = client.put("/_emulator/callbacks/config", json=body)
    assert (response.status_code, response.json()["message"]) == (400, message)


def test_callback_config_changes_routing_at_run_time(
    client: TestClient, receiver: Receiver
) -> None:
    changed = client.put(
        "/_emulator/callbacks/config",
        json={"url": receiver.at("all"), "sessions_url": None, "secret": None},
    ).json()
    assert changed["url"] == receiver.at("all")
    assert changed["sessions_url"] is None
    assert changed["secret_set"] is False
    room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
    join(client, room["id"], "A")
    flush(client)
    assert {item.path for item in receiver.inbox.received} == {"/all"}
    assert all("x-meetings-signature" not in item.headers for item in receiver.inbox.received)
    client.post("/_emulator/reset")
    assert client.get("/_emulator/callbacks/config").json() == changed  # reset keeps it


def test_waiting_is_not_joining_no_callback(client: TestClient, receiver: Receiver) -> None:
    room = client.post(
        f"{V1}/rooms", json={"display_name": "x", "join_approval_level": "explicit_approval"}
    ).json()
    join(client, room["id"], "Guest")
    flush(client)
    assert receiver.inbox.received == []


@pytest.mark.parametrize("url", ["http://\u0013x", "http://a b", "http://", "https://a:99999/"])
def test_callback_urls_that_cannot_be_requested_are_refused(client: TestClient, url: str) -> None:
    body = {"display_name": "x", "callback_urls": {"sessions_callback_url": url}}
    response = client.post(f"{V1}/rooms", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == '"callback_urls.sessions_callback_url" must be a valid uri'
    config = client.put("/_emulator/callbacks/config", json={"url": url})
    assert config.status_code == 400


def test_a_send_that_raises_is_logged_as_a_failed_attempt(receiver: Receiver) -> None:
    import httpx

    def explode(_request: httpx.Request) -> httpx.Response:
        raise RuntimeError("transport broke")

    app = create_app(
        Settings(callback_url="http://receiver.test/cb"),
        clock=Clock.frozen_at(START),
        transport=httpx.MockTransport(explode),
    )
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
        join(client, room["id"], "A")
        flush(client)
        [first, _] = client.get("/_emulator/callbacks").json()["deliveries"]
    assert first["status"] == "retrying"
    assert first["attempts"][0]["error"] == "RuntimeError: transport broke"


def test_receiver_down_for_30_seconds_of_clock_time_then_up(
    client: TestClient, receiver: Receiver
) -> None:
    """Every event is delivered exactly once, in per-room order, once the receiver is back."""
    receiver.answers = [503] * 1000  # down
    rooms = [client.post(f"{V1}/rooms", json={"display_name": f"r{n}"}).json() for n in range(3)]
    people = [join(client, room["id"], "A") for room in rooms]
    for room, person in zip(rooms, people, strict=True):
        leave(client, room["id"], person)
    for _ in range(6):  # 30 s of clock time, in steps, while it is down
        advance(client, 5)
        flush(client)
    assert receiver.inbox.received  # it was tried...
    assert all(
        d["status"] != "delivered" for d in client.get("/_emulator/callbacks").json()["deliveries"]
    )

    receiver.answers = []  # up again
    down_calls = len(receiver.inbox.received)
    for _ in range(10):
        advance(client, 30)
        flush(client)
    delivered = receiver.inbox.received[down_calls:]
    log = client.get("/_emulator/callbacks").json()["deliveries"]
    failed = [d for d in log if d["status"] == "failed"]
    assert failed == []  # the budget (8 attempts, 1 s doubling) outlasts 30 s of clock time
    ids = [item.headers["x-meetings-event-id"] for item in delivered]
    assert len(ids) == len(set(ids)) == len(log) == 12  # each of the 12 events, once
    for room in rooms:
        events = [i.event for i in delivered if i.payload.get("room_id") == room["id"]]
        assert events == [
            "session:started",
            "session:participant:joined",
            "session:participant:left",
            "session:ended",
        ]


def test_one_app_can_run_in_one_loop_after_another(receiver: Receiver) -> None:
    app = emulator_app(receiver)
    for name in ("first", "second"):
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": name}).json()
            join(client, room["id"], "A")
            flush(client)
    assert receiver.inbox.events.count("session:started") == 2


# -- the network: kept connections, slow and broken receivers, https -------------------


def counting_receiver(inbox: Inbox, ports: list[int], delay: float = 0.0) -> Starlette:
    """A receiver that also notes each callback's client port: one port, one connection."""

    async def receive(request: Request) -> Response:
        if delay:
            await asyncio.sleep(delay)
        assert request.client is not None
        ports.append(request.client.port)
        inbox.add(Received(request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def test_callbacks_to_one_receiver_reuse_a_connection(receiver: Receiver) -> None:
    inbox, ports = Inbox(), []
    with serving(counting_receiver(inbox, ports)) as url:
        app = emulator_app(receiver, sessions_callback_url=url + "/s", rooms_callback_url=url)
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
            for n in range(5):
                leave(client, room["id"], join(client, room["id"], f"P{n}"))
                flush(client)
    assert len(inbox.received) == 5 * 4  # started, joined, left, ended per meeting
    assert len(set(ports)) == 1


def test_a_burst_from_many_rooms_arrives_once_each_in_room_order(receiver: Receiver) -> None:
    inbox, ports = Inbox(), []
    with serving(counting_receiver(inbox, ports, delay=0.001)) as url:
        app = emulator_app(receiver, sessions_callback_url=url)
        emulator = app.state.emulator
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            rooms = [emulator.rooms.create(RoomSettings(display_name=f"r{n}")) for n in range(150)]
            for room in rooms:  # two callbacks a room, queued together
                emulator.sessions.join(room.id, "A")
            counts = flush(client)
    assert counts["delivered"] == 300
    ids = [item.headers["x-meetings-event-id"] for item in inbox.received]
    assert len(ids) == len(set(ids)) == 300
    for room in rooms:
        events = [i.event for i in inbox.received if i.payload["room_id"] == room.id]
        assert events == ["session:started", "session:participant:joined"]
    assert len(set(ports)) <= 32  # at most MAX_PARALLEL at once, each connection kept


def test_a_receiver_too_slow_for_the_timeout_is_retried(receiver: Receiver) -> None:
    inbox, ports = Inbox(), []
    with serving(counting_receiver(inbox, ports, delay=2)) as url:
        first = first_delivery_of_a_join(receiver, sessions_callback_url=url, callback_timeout=0.2)
    assert first["status"] == "retrying"
    [attempt] = first["attempts"]
    assert (attempt["status_code"], attempt["error"]) == (None, "timed out after 0.2 s")
    assert attempt["latency_ms"] >= 200


def test_a_receiver_answering_garbage_is_a_failed_attempt(receiver: Receiver) -> None:
    def answer_garbage(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"this is not HTTP\r\n\r\n")

    with listening(answer_garbage, threading.Event()) as port:
        first = first_delivery_of_a_join(
            receiver, sessions_callback_url=f"http://127.0.0.1:{port}/cb"
        )
    assert first["status"] == "retrying"
    assert first["attempts"][0]["error"].startswith("RemoteProtocolError: malformed answer")


def test_https_callbacks_trust_the_cas_named_by_ssl_cert_file(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_tls("127.0.0.1", tmp_path)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(tls.ca_pem)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    inbox = Inbox()
    with serving(create_receiver(inbox=inbox), tls=tls) as url:
        assert url.startswith("https://")
        app = emulator_app(receiver, sessions_callback_url=url + "/secure")
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
            join(client, room["id"], "A")
            assert flush(client)["delivered"] == 2
    assert inbox.events == ["session:started", "session:participant:joined"]
    assert {item.path for item in inbox.received} == {"/secure"}


def test_a_proxy_named_by_the_environment_is_used_unless_no_proxy_exempts_the_host(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    proxied = Inbox()
    with serving(create_receiver(inbox=proxied)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        # hooks.test resolves nowhere: only the proxy can take its callbacks.
        app = emulator_app(receiver, sessions_callback_url="http://hooks.test/cb")
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
            join(client, room["id"], "A")
            client.delete(f"{V1}/rooms/{room['id']}")  # room:expired, to 127.0.0.1 directly
            assert flush(client)["delivered"] == 3
    assert proxied.events == ["session:started", "session:participant:joined"]
    assert {(item.path, item.headers["host"]) for item in proxied.received} == {
        ("/cb", "hooks.test")
    }
    assert receiver.inbox.events == ["room:expired"]


# -- the log of events with no URL -----------------------------------------------------


def expire_rooms(emulator: Emulator, count: int, **settings: Any) -> list[Room]:
    rooms = [
        emulator.rooms.create(RoomSettings(display_name=f"r{n}", **settings)) for n in range(count)
    ]
    emulator.advance(timedelta(minutes=10, seconds=1))
    return rooms


def test_undelivered_entries_read_in_full_and_the_same_every_time() -> None:
    emulator = Emulator(Settings(), clock=Clock.frozen_at(START))
    rooms = expire_rooms(emulator, 3, metadata="team: blue / ünïcode")
    entries = emulator.callbacks.deliveries()
    assert [(e.event, e.room_id, e.status, e.url) for e in entries] == [
        ("room:expired", room.id, "undelivered", None) for room in rooms
    ]
    first = entries[0]
    assert first.payload == {
        "event": "room:expired",
        "room_id": rooms[0].id,
        "room_type": "instant",
        "expires_at": format_iso(START + timedelta(minutes=10)),
        "created_at": format_iso(START),
    }
    assert first.headers == {
        "Content-Type": "application/json",
        "User-Agent": "meetings-emulator/0.1.0",
        "X-Meetings-Event-Id": first.id,
        "X-Meetings-Event": "room:expired",
        "X-Meetings-Room-Metadata": "team%3A%20blue%20%2F%20%C3%BCn%C3%AFcode",
    }
    assert (first.body, first.attempts, first.finished_at) == (
        b"",
        [],
        START + timedelta(minutes=10),
    )
    ids = [entry.id for entry in emulator.callbacks.deliveries()]
    assert ids == [entry.id for entry in entries]  # stable once read
    assert len(set(ids)) == 3
    assert all(emulator.callbacks.delivery(i) is e for i, e in zip(ids, entries, strict=True))
    assert emulator.callbacks.delivery("nope") is None


def test_reading_the_log_or_not_leaves_a_seeded_sequence_the_same() -> None:
    read, unread = (Emulator(Settings(), clock=Clock.frozen_at(START), ids=Ids(7)) for _ in "ab")
    expire_rooms(read, 4)
    expire_rooms(unread, 4)
    read_ids = [entry.id for entry in read.callbacks.deliveries()]
    after = [e.rooms.create(RoomSettings(display_name="next")).id for e in (read, unread)]
    assert after[0] == after[1]
    # An id known ahead (a replay of the same seed) finds its entry before it is read.
    assert unread.callbacks.delivery(read_ids[2]) is unread.callbacks.deliveries()[2]
    assert [entry.id for entry in unread.callbacks.deliveries()] == read_ids


def test_the_log_keeps_its_order_and_its_limit_with_undelivered_entries() -> None:
    emulator = Emulator(Settings(), clock=Clock.frozen_at(START))
    log = Outbox(
        emulator.clock, emulator.ids, emulator.timers, CallbackConfig(), "http://x", keep=5
    )
    emulator.events.subscribe(log.record)
    rooms = expire_rooms(emulator, 4)
    early_id = log.deliveries()[0].id  # read before it is forgotten
    rooms += expire_rooms(emulator, 4)
    assert [entry.room_id for entry in log.deliveries()] == [room.id for room in rooms[3:]]
    assert log.delivery(early_id) is None
    assert log.counts()["undelivered"] == 5
