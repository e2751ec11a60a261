"""The emulator's own command line, with rooms created in-process before it serves.

    python bench/serve.py --prefill N [--prefill-type long_term|instant] [--stats FILE]
                          -- <meetings-emulator options>

Runs `meetings_emulator.cli.main` unchanged (same parser, same uvicorn and collector
settings), except that the app it builds first gets N rooms through `Emulator.rooms.create`,
the call `POST /rooms` makes after parsing: long-term rooms expiring in a year (none expires
during a bench run), or instant rooms (10 minutes, as the API's default). With `--stats`, it
writes the process's resident memory before and after as JSON. `run.py` uses it for the
paging figure (1,000 vs 100,000 rooms stored), and for memory per room and the clock move
over 100,000 expiries (instant rooms, then `POST /_emulator/clock`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from datetime import timedelta

from meetings_emulator import cli
from meetings_emulator.domain.models import RoomSettings, RoomType


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefill", type=int, default=0)
    parser.add_argument("--stats", default=None)
    parser.add_argument("--prefill-type", choices=("long_term", "instant"), default="long_term")
    parser.add_argument("emulator_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.emulator_args[1:] if args.emulator_args[:1] == ["--"] else args.emulator_args
    original = cli.create_app

    def create_app(settings, **kwargs):  # type: ignore[no-untyped-def]
        app = original(settings, **kwargs)
        emulator = app.state.emulator
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        expires_at = emulator.now() + timedelta(days=365)
        for number in range(args.prefill):
            if args.prefill_type == "instant":
                settings = RoomSettings(display_name=f"Bench room {number:06d}")
            else:
                settings = RoomSettings(
                    display_name=f"Bench room {number:06d}",
                    type=RoomType.LONG_TERM,
                    expires_at=expires_at,
                )
            emulator.rooms.create(settings)
        took = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        if args.stats:
            with open(args.stats, "w") as out:
                json.dump(
                    {
                        "rooms": args.prefill,
                        "rss_before": before,
                        "rss_after": after,
                        "seconds": took,
                    },
                    out,
                )
        return app

    cli.create_app = create_app
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
