"""What the app itself costs a request, with no server and no sockets:

    python bench/app_cost.py [--batches 7] [--batch 5000] [--rooms 1000]

Calls the emulator's ASGI app (`create_app`, timers not run in the background) and the bare
Starlette app of `baseline.py` directly, on uvloop, with the requests `run.py` sends:
`POST /v1/meetings/rooms` with its body, and `GET /v1/meetings/rooms/{id}` over `--rooms`
rooms made first, each with the same bearer JWT. Each batch sends `--batch` requests of one
kind; it prints, per app and kind, the median and lowest microseconds a request over the
batches, and the emulator's cost over bare Starlette's. The served figures of `run.py` add
uvicorn and the kernel (about as much again, and more when the peer idles between answers);
these move less with the machine's noise, so they tell a change in the app's own work from
noise. The collector runs as in the served emulator (`gc.set_threshold(10_000, 50, 1000)`).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline
import run

from meetings_emulator.app import create_app
from meetings_emulator.domain.settings import Settings

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
BODY = json.dumps(run.POST_BODY).encode()


def scope(method: str, path: str, token: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:9010"), (b"authorization", f"Bearer {token}".encode())]
    if method == "POST":
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 9010),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


async def receive_body() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def receive_nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send_nowhere(_message: dict[str, Any]) -> None:
    pass


async def make_rooms(app: App, token: str, count: int) -> list[str]:
    ids: list[str] = []

    async def keep_id(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            ids.append(json.loads(message["body"])["id"])

    for _ in range(count):
        await app(scope("POST", run.API + "/rooms", token), receive_body, keep_id)
    return ids


async def batches(
    app: App, requests: Callable[[], list[dict[str, Any]]], receive: Any, args: argparse.Namespace
) -> list[float]:
    """Microseconds a request, one figure a batch (after one batch to warm up)."""
    figures = []
    for number in range(args.batches + 1):
        prepared = requests()
        gc.collect()
        started = time.perf_counter()
        for one in prepared:
            await app(one, receive, send_nowhere)
        if number:
            figures.append((time.perf_counter() - started) / len(prepared) * 1e6)
    return figures


async def measure(args: argparse.Namespace) -> None:
    token, _public = run.make_token()
    emulator = create_app(Settings(max_rooms=10**7), run_timers=False)
    ids = await make_rooms(emulator, token, args.rooms)
    post = run.API + "/rooms"
    kinds = {
        "POST": (lambda: [scope("POST", post, token) for _ in range(args.batch)], receive_body),
        "GET": (
            lambda: [scope("GET", f"{post}/{ids[n % len(ids)]}", token) for n in range(args.batch)],
            receive_nothing,
        ),
    }
    apps: dict[str, App] = {"emulator": emulator, "bare": baseline.app}
    print(f"{args.batches} batches of {args.batch:,} requests; {args.rooms:,} rooms first")
    for kind, (requests, receive) in kinds.items():
        medians = {}
        for name, app in apps.items():
            figures = await batches(app, requests, receive, args)
            medians[name] = statistics.median(figures)
            print(
                f"  {kind:4s} {name:8s} median {medians[name]:6.1f} us/request"
                f"  (lowest {min(figures):6.1f})"
            )
        print(f"  {kind:4s} emulator / bare: {medians['emulator'] / medians['bare']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--rooms", type=int, default=1_000)
    args = parser.parse_args()
    gc.set_threshold(10_000, 50, 1000)
    uvloop.run(measure(args))


if __name__ == "__main__":
    main()
