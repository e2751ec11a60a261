"""The emulator's state as one versioned JSON document (`statefile.py` writes it to disk).

What is kept: rooms (with their expiry due times), themes and applications, finalized logo
images, sessions with their participants (waiting ones too), recordings (with pending
uploads), the next room serial, the position of a seeded id sequence, and the clock. What
is not: the callback log and pending deliveries, temporary logo uploads, and the event log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meetings_emulator.domain.errors import InputValidationError
from meetings_emulator.domain.isotime import format_iso, parse_iso

if TYPE_CHECKING:
    from meetings_emulator.domain.emulator import Emulator

FORMAT = "meetings-emulator-state"
VERSION = 1
PARTS = ("rooms", "themes", "sessions", "logos")


def export_state(emulator: Emulator) -> dict[str, Any]:
    emulator.now()
    return {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": format_iso(emulator.clock.now()),
        "clock": {"now": emulator.clock.now().isoformat(), "frozen": emulator.clock.frozen},
        "ids": emulator.ids.export(),
        "rooms": emulator.rooms.export(),
        "themes": emulator.themes.export(),
        "sessions": emulator.sessions.export(),
        "logos": emulator.logos.export(),
    }


def import_state(emulator: Emulator, state: Any) -> None:
    """Replace the emulator's state with a saved one; the clock only ever moves forward."""
    check(state)
    current = export_state(emulator)  # put back if the saved state proves unreadable
    try:
        _restore(emulator, state)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as problem:
        _restore(emulator, current)
        raise InputValidationError(
            f"The snapshot could not be read, and nothing was changed: {type(problem).__name__}"
            f" {problem}"
        ) from None


def _restore(emulator: Emulator, state: dict[str, Any]) -> None:
    emulator.reset(keep_sequence=True)
    emulator.ids.restore(state["ids"])
    emulator.themes.restore(state["themes"])
    emulator.rooms.restore(state["rooms"])
    emulator.sessions.restore(state["sessions"])
    emulator.logos.restore(state["logos"])
    saved = parse_iso(state["clock"]["now"])
    if saved is not None and saved > emulator.clock.now():
        emulator.clock.set(saved)
    if state["clock"].get("frozen"):
        emulator.clock.freeze()
    emulator.now()


def check(state: Any) -> None:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputValidationError(f'"format" must be "{FORMAT}"')
    if state.get("version") != VERSION:
        raise InputValidationError(f'"version" must be {VERSION}: this emulator reads no other')
    missing = [part for part in (*PARTS, "clock", "ids") if part not in state]
    if missing:
        raise InputValidationError.of([f'"{part}" is required' for part in missing])
