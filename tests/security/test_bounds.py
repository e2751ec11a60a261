"""What grew without bound: rooms kept forever once gone, meeting codes found by scanning
every room, caller records kept across resets, and an event stream's reader that never
reads. Each is bounded now, and the bound is what a user sees."""

from __future__ import annotations

import gc
import json
import socket
import statistics
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from meetings_emulator.domain.auth import Principal
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START, make_app, serving

V1 = "/v1/meetings"
HOUR = 3600


@pytest.fixture
def retained() -> Iterator[TestClient]:
    """An emulator that keeps gone rooms for one hour of its time."""
    with TestClient(make_app(room_retention=HOUR), headers={"Authorization": BASIC}) as client:
        yield client


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock", json={"advance_seconds": seconds}).status_code == 200


def long_term(client: TestClient, name: str) -> dict[str, Any]:
    expires_at = (START + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    body = {"display_name": name, "type": "long_term", "expires_at": expires_at}
    room: dict[str, Any] = client.post(f"{V1}/rooms", json=body).json()
    return room


# -- rooms gone for longer than the retention -----------------------------------------------------


def test_a_deleted_room_is_forgotten_once_the_retention_has_passed(retained: TestClient) -> None:
    client = retained
    kept, deleted, other = (long_term(client, name) for name in ("kept", "deleted", "other"))
    assert client.delete(f"{V1}/rooms/{deleted['id']}").status_code == 204

    advance(client, HOUR - 1)
    gone = client.get(f"{V1}/rooms/{deleted['id']}")
    assert (gone.status_code, gone.json()["is_available"]) == (200, False)

    advance(client, 2)
    unknown = "0b4c7e2a-5f1d-4c8e-9a3b-6d2f1e0c9b8a"
    assert client.get(f"{V1}/rooms/{deleted['id']}").json() == {
        **client.get(f"{V1}/rooms/{unknown}").json(),
        "message": f"Room {deleted['id']} was not found",
    }
    assert client.get(f"{V1}/rooms/{deleted['id']}").status_code == 404
    listing = client.get(f"{V1}/rooms").json()
    assert [room["id"] for room in listing["_embedded"]] == [kept["id"], other["id"]]
    assert listing["total_items"] == 2
    assert client.get("/_emulator/health").json()["rooms"] == 2
    assert client.delete(f"{V1}/rooms/{deleted['id']}").status_code == 404


def test_expired_instant_rooms_go_one_retention_after_they_expire(retained: TestClient) -> None:
    client = retained
    rooms = [client.post(f"{V1}/rooms", json={"display_name": f"r{n}"}).json() for n in range(3)]
    advance(client, 600)  # expired
    assert all(client.get(f"{V1}/rooms/{r['id']}").status_code == 200 for r in rooms)
    code = rooms[0]["meeting_code"]
    assert client.get(f"/meet/{code}").status_code == 200  # the page says it has expired
    advance(client, HOUR)
    assert all(client.get(f"{V1}/rooms/{r['id']}").status_code == 404 for r in rooms)
    assert client.get(f"{V1}/rooms").json()["total_items"] == 0
    assert client.get(f"/meet/{code}").status_code == 404
    later = client.post(f"{V1}/rooms", json={"display_name": "later"}).json()
    listing = client.get(f"{V1}/rooms").json()
    assert [room["id"] for room in listing["_embedded"]] == [later["id"]]
    assert listing["total_items"] == 1


def test_a_theme_lists_no_forgotten_room(retained: TestClient) -> None:
    client = retained
    theme = client.post(f"{V1}/themes", json={"main_color": "#fff", "brand_text": "T"}).json()
    room = client.post(
        f"{V1}/rooms", json={"display_name": "themed", "theme_id": theme["theme_id"]}
    ).json()
    listed = client.get(f"{V1}/themes/{theme['theme_id']}/rooms").json()
    assert listed["total_items"] == 1
    advance(client, 600 + HOUR)
    assert client.get(f"{V1}/rooms/{room['id']}").status_code == 404
    listed = client.get(f"{V1}/themes/{theme['theme_id']}/rooms").json()
    assert listed["total_items"] == 0


def test_a_gone_room_whose_meeting_goes_on_is_kept_until_it_is_over(
    retained: TestClient,
) -> None:
    client = retained
    room = long_term(client, "busy")
    people = f"/_emulator/rooms/{room['id']}/participants"
    host = client.post(people, json={"name": "Ada", "is_host": True}).json()
    session = client.get(f"/_emulator/rooms/{room['id']}/session").json()["session"]
    recording = client.post(
        f"/_emulator/sessions/{session['session_id']}/recordings",
        json={"participant_id": host["participant_id"]},
    ).json()
    assert client.delete(f"{V1}/rooms/{room['id']}").status_code == 204  # the meeting goes on

    advance(client, HOUR + 1)
    assert client.get(f"{V1}/rooms/{room['id']}").status_code == 200
    assert client.delete(f"{people}/{host['participant_id']}").status_code == 204  # can leave
    advance(client, HOUR + 1)
    assert client.get(f"{V1}/rooms/{room['id']}").status_code == 404
    # Its session and recording go with it, each answering as an unknown one does.
    gone = client.get(f"{V1}/recordings/{recording['id']}")
    assert (gone.status_code, gone.json()["message"]) == (
        404,
        f"Recording {recording['id']} was not found",
    )
    listed = client.get(f"{V1}/sessions/{session['session_id']}/recordings")
    assert listed.status_code == 404
    saved = client.get("/_emulator/snapshot").json()
    assert saved["sessions"]["sessions"] == []
    assert saved["sessions"]["recordings"] == []
    assert client.put("/_emulator/snapshot", json=saved).status_code == 204
    assert client.get(f"{V1}/rooms/{room['id']}").status_code == 404


def test_gone_rooms_restored_from_a_snapshot_are_forgotten_in_their_turn(
    retained: TestClient,
) -> None:
    client = retained
    kept = long_term(client, "kept")
    gone = client.post(f"{V1}/rooms", json={"display_name": "gone"}).json()
    advance(client, 600)  # the instant room expired
    saved = client.get("/_emulator/snapshot").json()
    assert client.post("/_emulator/reset").status_code == 204
    assert client.put("/_emulator/snapshot", json=saved).status_code == 204
    assert client.get(f"{V1}/rooms/{gone['id']}").status_code == 200
    advance(client, HOUR)
    assert client.get(f"{V1}/rooms/{gone['id']}").status_code == 404
    assert [r["id"] for r in client.get(f"{V1}/rooms").json()["_embedded"]] == [kept["id"]]


def test_by_default_gone_rooms_are_kept_one_day() -> None:
    with TestClient(make_app(), headers={"Authorization": BASIC}) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "x"}).json()
        advance(client, 600 + 86_400 - 1)
        assert client.get(f"{V1}/rooms/{room['id']}").status_code == 200
        advance(client, 1)
        assert client.get(f"{V1}/rooms/{room['id']}").status_code == 404


def test_rooms_expiring_in_bulk_are_forgotten_in_bulk_without_delay() -> None:
    emulator = Emulator(
        Settings(max_rooms=100_000, room_retention=HOUR), clock=Clock.frozen_at(START), ids=Ids(4)
    )
    for n in range(50_000):
        emulator.rooms.create(RoomSettings(display_name=f"r{n}"))
    emulator.advance(timedelta(minutes=10))
    started = time.perf_counter()
    emulator.advance(timedelta(seconds=HOUR))
    took = time.perf_counter() - started
    assert len(emulator.rooms) == 0
    assert emulator.rooms.page(None, None, 100).total_items == 0
    assert took < 2.0, f"forgetting 50,000 rooms took {took:.2f} s"


# -- meeting codes --------------------------------------------------------------------------------


def median_lookup(client: TestClient, code: str) -> float:
    times = []
    for _ in range(40):
        started = time.perf_counter()
        assert client.get(f"/meet/{code}").status_code == 200
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_a_meeting_page_costs_the_same_among_64000_rooms_as_among_one() -> None:
    """/meet/<code> scanned every room ever made: 20 ms a page at 64,000 rooms."""
    few, many = (make_app(max_rooms=100_000) for _ in range(2))
    for app, count in ((few, 1), (many, 64_000)):
        rooms = app.state.emulator.rooms
        for n in range(count):
            rooms.create(RoomSettings(display_name=f"r{n}"))
    with TestClient(few) as small, TestClient(many) as large:
        first_code = few.state.emulator.rooms.all()[0].meeting_code
        oldest_code = many.state.emulator.rooms.all()[0].meeting_code
        median_lookup(small, first_code)  # warm both
        median_lookup(large, oldest_code)
        baseline = median_lookup(small, first_code)
        among_many = median_lookup(large, oldest_code)
    assert among_many < 2 * baseline + 0.0003, (among_many, baseline)


def test_a_meeting_code_opens_its_available_room_else_the_latest_that_held_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(max_rooms=100_000)
    emulator = app.state.emulator
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        first = client.post(f"{V1}/rooms", json={"display_name": "first"}).json()
        advance(client, 600)  # expired: its code is free to be given again
        page = client.get(f"/meet/{first['meeting_code']}")
        assert page.status_code == 200
        assert first["id"] in page.text
        # The id source gives the same code to a new room, as it may once the code is free.
        monkeypatch.setattr(emulator.ids, "meeting_code", lambda: first["meeting_code"])
        room = emulator.rooms.create(RoomSettings(display_name="second"))
        assert room.meeting_code == first["meeting_code"]
        page = client.get(f"/meet/{first['meeting_code']}")
        assert room.id in page.text
        assert first["id"] not in page.text
        assert client.get("/meet/000000000").status_code == 404


# -- caller records -------------------------------------------------------------------------------


def test_a_reset_leaves_nothing_of_the_callers_of_isolated_tenants() -> None:
    emulator = Emulator(Settings(tenancy="isolated"), clock=Clock.frozen_at(START), ids=Ids(1))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(20_000):
            emulator.tenant_for(Principal("api_key", f"key-{n}"))
        emulator.reset()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert kept < 256 * 1024, f"{kept:,} bytes kept after the reset"
    # Each caller still reaches its own tenant, under its own name.
    tenant = emulator.tenant_for(Principal("api_key", "key-1"))
    assert emulator.themes.application(tenant).account_id == "key-1"


# -- an event stream whose reader never reads -----------------------------------------------------


def test_an_event_stream_that_is_never_read_is_dropped() -> None:
    app = make_app(max_rooms=1000, request_timeout=1.0)
    emulator = app.state.emulator
    for n in range(200):  # a snapshot of some 800 kB
        emulator.rooms.create(RoomSettings(display_name=f"r{n}", metadata="m" * 4000))
    with serving(app) as url:
        parts = urlsplit(url)
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((parts.hostname, parts.port))
        reader.sendall(b"GET /_emulator/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

        stop = threading.Event()

        def move_the_clock() -> None:  # a new snapshot each time
            while not stop.is_set():
                request = urllib.request.Request(
                    url + "/_emulator/clock",
                    data=json.dumps({"advance_seconds": 1}).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=5):
                    pass
                time.sleep(0.05)

        mover = threading.Thread(target=move_the_clock, daemon=True)
        mover.start()
        try:
            time.sleep(6)  # never reading
            # Now read what was sent: it ends, as the server closed the stream.
            deadline = time.monotonic() + 10
            closed = False
            reader.settimeout(1)
            while time.monotonic() < deadline:
                try:
                    chunk = reader.recv(1 << 20)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    closed = True
                    break
        finally:
            stop.set()
            mover.join(10)
            reader.close()
        assert closed, "the stream was still open"
        assert app.state.dashboard_hub.streams == 0


# -- fault rules and the receiver ----------------------------------------------------------


def test_fault_rules_are_bounded() -> None:
    from meetings_emulator.testing.rules import MAX_RULES

    with TestClient(make_app(), headers={"Authorization": BASIC}) as client:
        rule = {"path": "/v1/meetings/nothing", "effect": {"status": 503}}
        for _ in range(MAX_RULES):
            assert client.post("/_emulator/faults", json=rule).status_code == 201
        refused = client.post("/_emulator/faults", json=rule)
        assert (refused.status_code, refused.json()) == (
            409,
            {
                "message": f"At most {MAX_RULES} rules may be in place at once: remove some first",
                "name": "ConflictError",
                "status": 409,
            },
        )
        assert len(client.get("/_emulator/faults").json()["faults"]) == MAX_RULES
        client.delete("/_emulator/faults")
        assert client.post("/_emulator/faults", json=rule).status_code == 201


def test_the_receiver_refuses_a_body_past_its_limit_chunked_or_not() -> None:
    from meetings_emulator.callbacks.receiver import MAX_BODY_BYTES, Inbox, create_receiver

    inbox = Inbox()
    with TestClient(create_receiver(inbox=inbox)) as client:
        big = b"x" * (MAX_BODY_BYTES + 1)
        assert client.post("/hooks", content=big).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(MAX_BODY_BYTES // 65536 + 2):
                yield b"y" * 65536

        assert client.post("/hooks", content=chunks()).status_code == 413
        assert client.post("/hooks", json={"event": "room:expired"}).status_code == 204
    assert [item.payload["event"] for item in inbox.wait_for(1, timeout=2)] == ["room:expired"]
