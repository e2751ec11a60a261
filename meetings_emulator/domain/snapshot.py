"""The emulator's state as one versioned JSON document (`statefile.py` writes it to disk).

What is kept: rooms (with their expiry due times), themes and applications, finalized logo
images, sessions with their participants (waiting ones too), recordings (with pending
uploads), the next room serial, the position of a seeded id sequence, and the clock. What
is not: the callback log and pending deliveries, temporary logo uploads, and the event log.

A document is checked whole (`snapshot_check.check_document`) before anything changes: a
refused one leaves the emulator exactly as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meetings_emulator.domain.clock import LATEST
from meetings_emulator.domain.errors import InputValidationError
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.rooms import MAX_EXPIRY_YEARS
from meetings_emulator.domain.snapshot_check import Refused, check_document, years_after

if TYPE_CHECKING:
    from meetings_emulator.domain.emulator import Emulator

FORMAT = "meetings-emulator-state"
VERSION = 1


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
    """Replace the emulator's state with a saved one; the clock only ever moves forward.
    A document that is refused raises `InputValidationError` naming its first problem, and
    changes nothing."""
    try:
        load_state(emulator, state)
    except Refused as refused:
        raise InputValidationError(refused.message) from None


def load_state(emulator: Emulator, state: Any) -> None:
    """`import_state`, raising `Refused` (with the bare problem, for a state file's error)."""
    check(state)
    now = emulator.clock.now()
    latest = years_after(now, MAX_EXPIRY_YEARS)
    note = f"{MAX_EXPIRY_YEARS} years past the emulator's clock"
    if latest > LATEST:
        latest, note = LATEST, "the latest the clock can show"
    saved_now = check_document(
        state, latest_clock=latest, clock_note=note, lead_years=MAX_EXPIRY_YEARS
    )
    _check_codes_elsewhere(emulator, state)
    # The parts `reset` replaces are new objects; the old ones are kept aside untouched,
    # so a failure the check did not foresee can put every one of them back.
    before = dict(vars(emulator))
    ids_before = emulator.ids.export()
    try:
        _restore(emulator, state)
        emulator.timers.run_until(max(saved_now, emulator.clock.now()))
    except Exception as problem:
        vars(emulator).clear()
        vars(emulator).update(before)
        emulator.ids.restore(ids_before)
        raise Refused(f"{type(problem).__name__} {problem}") from problem
    if saved_now > emulator.clock.now():
        emulator.clock.set(saved_now)
    if state["clock"].get("frozen"):
        emulator.clock.freeze()
    emulator.now()


def _check_codes_elsewhere(emulator: Emulator, state: dict[str, Any]) -> None:
    """With other tenants beside this one, no available room may take a code one of
    theirs holds: the meeting page finds a room by its code alone."""
    held_elsewhere = emulator.code_held_elsewhere
    if held_elsewhere is None:
        return
    for n, room in enumerate(state["rooms"]["rooms"]):
        if room.get("unavailable") is None and held_elsewhere(room["meeting_code"]):
            raise Refused(
                f'"rooms.rooms[{n}].meeting_code" repeats {room["meeting_code"]}, the code of an'
                " available room of another tenant"
            )


def _restore(emulator: Emulator, state: dict[str, Any]) -> None:
    emulator.reset(keep_sequence=True)
    emulator.ids.restore(state["ids"])
    emulator.themes.restore(state["themes"])
    emulator.rooms.restore(state["rooms"])
    emulator.sessions.restore(state["sessions"])
    emulator.logos.restore(state["logos"])


def check(state: Any) -> None:
    """The document's format and version: this emulator reads its own, version 1."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise Refused(f'"format" must be "{FORMAT}"', in_content=False)
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
        raise Refused(
            f'"version" must be {VERSION}: this emulator reads no other', in_content=False
        )
