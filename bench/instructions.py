"""Instructions a request costs the app, counted by valgrind's callgrind:

    python bench/instructions.py [--requests 2000] [--rooms 200]

The same calls as `app_cost.py` (the ASGI app called directly, no server, no sockets), but
counted in machine instructions rather than timed, so the figure repeats whatever else the
machine is doing. Each kind runs twice under callgrind, with no requests and with
`--requests`; the difference over the requests is the cost of one. Callgrind runs the
interpreter about fifty times slower, so a run takes a minute or two. Needs `valgrind`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def count(kind: str, requests: int, rooms: int, token: str) -> int:
    """Instructions of one whole run of `one_run` under callgrind."""
    # The token is made once, out here: making an RSA key costs a random number of
    # instructions. A fixed hash seed keeps dictionaries alike from run to run.
    env = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_TOKEN": token}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(Path(__file__).resolve()),
                "--one-run",
                kind,
                str(requests),
                str(rooms),
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), flags=re.MULTILINE)
        if match is None:
            raise SystemExit(f"no summary line in {out}")
        return int(match.group(1))


def one_run(kind: str, requests: int, rooms: int) -> None:
    sys.path.insert(0, str(HERE))
    import app_cost
    import run

    from meetings_emulator.app import create_app

    try:
        from meetings_emulator.domain.clock import Clock
        from meetings_emulator.domain.settings import Settings
    except ImportError:  # the package before it was split into layers
        from meetings_emulator.clock import Clock  # type: ignore[no-redef]
        from meetings_emulator.settings import Settings  # type: ignore[no-redef]

    async def go() -> None:
        token = os.environ["BENCH_TOKEN"]
        # A frozen clock: under callgrind the wall clock runs about fifty times slower than
        # the program, and work that happens once per emulator second would be counted.
        settings = Settings(max_rooms=10**7, seed=1)
        app = create_app(settings, clock=Clock(frozen=True), run_timers=False)
        ids = await app_cost.make_rooms(app, token, rooms)
        post = run.API + "/rooms"
        if kind == "POST":
            calls = [app_cost.scope("POST", post, token) for _ in range(requests)]
            receive = app_cost.receive_body
        else:
            paths = [f"{post}/{ids[n % rooms]}" for n in range(requests)]
            calls = [app_cost.scope("GET", path, token) for path in paths]
            receive = app_cost.receive_nothing
        gc.collect()
        for call in calls:
            await app(call, receive, app_cost.send_nowhere)

    gc.set_threshold(10_000, 50, 1000)
    asyncio.run(go())


def main() -> None:
    if sys.argv[1:2] == ["--one-run"]:
        one_run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rooms", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import run

    token, _public = run.make_token()
    for kind in ("POST", "GET"):
        empty = count(kind, 0, args.rooms, token)
        full = count(kind, args.requests, args.rooms, token)
        print(f"{kind:4s} {(full - empty) / args.requests:10,.0f} instructions/request", flush=True)


if __name__ == "__main__":
    main()
