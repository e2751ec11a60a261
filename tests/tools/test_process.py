"""Stopping the served process as users do: Ctrl-C (SIGINT), `kill` or `docker stop`
(SIGTERM), directly and under `dev.py run`, with a state file, with a callback in flight.

What a user notices is asserted: the exit status, the output (never a traceback), the
state file afterwards, and how long stopping took, against the documented bound.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import BASIC, free_port
from .process import ROOT, SHUTDOWN_BOUND, SLACK, Running, StuckReceiver, dev_environment, run

pytestmark = pytest.mark.network

SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


def make_rooms(url: str, count: int) -> list[str]:
    with httpx.Client(base_url=url, headers={"Authorization": BASIC}) as http:
        return [
            http.post("/v1/meetings/rooms", json={"display_name": f"r{n}"}).json()["id"]
            for n in range(count)
        ]


def saved_rooms(path: Path) -> set[str]:
    state = json.loads(path.read_text())
    return {room["id"] for room in state["rooms"]["rooms"]}


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_stops_cleanly_and_saves_the_state(tmp_path: Path, sig: int) -> None:
    state = tmp_path / "state.json"
    with Running.start("--port", "0", "--state-file", str(state)) as running:
        rooms = make_rooms(running.url, 3)
        stopped = running.stop(sig)
    assert stopped.status == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr + stopped.stdout
    assert "KeyboardInterrupt" not in stopped.stderr
    assert saved_rooms(state) == set(rooms)
    name = signal.Signals(sig).name
    assert f"INFO stopping on {name}\n" in stopped.stderr
    assert "INFO state saved to " in stopped.stderr
    assert ": 3 rooms, 0 themes, 0 sessions, 0 recordings (" in stopped.stderr

    # The next start reads it back, and says so.
    with Running.start("--port", "0", "--state-file", str(state)) as again:
        line = again.wait_for_log("state loaded from")
        assert line.endswith(
            f"INFO state loaded from {state}: 3 rooms, 0 themes, 0 sessions, 0 recordings\n"
        )
        with httpx.Client(base_url=again.url, headers={"Authorization": BASIC}) as http:
            assert http.get(f"/v1/meetings/rooms/{rooms[0]}").status_code == 200
        assert again.stop(signal.SIGINT).status == 0


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_stuck_receiver_cannot_hold_shutdown_past_the_bound(tmp_path: Path, sig: int) -> None:
    """The attempt in flight may take 60 s; the process still ends within the bound."""
    state = tmp_path / "state.json"
    with StuckReceiver() as stuck, Running.start(
        "--port", "0",
        "--state-file", str(state),
        "--callback-url", stuck.url,
        "--callback-timeout", "60",
    ) as running:  # fmt: skip
        rooms = make_rooms(running.url, 2)
        with httpx.Client(base_url=running.url, headers={"Authorization": BASIC}) as http:
            for room in rooms:  # room:expired for each: one in flight, one queued
                assert http.delete(f"/v1/meetings/rooms/{room}").status_code == 204
        stuck.wait_for_connection()
        stopped = running.stop(sig)
    assert stopped.status == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert stopped.seconds < SHUTDOWN_BOUND + SLACK, stopped.stderr
    assert "WARNING shutting down with 2 callback(s) not delivered: room:expired" in (
        stopped.stderr
    )
    assert saved_rooms(state) == set(rooms)  # saved after the callbacks' time was up
    print(f"shutdown with a stuck receiver took {stopped.seconds:.2f} s")


def test_a_second_signal_does_not_lose_the_state(tmp_path: Path) -> None:
    """Ctrl-C pressed twice while the callbacks' last attempts run: still saved, still 0."""
    state = tmp_path / "state.json"
    with (
        StuckReceiver() as stuck,
        Running.start(
            "--port", "0", "--state-file", str(state), "--callback-url", stuck.url
        ) as running,
    ):
        [room] = make_rooms(running.url, 1)
        httpx.delete(f"{running.url}/v1/meetings/rooms/{room}", headers={"Authorization": BASIC})
        stuck.wait_for_connection()
        running.process.send_signal(signal.SIGINT)
        running.wait_for_log("stopping on SIGINT")
        stopped = running.stop(signal.SIGINT)
    assert stopped.status == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert "INFO SIGINT again: already stopping (within 5 s in all)" in stopped.stderr
    assert saved_rooms(state) == {room}


@pytest.mark.parametrize("sig", SIGNALS)
def test_under_dev_py_run_a_callback_in_flight_does_not_lose_the_state(
    tmp_path: Path, sig: int
) -> None:
    """`dev.py run` becomes the emulator: the signal reaches it, and nothing kills it."""
    environment = dev_environment(tmp_path / "venv")
    state = tmp_path / "state.json"
    with StuckReceiver() as stuck, Running.start(
        "run", "--port", "0", "--state-file", "state.json", "--callback-url", stuck.url,
        command=[sys.executable, str(ROOT / "dev.py")],
        env={"MEETINGS_EMULATOR_VENV": str(environment)},
        cwd=tmp_path,  # the state file is named relative to the caller's folder
    ) as running:  # fmt: skip
        [room] = make_rooms(running.url, 1)
        httpx.delete(f"{running.url}/v1/meetings/rooms/{room}", headers={"Authorization": BASIC})
        stuck.wait_for_connection()  # a callback in flight
        stopped = running.stop(sig)
    assert stopped.status == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert stopped.seconds < SHUTDOWN_BOUND + SLACK
    assert saved_rooms(state) == {room}
    assert not (ROOT / "state.json").exists()


def test_the_banner_names_the_dashboard_and_the_docs_even_at_warning() -> None:
    with Running.start("--port", "0", "--log-level", "warning") as running:
        running.wait_for_log("  docs  ", stream="stdout")
        banner = "".join(running.stdout)
        with httpx.Client() as http:
            for label, path in (("dashboard", "/_emulator/ui"), ("docs", "/_emulator/docs")):
                assert f"  {label}  " in banner
                assert f"{running.url}{path}\n" in banner
                assert http.get(f"{running.url}{path}").status_code == 200
            assert f"  API        {running.url}/v1/meetings (and /beta/meetings)\n" in banner
        stopped = running.stop(signal.SIGINT)
    assert stopped.status == 0
    assert stopped.stderr == ""  # nothing else at warning: no start or stop chatter


def test_a_state_file_that_cannot_be_loaded_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"format": "something else"}')
    result = run("--port", "0", "--state-file", str(state))
    assert result.returncode == 1  # its content is refused (2 is for a path of no use at all)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"meetings-emulator: --state-file {state}: cannot be loaded: ")


@pytest.mark.parametrize("sig", SIGNALS)
def test_the_receiver_stops_cleanly_too(sig: int) -> None:
    port = free_port()
    listening = re.compile(r"receiver listening on (http://\S+) ")
    with Running.start("receiver", "--port", str(port), banner=listening) as running:
        deadline = time.monotonic() + 10
        while True:  # the line comes before the socket is bound
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        stopped = running.stop(sig)
    assert stopped.status == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
