"""State files a start must refuse, and the housekeeping of saves: a file whose content is
refused stops the start with one line and exit status 1, and is left as it was; temporary
files orphaned by a killed save are cleaned at the next start; a save never waits behind
long `flush` calls."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START, serving
from ..tools.process import Running, run

pytestmark = pytest.mark.network

V1 = "/v1/meetings"
PROG = "meetings-emulator: "


def genuine_state() -> dict[str, Any]:
    """A snapshot with a room, a theme and a waiting guest, as an emulator exports it."""
    app = create_app(Settings(seed=3), clock=Clock.frozen_at(START), ids=Ids(3))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        client.post(f"{V1}/themes", json={"main_color": "#010203", "brand_text": "T"})
        room = client.post(
            f"{V1}/rooms", json={"display_name": "kept", "join_approval_level": "after_owner_only"}
        ).json()
        client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Guest"})
        state: dict[str, Any] = client.get("/_emulator/snapshot").json()
    return state


def refused_start(path: Path) -> str:
    """Start with `path` as the state file: the one line of a refusal, exit status 1, and
    the file exactly as it was."""
    before = path.read_bytes()
    result = run("--port", "0", "--state-file", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert path.read_bytes() == before
    prefix = f"{PROG}--state-file {path}: cannot be loaded: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0].removeprefix(prefix)


def test_a_state_file_with_hostile_content_is_one_line_and_exit_1(tmp_path: Path) -> None:
    state = genuine_state()
    state["rooms"]["next_serial"] = "many"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state, indent=1))
    assert refused_start(path) == (
        '"rooms.next_serial" must be an integer from 1 to 9007199254740991'
    )


def test_a_lone_surrogate_in_a_state_file_is_refused_at_start(tmp_path: Path) -> None:
    state = genuine_state()
    state["rooms"]["rooms"][0]["settings"]["display_name"] = "a\ud800b"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))  # ASCII, with the surrogate as an escape
    assert refused_start(path) == (
        '"rooms.rooms[0].settings.display_name" holds a lone surrogate (U+D800),'
        " which no UTF-8 text can hold"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"format": "meetings-emulator-state", "version": 1, "rooms": {', "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"format": "meetings-emulator-state", "version": NaN}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"format": "something else"}', '"format" must be "meetings-emulator-state"'),
    ],
    ids=["truncated", "empty", "not-utf8", "nan", "deep", "foreign"],
)
def test_a_corrupt_state_file_is_one_line_and_exit_1(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    assert refused_start(path).startswith(problem)


def test_a_state_file_from_too_far_ahead_is_refused(tmp_path: Path) -> None:
    state = genuine_state()
    state["clock"]["now"] = "8999-01-01T00:00:00+00:00"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    assert refused_start(path).startswith('"clock.now" must be a date-time from 1970-01-01 to ')


def test_a_state_file_that_is_no_file_is_still_a_configuration_error(tmp_path: Path) -> None:
    result = run("--port", "0", "--state-file", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"{PROG}--state-file {tmp_path}: is a folder, not a file\n"


def test_temporary_files_orphaned_by_a_killed_save_are_cleaned_at_start(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(genuine_state()))
    orphans = [tmp_path / ".state.json.k2_9xq1a", tmp_path / ".state.json.00aazz__"]
    for orphan in orphans:
        orphan.write_text('{"torn')
    kept = [
        tmp_path / ".state.json.bak",  # not a name a save makes
        tmp_path / ".other.json.k2_9xq1a",
        tmp_path / "state.json.k2_9xq1a",
    ]
    for other in kept:
        other.write_text("mine")
    (tmp_path / ".state.json.abcdefgh").mkdir()  # a folder is never removed
    with Running.start("--port", "0", "--state-file", str(path)) as running:
        with httpx.Client(base_url=running.url, headers={"Authorization": BASIC}) as http:
            assert len(http.get(f"{V1}/themes").json()) == 1  # the state was loaded
            assert http.post("/_emulator/snapshot").status_code == 200
        stopped = running.stop(signal.SIGTERM)
    assert stopped.status == 0
    assert not [orphan for orphan in orphans if orphan.exists()]
    assert all(other.read_text() == "mine" for other in kept)
    assert (tmp_path / ".state.json.abcdefgh").is_dir()
    assert "removed 2 temporary files left by an interrupted save" in stopped.stderr


def test_a_save_does_not_wait_behind_long_flush_calls(tmp_path: Path) -> None:
    """Many `flush` calls waiting for a stuck callback must not hold up a save."""
    stuck = httpx.MockTransport(_never_answers)
    settings = Settings(
        state_file=str(tmp_path / "state.json"),
        callback_url="http://receiver.invalid/callbacks",
        callback_timeout=30,
        shutdown_grace=0.1,
    )
    app = create_app(settings, transport=stuck)
    waits = min(32, (os.cpu_count() or 1) + 4) + 2  # more than the default executor's threads
    with serving(app) as url, httpx.Client(base_url=url, headers={"Authorization": BASIC}) as http:
        http.post(f"{V1}/rooms", json={"display_name": "calls back"})
        http.post(f"/_emulator/rooms/{_first_room(http)}/participants", json={"name": "x"})
        with concurrent.futures.ThreadPoolExecutor(waits) as pool:
            flushes = [pool.submit(_flush, url, 6) for _ in range(waits)]
            time.sleep(1.0)  # every flush is waiting by now
            started = time.monotonic()
            answer = http.post("/_emulator/snapshot", timeout=30)
            took = time.monotonic() - started
            assert [f.result()["idle"] for f in flushes] == [False] * waits
    assert answer.status_code == 200
    assert took < 2.0, f"the save waited {took:.1f} s"


async def _never_answers(request: httpx.Request) -> httpx.Response:
    import asyncio

    await asyncio.sleep(60)
    return httpx.Response(204)


def _first_room(http: httpx.Client) -> str:
    room_id: str = http.get(f"{V1}/rooms").json()["_embedded"][0]["id"]
    return room_id


def _flush(url: str, seconds: float) -> dict[str, Any]:
    answer = httpx.post(f"{url}/_emulator/callbacks/flush", json={"timeout": seconds}, timeout=30)
    result: dict[str, Any] = answer.json()
    return result
