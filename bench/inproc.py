"""In-process figures, one child process per run (so each starts from a fresh heap):

    python bench/inproc.py --rooms 100000

Builds an `Emulator` (callbacks off: no callback URL) on a frozen clock, creates the rooms
with `rooms.create` (the call `POST /rooms` makes after parsing its body: instant rooms,
each with its own name), and prints one JSON line:
- `rss_before`, `rss_after`: resident memory of this process around the creation (bytes);
- `create_seconds`: how long creating them took;
- `advance_seconds`: how long `Emulator.advance` took to move the clock 10 min 1 s, past
  every room's expiry (`advance_cpu_seconds`: the CPU time it took); `expired`: how many
  rooms it expired (all of them, or it says so).
With `--profile FILE`, the advance runs under pyinstrument and its text report goes to FILE.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from datetime import UTC, datetime, timedelta

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomSettings
from meetings_emulator.domain.settings import Settings


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=100_000)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    emulator = Emulator(
        Settings(max_rooms=args.rooms * 2),
        clock=Clock.frozen_at(datetime(2026, 1, 1, tzinfo=UTC)),
        ids=Ids(seed=1),
    )
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for number in range(args.rooms):
        emulator.rooms.create(RoomSettings(display_name=f"Bench room {number:06d}"))
    created = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    assert emulator.rooms.available_count == args.rooms

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    started, cpu = time.perf_counter(), time.process_time()
    emulator.advance(timedelta(minutes=10, seconds=1))
    advanced, advanced_cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False))
    print(
        json.dumps(
            {
                "rooms": args.rooms,
                "rss_before": before,
                "rss_after": after,
                "create_seconds": created,
                "advance_seconds": advanced,
                "advance_cpu_seconds": advanced_cpu,
                "expired": args.rooms - emulator.rooms.available_count,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
