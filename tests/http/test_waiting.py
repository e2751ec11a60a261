"""Verification that waits: `wait=` and `count=` on the delivery log and the request journal,
and `GET /_emulator/requests/count`, over real sockets against a served emulator."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, Received, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.outbox import Attempt, DeliveryStatus
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START, serving
from ..tools.process import Running

pytestmark = pytest.mark.network

CALLBACKS = "/_emulator/callbacks"
REQUESTS = "/_emulator/requests"
ROOMS = "/v1/meetings/rooms"


@dataclass
class Served:
    app: Starlette
    http: httpx.Client
    inbox: Inbox
    answers: dict[str, int]  # event -> the status the receiver answers (204 otherwise)

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def room(self, name: str = "x") -> str:
        response = self.http.post(ROOMS, json={"display_name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def advance(self, seconds: float) -> None:
        response = self.http.post("/_emulator/clock", json={"advance_seconds": seconds})
        assert response.status_code == 200, response.text

    def callbacks(self, **query: Any) -> tuple[float, dict[str, Any]]:
        """The answer to `GET /_emulator/callbacks` and how long it took, in seconds."""
        started = time.monotonic()
        response = self.http.get(CALLBACKS, params=query)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        return took, response.json()

    def slow_callbacks(self, event: str, ms: int) -> None:
        rule = {"event": event, "effect": {"latency_ms": ms}}
        assert self.http.post("/_emulator/callbacks/faults", json=rule).status_code == 201


@pytest.fixture
def served() -> Iterator[Served]:
    inbox = Inbox()
    answers: dict[str, int] = {}

    def respond(item: Received) -> int:
        return answers.get(item.event, 204)

    with serving(create_receiver(inbox=inbox, respond=respond)) as receiver_url:
        settings = Settings(seed=1, callback_url=receiver_url + "/callbacks")
        app = create_app(settings, clock=Clock.frozen_at(START), ids=Ids(1))
        with (
            serving(app) as url,
            httpx.Client(base_url=url, headers={"Authorization": BASIC}, timeout=30) as http,
        ):
            yield Served(app, http, inbox, answers)


def in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    """Run `call` on a thread of its own; its result lands in the list."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    return thread, results


# -- callbacks: waiting for deliveries ----------------------------------------------------


def test_a_wait_answers_as_soon_as_the_delivery_lands(served: Served) -> None:
    served.slow_callbacks("room:expired", 300)  # delivered about 0.3 s after the expiry
    room = served.room()
    served.advance(600)
    _, now = served.callbacks(event="room:expired", count=1)
    assert now == {"deliveries": [], "complete": False}  # being sent, not finished yet

    took, answer = served.callbacks(event="room:expired", room_id=room, wait=5)

    assert answer["complete"] is True
    [expired] = answer["deliveries"]
    assert (expired["room_id"], expired["status"]) == (room, "delivered")
    assert [a["status_code"] for a in expired["attempts"]] == [204]
    assert 0.1 < took < 2.0, took
    assert served.inbox.events == ["room:expired"]


def test_a_wait_that_times_out_answers_the_partial_matches(served: Served) -> None:
    rooms = [served.room("a"), served.room("b")]
    served.advance(600)
    served.http.post("/_emulator/callbacks/flush", json={"timeout": 5})

    took, answer = served.callbacks(event="room:expired", count=3, wait=0.5)

    assert answer["complete"] is False
    assert sorted(d["room_id"] for d in answer["deliveries"]) == sorted(rooms)
    assert 0.5 <= took < 2.0, took


def test_without_wait_the_answer_is_immediate_and_counts_the_same(served: Served) -> None:
    served.room()
    served.advance(600)
    served.http.post("/_emulator/callbacks/flush", json={"timeout": 5})
    took, answer = served.callbacks(event="room:expired", count=2)
    assert (answer["complete"], len(answer["deliveries"])) == (False, 1)
    assert took < 0.5
    _, answer = served.callbacks(event="room:expired", count=1)
    assert answer["complete"] is True
    _, plain = served.callbacks(event="room:expired")
    assert "complete" not in plain  # neither wait nor count: the list as it always was
    assert plain["deliveries"] == answer["deliveries"]


def test_a_delivery_still_retrying_does_not_count_until_given_up(served: Served) -> None:
    served.answers["room:expired"] = 503
    served.http.put("/_emulator/callbacks/config", json={"max_attempts": 2})
    room = served.room()
    served.advance(600)
    _, retrying = served.callbacks(room_id=room, status="retrying", count=1, wait=5)
    assert retrying["complete"] is True  # `status` named: those in it count
    _, unfinished = served.callbacks(room_id=room, wait=0.2)
    assert unfinished == {"deliveries": [], "complete": False}

    # Held until the second, last attempt fails, which moving the clock brings about.
    thread, results = in_background(lambda: served.callbacks(room_id=room, wait=10))
    time.sleep(0.2)  # the wait has begun (it would answer at once anyway)
    served.advance(5)
    thread.join(10)
    took, answer = results[0]
    assert answer["complete"] is True
    [failed] = answer["deliveries"]
    assert (failed["status"], len(failed["attempts"])) == ("failed", 2)
    assert took < 5


def test_an_event_with_no_url_counts_at_once_as_undelivered(served: Served) -> None:
    served.http.put("/_emulator/callbacks/config", json={"url": None})
    room = served.room()
    served.http.post(f"/_emulator/rooms/{room}/participants", json={"name": "A"})
    took, answer = served.callbacks(room_id=room, count=2, wait=5)
    assert answer["complete"] is True
    assert [(d["event"], d["status"]) for d in answer["deliveries"]] == [
        ("session:started", "undelivered"),
        ("session:participant:joined", "undelivered"),
    ]
    assert took < 1


def test_filters_combine_with_a_wait(served: Served) -> None:
    first, second = served.room("a"), served.room("b")
    served.http.post(f"/_emulator/rooms/{second}/participants", json={"name": "A"})
    served.advance(600)  # the first expires; the second is in use
    _, answer = served.callbacks(room_id=second, event="room:expired", wait=0.3)
    assert answer == {"deliveries": [], "complete": False}
    _, answer = served.callbacks(room_id=first, event="room:expired", wait=5)
    assert [(d["room_id"], d["event"]) for d in answer["deliveries"]] == [(first, "room:expired")]
    _, answer = served.callbacks(room_id=second, status="delivered", count=2, wait=5)
    assert answer["complete"] is True
    assert [d["event"] for d in answer["deliveries"]] == [
        "session:started",
        "session:participant:joined",
    ]


def test_a_reset_while_waiting_keeps_the_wait_going(served: Served) -> None:
    served.slow_callbacks("room:expired", 200)
    served.room()
    served.advance(600)  # its callback is on its way when the log is reset
    thread, results = in_background(lambda: served.callbacks(event="room:expired", wait=10))
    time.sleep(0.05)
    assert served.http.post("/_emulator/reset", json={"seed": 2}).status_code == 204
    served.slow_callbacks("room:expired", 200)  # a reset forgets fault rules too
    room = served.room()
    served.advance(600)
    thread.join(10)
    took, answer = results[0]
    assert answer["complete"] is True
    assert [d["room_id"] for d in answer["deliveries"]] == [room]
    assert took < 5


def test_many_waiters_are_all_answered_by_one_delivery(served: Served) -> None:
    served.slow_callbacks("room:expired", 400)
    room = served.room()
    served.advance(600)

    async def wait_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=30) as client:
            query = {"event": "room:expired", "room_id": room, "wait": 10}
            return await asyncio.gather(*(client.get(CALLBACKS, params=query) for _ in range(200)))

    started = time.monotonic()
    answers = asyncio.run(wait_all())
    took = time.monotonic() - started
    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["complete"] is True for a in answers)
    assert {a.json()["deliveries"][0]["status"] for a in answers} == {"delivered"}
    assert took < 5, took
    assert served.app.state.deliveries_changed.waiting == 0


# -- the request journal ------------------------------------------------------------------


def test_a_journal_wait_answers_when_the_call_is_made(served: Served) -> None:
    query = {"method": "POST", "path": ROOMS, "wait": 5}
    thread, results = in_background(lambda: served.http.get(REQUESTS, params=query))
    time.sleep(0.3)
    started = time.monotonic()
    served.room()
    thread.join(10)
    answer = results[0]
    assert time.monotonic() - started < 1.5
    assert answer.status_code == 200
    body = answer.json()
    assert body["complete"] is True
    [call] = body["requests"]
    assert (call["method"], call["path"], call["status"]) == ("POST", ROOMS, 201)
    assert call["latency_ms"] is not None


def test_a_journal_wait_counts_and_times_out(served: Served) -> None:
    for _ in range(3):
        served.http.get(ROOMS)
    started = time.monotonic()
    answer = served.http.get(REQUESTS, params={"path": ROOMS, "count": 4, "wait": 0.4}).json()
    assert 0.4 <= time.monotonic() - started < 2
    assert (answer["complete"], len(answer["requests"])) == (False, 3)
    cut = served.http.get(REQUESTS, params={"count": 3, "limit": 1}).json()
    assert (cut["complete"], len(cut["requests"])) == (True, 1)  # limit cuts the list only
    assert served.http.get(REQUESTS, params={"status": "2xx", "count": 3}).json()["complete"]
    assert not served.http.get(REQUESTS, params={"status": "4xx", "count": 1}).json()["complete"]


def test_requests_count(served: Served) -> None:
    served.room()
    served.http.get(ROOMS)
    served.http.get(ROOMS + "/nope")
    count = served.http.get(REQUESTS + "/count")
    assert (count.status_code, count.json()) == (200, {"count": 3})
    assert served.http.get(REQUESTS + "/count", params={"method": "GET"}).json() == {"count": 2}
    assert served.http.get(REQUESTS + "/count", params={"status": "404"}).json() == {"count": 1}
    both = {"method": "get", "path": ROOMS + "*", "status": "2xx"}
    assert served.http.get(REQUESTS + "/count", params=both).json() == {"count": 1}
    assert served.http.get(REQUESTS + "/count", params={"tenant": "nobody"}).json() == {"count": 0}
    refused = served.http.get(REQUESTS + "/count", params={"limit": 1, "wait": 1})
    assert refused.status_code == 400
    assert refused.json() == {
        "message": '"limit" is not allowed. "wait" is not allowed',
        "name": "InputValidationError",
        "status": 400,
        "errors": ['"limit" is not allowed', '"wait" is not allowed'],
    }


# -- bad values ---------------------------------------------------------------------------

WAIT_MESSAGE = '"wait" must be a number of seconds from 0 to 60'
STATUS_MESSAGE = '"status" must be a status code, such as 404, or a class, such as 5xx'


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        (CALLBACKS, {"wait": "-1"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": "61"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": "60.5"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": "abc"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": "nan"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": "1e1"}, WAIT_MESSAGE),
        (CALLBACKS, {"wait": ""}, WAIT_MESSAGE),
        (CALLBACKS, {"count": "0"}, '"count" must be an integer from 1 to 10000'),
        (CALLBACKS, {"count": "10001"}, '"count" must be an integer from 1 to 10000'),
        (CALLBACKS, {"count": "1.5"}, '"count" must be an integer from 1 to 10000'),
        (CALLBACKS, {"count": "²"}, '"count" must be an integer from 1 to 10000'),
        (REQUESTS, {"wait": "100"}, WAIT_MESSAGE),
        (REQUESTS, {"count": "1001"}, '"count" must be an integer from 1 to 1000'),
        (REQUESTS, {"limit": "²"}, '"limit" must be an integer from 1 to 1000'),
        (REQUESTS + "/count", {"colour": "red"}, '"colour" is not allowed'),
        (REQUESTS + "/count", {"status": "abc"}, STATUS_MESSAGE),
    ],
)
def test_bad_values_answer_400_naming_the_field(
    served: Served, path: str, query: dict[str, str], message: str
) -> None:
    response = served.http.get(path, params=query)
    assert response.status_code == 400
    assert response.json() == {"message": message, "name": "InputValidationError", "status": 400}


def test_every_bad_value_is_listed(served: Served) -> None:
    response = served.http.get(CALLBACKS, params={"wait": "x", "count": "0", "room": "r"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        '"room" is not allowed',
        WAIT_MESSAGE,
        '"count" must be an integer from 1 to 10000',
    ]


# -- hanging up, stopping ------------------------------------------------------------------


def raw_get(url: str, target: str) -> socket.socket:
    """A connection that has sent `GET target` and reads nothing yet."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return connection


def test_a_client_that_hangs_up_while_waiting_leaves_nothing_behind() -> None:
    with Running.start("--port", "0", "--seed", "1") as running:
        connections = [
            raw_get(running.url, f"{CALLBACKS}?wait=30&count=1"),
            raw_get(running.url, f"{REQUESTS}?wait=30&count=1"),
        ]
        time.sleep(0.3)
        for connection in connections:
            connection.close()
        # Still answering, at once, and the waits it held are over.
        with httpx.Client(base_url=running.url, headers={"Authorization": BASIC}) as http:
            assert http.post(ROOMS, json={"display_name": "x"}).status_code == 201
            answer = http.get(REQUESTS, params={"count": 1, "wait": 5}).json()
            assert answer["complete"] is True
        stopped = running.stop()
    assert stopped.status == 0
    assert "Traceback" not in stopped.stderr
    assert " ERROR " not in stopped.stderr, stopped.stderr
    assert " WARNING " not in stopped.stderr, stopped.stderr
    assert stopped.seconds < 3


def test_a_wait_ends_when_its_client_hangs_up(served: Served) -> None:
    held = [served.app.state.deliveries_changed, served.app.state.resilience.journal_changed]
    connections = [raw_get(served.url, f"{CALLBACKS}?wait=30") for _ in range(20)]
    connections += [raw_get(served.url, f"{REQUESTS}?wait=30") for _ in range(20)]
    deadline = time.monotonic() + 5
    while [changes.waiting for changes in held] != [20, 20] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [changes.waiting for changes in held] == [20, 20]
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + 2
    while any(changes.waiting for changes in held) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [changes.waiting for changes in held] == [0, 0]


def test_stopping_the_server_answers_the_waits_it_holds() -> None:
    with Running.start("--port", "0", "--seed", "1") as running:
        thread, results = in_background(
            lambda: httpx.get(f"{running.url}{CALLBACKS}?wait=60&count=1", timeout=30)
        )
        time.sleep(0.3)
        stopped = running.stop(signal.SIGTERM)
        thread.join(10)
    assert stopped.status == 0
    [answer] = results
    assert answer.status_code == 200
    assert answer.json() == {"deliveries": [], "complete": False}
    assert "timeout graceful shutdown exceeded" not in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert stopped.seconds < 3


def test_in_process_a_wait_needs_no_server() -> None:
    """With Starlette's TestClient (no sockets at all), waiting works the same."""
    app = create_app(Settings(seed=1), clock=Clock.frozen_at(START), ids=Ids(1))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        room = client.post(ROOMS, json={"display_name": "x"}).json()
        client.post("/_emulator/clock", json={"advance_seconds": 600})
        answer = client.get(CALLBACKS, params={"room_id": room["id"], "wait": 5}).json()
        assert [d["status"] for d in answer["deliveries"]] == ["undelivered"]
        assert answer["complete"] is True
        missing = client.get(CALLBACKS, params={"event": "session:started", "wait": 0.1}).json()
        assert missing == {"deliveries": [], "complete": False}


# -- what counts: a rule checked on any mix of statuses -------------------------------------

FINISHED_STATUSES = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)


def log_of(statuses: list[DeliveryStatus]) -> Starlette:
    """An app (its lifespan never run: nothing is sent) whose log holds one `session:started`
    per status given, in order, each brought there by the outbox's own steps."""
    app = create_app(Settings(seed=1), clock=Clock.frozen_at(START), ids=Ids(1))
    emulator = app.state.emulator
    outbox = emulator.callbacks
    for status in statuses:
        url = None if status is DeliveryStatus.UNDELIVERED else "http://receiver.test/cb"
        outbox.reconfigure(replace(outbox.config, url=url))
        room = emulator.rooms.create(RoomSettings(display_name="r"))
        emulator.sessions.join(room.id, "A", is_host=True, type="Guest")
        [delivery] = outbox.deliveries(room_id=room.id, event="session:started")
        code = {"delivered": 204, "failed": 400, "retrying": 503}.get(status)
        if code is not None:
            assert delivery in outbox.take_ready()
            outbox.settle(delivery, Attempt(START, code, None, 1.0))
        assert delivery.status is status
    return app


@settings(max_examples=40, deadline=None)
@given(
    statuses=st.lists(st.sampled_from(list(DeliveryStatus)), max_size=10),
    wanted=st.none() | st.sampled_from(list(DeliveryStatus)),
    count=st.integers(1, 12),
)
def test_count_and_complete_follow_one_rule(
    statuses: list[DeliveryStatus], wanted: DeliveryStatus | None, count: int
) -> None:
    """Counted: the finished entries, or those in the `status` named; complete: at least
    `count` of them. Without `wait`, the answer comes at once, whatever it is."""
    client = TestClient(log_of(statuses))
    query: dict[str, Any] = {"event": "session:started", "count": count}
    if wanted is not None:
        query["status"] = wanted
    answer = client.get(CALLBACKS, params=query).json()
    if wanted is None:
        expected = [status for status in statuses if status in FINISHED_STATUSES]
    else:
        expected = [status for status in statuses if status is wanted]
    assert [d["status"] for d in answer["deliveries"]] == expected
    assert answer["complete"] is (len(expected) >= count)
