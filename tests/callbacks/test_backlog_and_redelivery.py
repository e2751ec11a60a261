"""The pending backlog is bounded (the oldest are given up past `--max-pending-callbacks`),
and failed deliveries can all be sent again once their receiver is back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, Received, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START, serving
from ..tools.process import refused_url

pytestmark = pytest.mark.network

V1 = "/v1/meetings"


def app_for(**settings: Any) -> Starlette:
    return create_app(
        Settings(**settings), clock=Clock.frozen_at(START), ids=Ids(5), run_timers=False
    )


def join(client: TestClient, room_id: str, name: str) -> None:
    answer = client.post(f"/_emulator/rooms/{room_id}/participants", json={"name": name})
    assert answer.status_code == 201


def flush(client: TestClient) -> dict[str, Any]:
    result: dict[str, Any] = client.post("/_emulator/callbacks/flush", json={"timeout": 10}).json()
    assert result["idle"] is True
    return result


def log_of(client: TestClient, **filters: str) -> list[dict[str, Any]]:
    deliveries: list[dict[str, Any]] = client.get("/_emulator/callbacks", params=filters).json()[
        "deliveries"
    ]
    return deliveries


# -- the pending backlog ----------------------------------------------------------------------


def test_past_the_bound_the_oldest_pending_callbacks_are_given_up_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_for(callback_url=refused_url(), max_pending_callbacks=5)
    client = TestClient(app, headers={"Authorization": BASIC})  # not started: nothing is sent
    room = client.post(f"{V1}/rooms", json={"display_name": "busy"}).json()
    for name in "ABCDEFG":
        join(client, room["id"], name)  # session:started, then 7 joins: 8 callbacks

    log = log_of(client)
    assert len(log) == 8
    given_up, kept = log[:3], log[3:]
    assert [d["status"] for d in given_up] == ["failed"] * 3
    for delivery in given_up:
        [note] = delivery["attempts"]
        assert note["status_code"] is None
        assert note["error"] == (
            "given up unsent: more than 5 callbacks were pending (--max-pending-callbacks)"
        )
        assert delivery["finished_at"] is not None
    assert [d["status"] for d in kept] == ["pending"] * 5
    assert [d["event"] for d in log] == ["session:started"] + ["session:participant:joined"] * 7
    assert client.get("/_emulator/health").json()["callbacks_dropped"] == 3

    with caplog.at_level(logging.WARNING, logger="meetings_emulator.callbacks"), client:
        client.post("/_emulator/callbacks/flush", json={"timeout": 5})
    [line] = [r.getMessage() for r in caplog.records if "given up unsent" in r.getMessage()]
    assert line == (
        "3 pending callback(s) given up unsent: more than 5 were pending"
        " (--max-pending-callbacks); 3 in all"
    )


def test_a_backlog_of_30000_callbacks_holds_at_most_the_bound() -> None:
    emulator = Emulator(
        Settings(callback_url=refused_url(), max_rooms=40_000, max_pending_callbacks=10_000),
        clock=Clock.frozen_at(START),
        ids=Ids(2),
    )
    for n in range(30_000):
        emulator.rooms.create(RoomSettings(display_name=f"r{n}"))
    emulator.advance(timedelta(minutes=10))  # 30,000 rooms expire: 30,000 callbacks
    assert len(emulator.callbacks.pending()) == 10_000
    assert emulator.callbacks.counts()["pending"] == 10_000
    assert emulator.callbacks.dropped == 20_000
    newest = emulator.callbacks.pending()
    assert {d.room_id for d in newest} == {room.id for room in emulator.rooms.all()[-10_000:]}


def test_the_delivery_log_stays_bounded_behind_a_callback_that_waits_forever() -> None:
    """A retry waiting for a frozen clock held every later entry in the log."""
    emulator = Emulator(
        Settings(max_rooms=40_000, max_pending_callbacks=100),
        clock=Clock.frozen_at(START),
        ids=Ids(2),
    )
    stuck = emulator.rooms.create(
        RoomSettings(display_name="stuck", callback_urls={"rooms_callback_url": refused_url()})
    )
    emulator.rooms.delete(stuck.id)  # its room:expired is pending, and stays so
    for n in range(25_000):
        emulator.rooms.create(RoomSettings(display_name=f"r{n}"))
    emulator.advance(timedelta(minutes=10))  # 25,000 undelivered (no URL) entries
    assert len(emulator.callbacks.deliveries()) <= 10_000 + 1_000 + 1
    assert emulator.callbacks.deliveries()[0].room_id == stuck.id  # still there, and first


# -- redelivering every failed callback ---------------------------------------------------------


@dataclass
class Receiver:
    url: str
    inbox: Inbox
    down: bool = True  # answers 503 while down, 204 once up
    answered: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    def respond(_item: Received) -> int:
        status = 503 if holder[0].down else 204
        holder[0].answered.append(status)
        return status

    inbox = Inbox()
    with serving(create_receiver(inbox=inbox, respond=respond)) as url:
        holder.append(Receiver(url + "/callbacks", inbox))
        yield holder[0]


def test_failed_callbacks_are_all_sent_again_once_the_receiver_is_back(
    receiver: Receiver,
) -> None:
    app = app_for(callback_url=receiver.url, callback_max_attempts=2, callback_base_delay=1)
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        rooms = [client.post(f"{V1}/rooms", json={"display_name": n}).json() for n in "ab"]
        for room in rooms:
            join(client, room["id"], "A")  # session:started, session:participant:joined
        for _ in range(6):  # every attempt of every callback fails
            flush(client)
            assert client.post("/_emulator/clock", json={"advance_seconds": 5}).status_code == 200
        flush(client)
        failed = log_of(client, status="failed")
        assert len(failed) == 4
        assert all(len(d["attempts"]) == 2 for d in failed)

        receiver.down = False
        before = len(receiver.inbox.received)
        answer = client.post("/_emulator/callbacks/redeliver")
        assert answer.status_code == 200
        assert answer.json() == {"redelivered": 4}
        flush(client)

        again = receiver.inbox.received[before:]
        assert sorted(item.headers["x-meetings-event-id"] for item in again) == sorted(
            d["id"] for d in failed
        )
        for room in rooms:  # each room's callbacks again in their order
            events = [i.event for i in again if i.payload["room_id"] == room["id"]]
            assert events == ["session:started", "session:participant:joined"]
        log = log_of(client)
        assert [d["status"] for d in log] == ["delivered"] * 4
        assert client.post("/_emulator/callbacks/redeliver").json() == {"redelivered": 0}


def test_redelivery_can_be_narrowed_to_a_room_and_is_checked(receiver: Receiver) -> None:
    app = app_for(callback_url=receiver.url, callback_max_attempts=1)
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        rooms = [client.post(f"{V1}/rooms", json={"display_name": n}).json() for n in "ab"]
        for room in rooms:
            join(client, room["id"], "A")
        flush(client)
        assert len(log_of(client, status="failed")) == 4

        receiver.down = False
        first = rooms[0]["id"]
        answer = client.post("/_emulator/callbacks/redeliver", params={"room_id": first})
        assert answer.json() == {"redelivered": 2}
        flush(client)
        assert {d["room_id"] for d in log_of(client, status="failed")} == {rooms[1]["id"]}
        assert {d["room_id"] for d in log_of(client, status="delivered")} == {first}

        again = client.post(
            "/_emulator/callbacks/redeliver", params={"status": "delivered", "room_id": first}
        )
        assert again.json() == {"redelivered": 2}  # delivered ones may be sent again too
        flush(client)

        for params, message in [
            ({"status": "pending"}, '"status" must be failed or delivered'),
            ({"colour": "red"}, '"colour" is not allowed'),
        ]:
            refused = client.post("/_emulator/callbacks/redeliver", params=params)
            assert (refused.status_code, refused.json()["message"]) == (400, message)
