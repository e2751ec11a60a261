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


async def set_clock(request: Request) -> Response:
    """`{"now": ISO date-time, "frozen": bool}`, either or both."""
    body = await read_json(request)
    problems: list[str] = []
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems += [f'"{key}" is not allowed' for key in body if key not in ("now", "frozen")]
    frozen = body.get("frozen")
    if frozen is not None and not isinstance(frozen, bool):
        problems.append('"frozen" must be a boolean')
    instant = parse_iso(body["now"]) if "now" in body else None
    if "now" in body and instant is None:
        problems.append('"now" must be a valid date')
    if problems:
        raise InputValidationError.of(problems)
    emulator = emulator_of(request)
    try:
        if instant is not None:
            emulator.move_to(instant, frozen=frozen)
        elif frozen is True:
            emulator.clock.freeze()
        elif frozen is False:
            emulator.clock.release()
    except ClockError as problem:
        raise InputValidationError(f'"now" is refused: {problem}') from None
    return json_response(_clock_json(request))


async def advance_clock(request: Request) -> Response:
    """`{"seconds": number}`: every transition due on the way happens before the answer."""
    body = await read_json(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise InputValidationError('"seconds" must be a number')
    if not 0 <= seconds <= MAX_ADVANCE.total_seconds():
        raise InputValidationError(
            f'"seconds" must be between 0 and {int(MAX_ADVANCE.total_seconds())}'
        )
    emulator_of(request).advance(timedelta(seconds=seconds))
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
        method_route("/_emulator/clock", {"GET": get_clock, "PUT": set_clock}),
        method_route("/_emulator/clock/advance", {"POST": advance_clock}),
        method_route("/_emulator/reset", {"POST": reset}),
    ]
