"""Soak: many concurrent clients of mixed API calls against a real emulator process.

    python bench/soak.py [--clients 50] [--seconds 60] [--seed 1]

It starts `python -m meetings_emulator` on a free loopback port, runs the clients for the
given time (a bounded loop: it stops by itself), then checks that no answer was a 5xx, that
every room created is listed and readable, and how much the process's resident memory grew.
It prints a summary and exits non-zero when a check fails. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

AUTH = {"Authorization": "Basic " + base64.b64encode(b"soak:secret").decode()}
V1 = "/v1/meetings"


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    rooms: set[str] = field(default_factory=set)
    long_term: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) if found else 0


async def client_loop(
    http: httpx.AsyncClient, rng: random.Random, tally: Tally, stop: float
) -> None:
    while time.monotonic() < stop:
        operation = rng.choices(
            ["create", "create_long", "get", "list", "patch", "meeting", "theme", "delete"],
            weights=[20, 10, 30, 15, 8, 10, 4, 3],
        )[0]
        known = list(tally.rooms)
        try:
            response = await run(http, rng, operation, known, tally)
        except httpx.HTTPError as problem:
            tally.server_errors.append(f"{operation}: {type(problem).__name__}: {problem}")
            continue
        tally.operations[operation] += 1
        if response is not None:
            tally.statuses[response.status_code] += 1
            if response.status_code >= 500:
                tally.server_errors.append(
                    f"{operation}: {response.status_code} {response.text[:200]}"
                )


async def run(
    http: httpx.AsyncClient, rng: random.Random, operation: str, known: list[str], tally: Tally
) -> httpx.Response | None:
    if operation == "create" or (not known and operation != "create_long"):
        response = await http.post(f"{V1}/rooms", json={"display_name": f"soak {rng.random()}"})
        if response.status_code == 201:
            tally.rooms.add(response.json()["id"])
        return response
    if operation == "create_long":
        body = {"display_name": "soak", "type": "long_term", "expires_at": "2031-01-01T00:00:00Z"}
        response = await http.post(f"{V1}/rooms", json=body)
        if response.status_code == 201:
            tally.rooms.add(response.json()["id"])
            tally.long_term.append(response.json()["id"])
        return response
    if operation == "get":
        return await http.get(f"{V1}/rooms/{rng.choice(known)}")
    if operation == "list":
        return await http.get(f"{V1}/rooms", params={"page_size": rng.randint(1, 50)})
    if operation == "patch" and tally.long_term:
        details = {"available_features": {"is_chat_available": rng.random() < 0.5}}
        return await http.patch(
            f"{V1}/rooms/{rng.choice(tally.long_term)}", json={"update_details": details}
        )
    if operation == "meeting":
        room_id = rng.choice(known)
        joined = await http.post(f"/_emulator/rooms/{room_id}/participants", json={"name": "S"})
        if joined.status_code == 201 and joined.json()["state"] == "joined":
            person = joined.json()["participant_id"]
            return await http.delete(f"/_emulator/rooms/{room_id}/participants/{person}")
        return joined
    if operation == "theme":
        body = {"main_color": "#abc", "brand_text": "soak"}
        return (
            await http.post(f"{V1}/themes", json=body)
            if rng.random() < 0.3
            else await http.get(f"{V1}/themes")
        )
    if operation == "delete":
        return await http.delete(f"{V1}/rooms/{rng.choice(known)}")
    return None


async def every_room_listed_and_readable(http: httpx.AsyncClient, rooms: set[str]) -> list[str]:
    listed: set[str] = set()
    url: str | None = f"{V1}/rooms?page_size=1000"
    pages = 0
    while url and pages < 10_000:
        page = (await http.get(url)).json()
        listed |= {room["id"] for room in page["_embedded"]}
        url = page["_links"].get("next", {}).get("href")
        pages += 1
    problems = [f"room {room} not listed" for room in sorted(rooms - listed)]
    for room in sorted(rooms)[:2000]:
        if (await http.get(f"{V1}/rooms/{room}")).status_code != 200:
            problems.append(f"room {room} not readable")
    return problems


async def soak(url: str, pid: int, clients: int, seconds: float, seed: int) -> dict[str, Any]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=30) as http:
        # Warm up, then measure memory from there.
        await asyncio.gather(*(http.get("/_emulator/health") for _ in range(clients)))
        rss_before = rss_kib(pid)
        stop = time.monotonic() + seconds
        await asyncio.gather(
            *(
                client_loop(http, random.Random(seed * 1000 + n), tally, stop)
                for n in range(clients)
            )
        )
        rss_after = rss_kib(pid)
        lost = await every_room_listed_and_readable(http, tally.rooms)
    calls = sum(tally.operations.values())
    return {
        "clients": clients,
        "seconds": seconds,
        "calls": calls,
        "calls_per_second": round(calls / seconds),
        "statuses": dict(sorted(tally.statuses.items())),
        "rooms_created": len(tally.rooms),
        "server_errors": tally.server_errors[:20],
        "lost_rooms": lost[:20],
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "rss_growth_kib_per_room": round((rss_after - rss_before) / max(1, len(tally.rooms)), 2),
    }


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meetings_emulator",
            "--port",
            "0",
            "--max-rooms",
            "1000000",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        found = re.search(r"serving (http://\S+) ", line)
        if found:
            return process, found.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the emulator did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-growth-mib",
        type=float,
        default=512,
        help="fail when resident memory grows by more than this",
    )
    args = parser.parse_args(argv)
    process, url = start_emulator()
    try:
        result = asyncio.run(
            soak(url, process.pid, args.clients, min(args.seconds, 3600), args.seed)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    growth = result["rss_after_mib"] - result["rss_before_mib"]
    ok = not result["server_errors"] and not result["lost_rooms"] and growth <= args.max_growth_mib
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
