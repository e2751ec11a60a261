"""The served process's log: one line per thing that happened, as text or as JSON lines.

Read from a real process's stderr: callbacks given up, the state loaded and saved, fault
rules added, clock moves, and, at debug only, one line per API call with its latency.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx
import pytest

from meetings_emulator.callbacks.receiver import create_receiver

from ..conftest import BASIC, serving
from .process import Running, refused_url

pytestmark = pytest.mark.network

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def expire_a_room(url: str) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": BASIC}) as http:
        room = http.post("/v1/meetings/rooms", json={"display_name": "x"}).json()["id"]
        assert http.delete(f"/v1/meetings/rooms/{room}").status_code == 204
    return room


def test_a_callback_given_up_is_logged_as_text() -> None:
    url = refused_url()
    with Running.start(
        "--port", "0", "--callback-url", url, "--callback-max-attempts", "1"
    ) as running:
        room = expire_a_room(running.url)
        line = running.wait_for_log("callback given up")
        stopped = running.stop(signal.SIGINT)
    assert re.fullmatch(
        rf"{TIME} WARNING callback given up: room:expired for room {room} to {url} after 1"
        r" attempt\(s\); last answer: ConnectError: \[Errno \d+\] Connection refused\n",
        line,
    ), line
    assert stopped.status == 0
    assert stopped.stderr.count("callback given up") == 1


def test_a_callback_given_up_is_logged_as_json() -> None:
    """A receiver that answers 500 twice: given up after the second attempt."""
    with serving(create_receiver(respond=lambda _item: 500)) as receiver, Running.start(
        "--port", "0",
        "--log-format", "json",
        "--callback-url", f"{receiver}/hooks",
        "--callback-max-attempts", "2",
        "--callback-base-delay", "0",
        banner_on="stderr",
    ) as running:  # fmt: skip
        room = expire_a_room(running.url)
        running.wait_for_log("callback given up")
        stopped = running.stop(signal.SIGTERM)
    assert stopped.status == 0
    assert stopped.stdout == ""
    records = [json.loads(line) for line in stopped.stderr.splitlines()]  # every line is JSON
    [given_up] = [r for r in records if r["message"].startswith("callback given up")]
    assert given_up == {
        "time": given_up["time"],
        "level": "warning",
        "logger": "meetings_emulator.callbacks",
        "message": f"callback given up: room:expired for room {room} to {receiver}/hooks"
        " after 2 attempt(s); last answer: 500",
        "event": "room:expired",
        "room_id": room,
        "url": f"{receiver}/hooks",
        "attempts": 2,
        "last_answer": "500",
    }
    assert re.fullmatch(TIME, given_up["time"])
    [banner] = [r for r in records if "url" in r and r["message"].startswith("meetings-")]
    assert banner["message"].startswith(f"meetings-emulator 0.1.0 serving {running.url} ")
    assert banner["dashboard_url"] == f"{running.url}/_emulator/ui"
    assert banner["docs_url"] == f"{running.url}/_emulator/docs"
    [stopping] = [r for r in records if r["message"] == "stopping on SIGTERM"]
    assert stopping["signal"] == "SIGTERM"


def test_state_faults_and_clock_are_logged_once_each(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Running.start("--port", "0", "--state-file", str(state)) as running:
        with httpx.Client(base_url=running.url, headers={"Authorization": BASIC}) as http:
            http.post("/v1/meetings/rooms", json={"display_name": "x"})
            rule = {"path": "/v1/meetings/themes", "effect": {"status": 503}, "times": 1}
            assert http.post("/_emulator/faults", json=rule).status_code == 201
            moved = http.post("/_emulator/clock", json={"advance_seconds": 60, "frozen": True})
            assert http.post("/_emulator/snapshot").status_code == 200
            for _ in range(20):  # requests at info: no line each
                http.get("/v1/meetings/rooms")
        stopped = running.stop(signal.SIGINT)
    log = stopped.stderr
    assert f"INFO no state file at {state} yet: starting empty\n" in log
    assert log.count("INFO fault rule added: {'id': 'fault-1', ") == 1
    now = moved.json()["now"]
    assert f"INFO clock moved: {{'now': '{now}', 'frozen': True}}\n" in log
    saves = re.findall(rf"INFO state saved to {re.escape(str(state))}: 1 room, 0 themes, .*\n", log)
    assert len(saves) == 2  # on POST /_emulator/snapshot, then at shutdown
    assert "/v1/meetings/rooms" not in log
    assert "GET" not in log


def test_at_debug_each_api_call_is_logged_with_status_and_latency() -> None:
    with Running.start("--port", "0", "--log-level", "debug") as running:
        with httpx.Client(base_url=running.url, headers={"Authorization": BASIC}) as http:
            room = http.post("/v1/meetings/rooms", json={"display_name": "x"}).json()["id"]
            http.get("/v1/meetings/rooms/nope")
        running.wait_for_log("GET /v1/meetings/rooms/nope")
        stopped = running.stop(signal.SIGINT)
    assert re.search(rf"{TIME} DEBUG POST /v1/meetings/rooms 201 \d+\.\d ms\n", stopped.stderr)
    assert re.search(rf"{TIME} DEBUG GET /v1/meetings/rooms/nope 404 \d+\.\d ms\n", stopped.stderr)
    assert room
    assert "Traceback" not in stopped.stderr
