"""`meetings-emulator play SCENARIO`: a scripted meeting, played against an emulator over HTTP.

`run_scenario` checks a scenario whole, plays it one line a step and reports the callbacks;
`main_play` is the command line, which starts an embedded emulator unless given `--url`.
SCENARIO is a file's path or a bundled scenario's name (`play --list` lists them).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock, utc_now
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.settings import Settings
from meetings_emulator.play.bundled import listing, open_scenario
from meetings_emulator.play.durations import format_duration
from meetings_emulator.play.errors import (
    InvalidScenario,
    ScenarioError,
    ScenarioFailed,
    _StepFailure,
)
from meetings_emulator.play.player import _Player
from meetings_emulator.play.validate import STEP_KINDS, validate_scenario

if TYPE_CHECKING:
    import httpx

DEFAULT_AUTH = "Basic " + base64.b64encode(b"scenario:secret").decode()
KIND_WIDTH = max(len(kind) for kind in STEP_KINDS) + 1
STARTUP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0
DESCRIPTION_WIDTH = 92


def _line(out: TextIO, number: int | str, kind: str, message: str) -> None:
    out.write(f"{number:>3}  {kind:<{KIND_WIDTH}}{message}\n")
    out.flush()


def run_scenario(
    scenario: dict[str, Any],
    base_url: str,
    *,
    out: TextIO,
    auth_header: str = DEFAULT_AUTH,
    callback_url: str | None = None,
) -> None:
    """Check `scenario`, then play it against the emulator at `base_url`, one line per step.

    Raises `InvalidScenario` before sending anything if the scenario is bad, and
    `ScenarioFailed` at the first unexpected answer or unmet expectation.
    """
    import httpx

    steps = validate_scenario(scenario)
    out.write(f"Scenario: {scenario['name']} (emulator {base_url})\n")
    for line in scenario.get("description", "").strip().splitlines():
        out.write(
            textwrap.fill(line, DESCRIPTION_WIDTH, initial_indent="  ", subsequent_indent="  ")
        )
        out.write("\n")
    with httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": auth_header},
        timeout=HTTP_TIMEOUT,
    ) as http:
        player = _Player(http)
        try:
            started = player.now()
            if callback_url is not None:
                _send_callbacks_to(http, callback_url)
        except _StepFailure as problem:
            raise ScenarioFailed(f"cannot use the emulator at {base_url}: {problem}") from None
        for step in steps:
            try:
                message = getattr(player, step.kind)(step.args)
            except _StepFailure as problem:
                raise ScenarioFailed(str(problem), step=step.number, kind=step.kind) from None
            _line(out, step.number, step.kind, message)
        try:
            elapsed = (player.now() - started).total_seconds()
            if callback_url is not None:
                _report_callbacks(http, out)
        except _StepFailure as problem:
            raise ScenarioFailed(str(problem)) from None
    out.write(
        f"Passed: {len(steps)} steps, {player.checks} expectations met,"
        f" {format_duration(elapsed)} of emulator time.\n"
    )
    out.flush()


def _send_callbacks_to(http: httpx.Client, url: str) -> None:
    answer = http.put("/_emulator/callbacks/config", json={"url": url})
    if answer.status_code != 200:
        raise _StepFailure(f"could not set the callback URL: {answer.status_code} {answer.text}")


def _report_callbacks(http: httpx.Client, out: TextIO) -> None:
    """Wait for the callbacks to go out, then show the delivery log: one line per callback."""
    http.post("/_emulator/callbacks/flush", json={"timeout": 30})
    deliveries = http.get("/_emulator/callbacks").json()["deliveries"]
    out.write(f"Callbacks ({len(deliveries)}):\n")
    for delivery in deliveries:
        attempts = delivery["attempts"]
        tries = ", ".join(
            str(a["status_code"]) if a["status_code"] is not None else str(a["error"])
            for a in attempts
        )
        plural = "" if len(attempts) == 1 else "s"
        out.write(
            f"  {delivery['event']:<27} -> {delivery['url'] or '(no URL)'}"
            f"  {delivery['status']}, {len(attempts)} attempt{plural}"
            + (f": {tries}" if tries else "")
            + "\n"
        )


# -- the command line --------------------------------------------------------------------


@contextlib.contextmanager
def embedded_emulator(start: datetime) -> Iterator[str]:
    """An emulator on a free 127.0.0.1 port, served by uvicorn in a background thread, with
    its clock frozen at `start` (so `advance` steps are instant); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(
            Settings(host="127.0.0.1", port=port, log_level="warning"),
            clock=Clock.frozen_at(start),
        )
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="meetings-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                server.should_exit = True
                raise ScenarioFailed("the embedded emulator did not start")
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=STARTUP_TIMEOUT)
    finally:
        sock.close()


def build_play_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meetings-emulator play",
        description="Play a scripted meeting (a JSON or YAML scenario) against the emulator.",
        epilog="Without --url, an emulator is started for the run, with a frozen clock.",
    )
    parser.add_argument(
        "scenario",
        nargs="?",
        help="a scenario file (.json, .yaml or .yml), or a bundled scenario's name (see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the bundled scenarios, then exit")
    parser.add_argument("--url", help="play against this running emulator instead")
    parser.add_argument(
        "--callback-url",
        help="send every callback here (e.g. to `meetings-emulator receiver`), then list them",
    )
    parser.add_argument("--api-key", default="scenario", help="Basic auth key (default: scenario)")
    parser.add_argument(
        "--api-secret", default="secret", help="Basic auth secret (default: secret)"
    )
    return parser


def main_play(argv: Sequence[str]) -> int:
    """`play SCENARIO [--url URL] [--callback-url URL]`: 0 passed, 1 failed, 2 bad scenario.

    SCENARIO is a file's path or a bundled scenario's name; `play --list` lists those.

    `argv` holds the arguments after `play` (a leading `play` is skipped too).
    """
    argv = list(argv)
    if len(argv) > 1 and argv[0] == "play":
        argv = argv[1:]
    parser = build_play_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exiting:  # --help, or a usage error argparse has already printed
        return exiting.code if isinstance(exiting.code, int) else 2
    if args.list:
        if args.scenario is not None:
            return _usage_error(parser, "--list takes no scenario")
        for line in listing():
            print(line)
        return 0
    if args.scenario is None:
        return _usage_error(parser, "a scenario is required: a file, or a name from --list")
    try:
        scenario = open_scenario(args.scenario)
        validate_scenario(scenario)
    except InvalidScenario as problem:
        print(f"{args.scenario}: {problem}", file=sys.stderr)
        return 2
    credentials = f"{args.api_key}:{args.api_secret}".encode()
    auth = "Basic " + base64.b64encode(credentials).decode()
    try:
        with contextlib.ExitStack() as stack:
            url = args.url
            if url is None:
                start = utc_now().replace(microsecond=0)
                url = stack.enter_context(embedded_emulator(start))
                print(f"Embedded emulator at {url}, clock frozen at {format_iso(start)}")
            run_scenario(
                scenario,
                url,
                out=sys.stdout,
                auth_header=auth,
                callback_url=args.callback_url,
            )
    except ScenarioError as problem:
        sys.stdout.flush()
        print(f"FAILED: {problem}", file=sys.stderr)
        return problem.exit_code
    return 0


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    try:
        parser.error(message)  # prints the usage and the message, then exits 2
    except SystemExit as exiting:
        return exiting.code if isinstance(exiting.code, int) else 2
    return 2


if __name__ == "__main__":
    sys.exit(main_play(sys.argv[1:]))
