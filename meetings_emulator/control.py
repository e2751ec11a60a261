"""The emulator's own control plane, under `/_emulator`: health, the clock, reset.

None of this existed on the live API. It needs no credentials.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from . import __version__
from .clock import ClockError
from .errors import InputValidationError
from .isotime import format_iso, parse_iso
from .web import emulator_of, json_response, method_route, read_json

MAX_ADVANCE = timedelta(days=366 * 10)
CLOCK_KEYS = ("advance_seconds", "now", "frozen")


def _clock_json(request: Request) -> dict[str, Any]:
    emulator = emulator_of(request)
    return {"now": format_iso(emulator.now()), "frozen": emulator.clock.frozen}


async def health(request: Request) -> Response:
    emulator = emulator_of(request)
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "now": format_iso(emulator.now()),
            "rooms": len(emulator.rooms),
            "available_rooms": emulator.rooms.available_count,
        }
    )


async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(request))


async def move_clock(request: Request) -> Response:
    """`{"advance_seconds": n}` or `{"now": ISO}` (never backwards), and optionally `"frozen"`.

    Every transition due on the way happens, in time order, before the answer.
    """
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems = [f'"{key}" is not allowed' for key in body if key not in CLOCK_KEYS]
    seconds = body.get("advance_seconds")
    if "advance_seconds" in body and (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_ADVANCE.total_seconds()
    ):
        problems.append(
            f'"advance_seconds" must be a number from 0 to {int(MAX_ADVANCE.total_seconds())}'
        )
    instant = parse_iso(body["now"]) if "now" in body else None
    if "now" in body and instant is None:
        problems.append('"now" must be a valid date')
    if "now" in body and "advance_seconds" in body:
        problems.append('"now" and "advance_seconds" cannot be used together')
    frozen = body.get("frozen")
    if "frozen" in body and not isinstance(frozen, bool):
        problems.append('"frozen" must be a boolean')
    if problems:
        raise InputValidationError.of(problems)

    emulator = emulator_of(request)
    if frozen is True:
        emulator.clock.freeze()
    try:
        if instant is not None:
            emulator.move_to(instant)
        elif seconds is not None:
            emulator.advance(timedelta(seconds=seconds))
    except ClockError as problem:
        raise InputValidationError(f'"now" is refused: {problem}') from None
    if frozen is False:
        emulator.clock.release()
    return json_response(_clock_json(request))


async def reset(request: Request) -> Response:
    """Forget all state. `{"seed": int}` restarts the id sequence from that seed."""
    body = await read_json(request)
    seed = body.get("seed") if isinstance(body, dict) else None
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise InputValidationError('"seed" must be an integer')
    emulator_of(request).reset(seed)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        method_route("/_emulator/health", {"GET": health}),
        method_route("/_emulator/clock", {"GET": get_clock, "POST": move_clock}),
        method_route("/_emulator/reset", {"POST": reset}),
    ]
