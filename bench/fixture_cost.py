"""What the `meetings_tenant` fixture costs a test:

    .venv/bin/python bench/fixture_cost.py [--rounds 5] [--tests 300]

Runs three suites of `--tests` small tests (make a room, read it back, check its name), each
in its own `python -m pytest` process, the suites taking turns within each round (the
order rotates) so the machine's noise hits them alike:

- `tenant`: each test takes `meetings_tenant` (a tenant made and dropped per test);
- `bare`: no emulator fixture at all: the tests call a server that a session fixture of
  their own started once (the emulator's app under uvicorn in a thread, as the plugin
  serves it), with one fixed credential;
- `reset`: each test takes `meetings_emulator` (the whole server reset before each test),
  for context.

Each figure is the time pytest spends running the tests (`pytest_runtestloop`, which
includes the session's server start), the median of the rounds. The fixture's cost is
(tenant - bare) / tests; the target is at most 5 ms a test. The process's whole wall time
(interpreter, imports, collection) is shown beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 5.0
SUITES = ("tenant", "bare", "reset")

TIMING = """
import os
import time

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        with open(os.environ["FIXTURE_COST_OUT"], "w") as out:
            out.write(f"{time.perf_counter() - started:.6f}")
"""

BARE_CONFTEST = """
import base64
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock, utc_now
from meetings_emulator.domain.settings import Settings

KEY, SECRET = "bench-key", "bench-secret"


@pytest.fixture(scope="session")
def api():
    settings = Settings(api_key=KEY, api_secret=SECRET)
    app = create_app(settings, clock=Clock.frozen_at(utc_now().replace(microsecond=0)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    auth = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with httpx.Client(base_url=url, headers={"Authorization": auth}, timeout=30) as client:
        yield client
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
"""

TEST = """
import pytest


@pytest.mark.parametrize("n", range({tests}))
def test_a_room_made_and_read_back({fixture}, n):
    client = {client}
    made = client.post("/v1/meetings/rooms", json={{"display_name": f"room {{n}}"}})
    assert made.status_code == 201
    read = client.get(f"/v1/meetings/rooms/{{made.json()['id']}}")
    assert read.json()["display_name"] == f"room {{n}}"
"""

CLIENTS = {
    "tenant": ("meetings_tenant", "meetings_tenant.http"),
    "bare": ("api", "api"),
    "reset": ("meetings_emulator", "meetings_emulator.http"),
}


def write_suites(root: Path, tests: int) -> None:
    (root / "conftest.py").write_text(TIMING)
    (root / "pytest.ini").write_text("[pytest]\n")
    for suite in SUITES:
        folder = root / suite
        folder.mkdir()
        fixture, client = CLIENTS[suite]
        (folder / f"test_{suite}.py").write_text(
            TEST.format(tests=tests, fixture=fixture, client=client)
        )
        if suite == "bare":
            (folder / "conftest.py").write_text(BARE_CONFTEST)


def run_suite(root: Path, suite: str, tests: int) -> tuple[float, float]:
    """(seconds running the tests, seconds of the whole process)."""
    out = root / f"{suite}.time"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR_")}
    env["FIXTURE_COST_OUT"] = str(out)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, suite], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or f"{tests} passed" not in done.stdout:
        raise SystemExit(f"the {suite} suite failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return float(out.read_text()), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    loops: dict[str, list[float]] = {suite: [] for suite in SUITES}
    walls: dict[str, list[float]] = {suite: [] for suite in SUITES}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="fixture-cost-") as folder:
        root = Path(folder)
        write_suites(root, args.tests)
        for number in range(args.rounds):
            order = SUITES[number % 3 :] + SUITES[: number % 3]
            for suite in order:
                loop, wall = run_suite(root, suite, args.tests)
                loops[suite].append(loop)
                walls[suite].append(wall)
            shown = "  ".join(f"{s} {loops[s][-1]:.2f} s" for s in SUITES)
            print(f"round {number + 1}: {shown}")
    median = {suite: statistics.median(loops[suite]) for suite in SUITES}
    print(f"\n{args.tests} tests a suite, {args.rounds} rounds; medians:")
    for suite in SUITES:
        per_test = median[suite] / args.tests * 1000
        print(
            f"  {suite:7s} tests {median[suite]:6.2f} s  ({per_test:5.2f} ms a test)"
            f"  [{min(loops[suite]):.2f}-{max(loops[suite]):.2f}]"
            f"  process {statistics.median(walls[suite]):6.2f} s"
        )
    cost = (median["tenant"] - median["bare"]) / args.tests * 1000
    reset = (median["reset"] - median["bare"]) / args.tests * 1000
    verdict = "PASS" if cost <= TARGET_MS else "MISS"
    print(f"  meetings_tenant's own cost: {cost:.2f} ms a test (target <= {TARGET_MS:g}) {verdict}")
    print(f"  meetings_emulator's (a whole reset) own cost: {reset:.2f} ms a test (context)")
    return 0 if cost <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
