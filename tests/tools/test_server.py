"""Over real sockets: uvicorn on a free loopback port, real-time expiry, the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.isotime import format_iso

from ..conftest import BASIC, app_emulator, serving

pytestmark = pytest.mark.network


def test_rooms_round_trip_over_http(live_url: str) -> None:
    with httpx.Client(base_url=live_url, headers={"Authorization": BASIC}) as http:
        created = http.post("/v1/meetings/rooms", json={"display_name": "sockets"})
        assert created.status_code == 201
        assert created.headers["content-type"] == "application/json; charset=utf-8"
        room = created.json()
        assert http.get(f"/beta/meetings/rooms/{room['id']}").json() == room
        page = http.get("/v1/meetings/rooms", params={"page_size": 1}).json()
        self_link = f"{live_url}/v1/meetings/rooms?page_size=1&start_id=1"
        assert page["_links"]["self"]["href"] == self_link
        assert page["_embedded"] == [room]


def test_rooms_expire_by_themselves_in_real_time(app: Starlette) -> None:
    """A running clock: nobody calls the API, and the room still expires on time."""
    emulator = app_emulator(app)
    emulator.clock.release()
    with serving(app) as url, httpx.Client(base_url=url, headers={"Authorization": BASIC}) as http:
        room = http.post("/v1/meetings/rooms", json={"display_name": "soon gone"}).json()
        created = emulator.clock.now()
        almost = created + timedelta(minutes=10) - timedelta(milliseconds=300)
        assert http.post("/_emulator/clock", json={"now": format_iso(almost)}).status_code == 200
        assert emulator.rooms.available_count == 1
        deadline = time.monotonic() + 5
        while emulator.rooms.available_count and time.monotonic() < deadline:
            time.sleep(0.02)  # reads state only: expiry must come from the server's own runner
        assert emulator.rooms.available_count == 0
        assert http.get(f"/v1/meetings/rooms/{room['id']}").json()["is_available"] is False


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meetings_emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_command_line_serves_and_reads_the_environment() -> None:
    process = run_cli("--port", "0", env={"MEETINGS_EMULATOR_BASE_URL": "http://links.test"})
    try:
        assert process.stdout is not None
        address = None
        for line in process.stdout:
            found = re.search(r"serving (http://127\.0\.0\.1:\d+)", line)
            if found:
                address = found.group(1)
                break
        assert address, "the emulator did not announce its address"
        with httpx.Client(base_url=address, headers={"Authorization": BASIC}) as http:
            assert http.get("/_emulator/health").json()["status"] == "ok"
            room = http.post("/v1/meetings/rooms", json={"display_name": "cli"}).json()
        assert room["_links"]["guest_url"]["href"].startswith("http://links.test/")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_command_line_rejects_a_bad_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meetings_emulator", "--port", "many"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_seed_makes_runs_repeatable() -> None:
    rooms = []
    for _ in range(2):
        app = create_app(clock=Clock.frozen_at(Clock().now()))
        app_emulator(app).ids.reseed(99)
        with serving(app) as url:
            rooms.append(
                httpx.post(
                    f"{url}/v1/meetings/rooms",
                    json={"display_name": "x"},
                    headers={"Authorization": BASIC},
                ).json()
            )
    assert rooms[0]["id"] == rooms[1]["id"]
    assert rooms[0]["meeting_code"] == rooms[1]["meeting_code"]


def test_play_subcommand_runs_an_example_scenario() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "meetings_emulator", "play", "examples/waiting-room.json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("Passed: ")


def test_tls_mode_serves_https_and_writes_its_ca(tmp_path: Path) -> None:
    import ssl

    ca_file = tmp_path / "ca.pem"
    process = run_cli("--port", "0", "--tls", "--tls-ca-out", str(ca_file))
    try:
        assert process.stdout is not None
        address = None
        for line in process.stdout:
            found = re.search(r"serving (https://127\.0\.0\.1:(\d+))", line)
            if found:
                address = f"https://localhost:{found.group(2)}"
                break
        assert address, "the emulator did not announce an https address"
        trust = ssl.create_default_context(cafile=str(ca_file))
        health = httpx.get(f"{address}/_emulator/health", verify=trust)
        assert health.json()["status"] == "ok"
        served = httpx.get(f"{address}/_emulator/tls/ca.pem", verify=trust)
        assert served.text == ca_file.read_text()
        with pytest.raises(httpx.ConnectError):  # not trusted without the CA
            httpx.get(f"{address}/_emulator/health")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_plain_http_has_no_ca(live_url: str) -> None:
    response = httpx.get(f"{live_url}/_emulator/tls/ca.pem")
    assert response.status_code == 404
    assert "start it with --tls" in response.json()["message"]
