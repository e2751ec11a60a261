"""The check a snapshot document passes, whole, before it replaces anything.

`check_document` reads every part and raises `Refused` naming the first problem, with its
place in the document (`rooms.rooms[2].created_at`), unless the state can be restored into
an emulator that keeps working:
- types: each saved object has the fields of its model (`FIELDS`: those without a default
  are required; no others are allowed), each of its type; ids are text, room and theme ids
  lowercase UUIDs, meeting codes nine digits, counts integers below 2**53;
- dates: ISO 8601 date-times, read as UTC when they give no offset, from 1970-01-01 to five
  years and a day past the snapshot's clock; the clock itself no later than `latest_clock`
  (the caller's bound: five years past the emulator's clock);
- text: nothing holds a lone surrogate, which no UTF-8 text (a state file, an answer) can;
- references: every theme, session, recording and logo named exists (a theme of its room's
  or application's tenant). A room may be named that the snapshot lacks (a gone room the
  emulator has forgotten, whose sessions it keeps), but not by a stopped recording, whose
  upload needs its room;
- invariants: room, theme, session, participant and recording ids are unique; so are room
  serials, below `next_serial`; meeting codes among available rooms; theme names within a
  tenant, short company URLs across all; a room has at most one live session, which has
  joined participants, and an ended one has none; a session has at most one running
  (started or paused) recording, and only while it is live; a recording's dates match
  its status (a stopped one awaits its upload, an uploaded one has its upload time).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.logos import LOGO_TYPES
from meetings_emulator.domain.models import (
    CALLBACK_URL_KINDS,
    AvailableFeatures,
    JoinApprovalLevel,
    MicrophoneState,
    ParticipantState,
    RecordingOptions,
    RecordingStatus,
    RoomType,
    Unavailability,
    WaitingFor,
)

REFUSED = "The snapshot could not be read, and nothing was changed: "
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Past the snapshot's clock, beyond its five years: a stopped recording's upload (the
# upload delay is at most a day).
DATE_SLACK = timedelta(days=1)
MAX_COUNT = 2**53 - 1  # serials and seconds: what every JSON reader holds exactly
MEETING_CODE = re.compile(r"[0-9]{9}")
SURROGATE = re.compile("[\ud800-\udfff]")
SHOWN = 60  # a value named in a problem is cut to this many characters

# The fields of each saved object: True if required, False if it may be left out (the
# model's default applies). Nothing else is allowed.
FIELDS: dict[str, dict[str, bool]] = {
    "clock": {"now": True, "frozen": False},
    "ids": {"seed": False, "position": False, "token_key": True, "token_key_id": True},
    "rooms part": {"next_serial": True, "rooms": True, "expiry": False},
    "room": {
        "serial": True,
        "id": True,
        "meeting_code": True,
        "created_at": True,
        "expires_at": True,
        "settings": True,
        "host_participant_id": True,
        "host_token": True,
        "unavailable": False,
        "tenant": False,
    },
    "room settings": {
        "display_name": True,
        "type": False,
        "metadata": False,
        "expires_at": False,
        "expire_after_use": False,
        "recording_options": False,
        "theme_id": False,
        "join_approval_level": False,
        "microphone_state": False,
        "callback_urls": False,
        "available_features": False,
        "language": False,
        "default_theme": False,
    },
    "recording options": {name: False for name in RecordingOptions.__dataclass_fields__},
    "available features": {name: False for name in AvailableFeatures.__dataclass_fields__},
    "themes part": {"themes": True, "applications": False},
    "theme": {
        "theme_id": True,
        "theme_name": True,
        "account_id": True,
        "application_id": True,
        "main_color": True,
        "brand_text": True,
        "short_company_url": False,
        "domain": False,
        "logos": False,
        "tenant": False,
    },
    "application": {"application_id": True, "account_id": True, "default_theme_id": False},
    "sessions part": {"sessions": True, "recordings": True, "waiting": False, "met_before": False},
    "session": {
        "id": True,
        "room_id": True,
        "started_at": True,
        "ended_at": False,
        "host_has_joined": False,
        "participants": False,
        "recordings": False,
    },
    "participant": {
        "id": True,
        "room_id": True,
        "name": True,
        "type": True,
        "is_host": True,
        "state": True,
        "arrived_at": True,
        "waiting_for": False,
        "session_id": False,
        "joined_at": False,
        "left_at": False,
    },
    "recording": {
        "id": True,
        "session_id": True,
        "room_id": True,
        "started_at": True,
        "status": False,
        "ended_at": False,
        "uploaded_at": False,
        "started_by": False,
        "upload_due": False,
        "paused_at": False,
        "paused_seconds": False,
    },
}
PARTS = ("clock", "ids", "rooms", "themes", "sessions", "logos")

# The statuses in which each of a recording's dates is set; in the others it is null.
RECORDING_DATES = {
    "ended_at": {RecordingStatus.STOPPED, RecordingStatus.UPLOADED},
    "uploaded_at": {RecordingStatus.UPLOADED},
    "upload_due": {RecordingStatus.STOPPED},
    "paused_at": {RecordingStatus.PAUSED},
}
RUNNING = {RecordingStatus.STARTED, RecordingStatus.PAUSED}

E = TypeVar("E", bound=StrEnum)


class Refused(ValueError):
    """A snapshot the emulator will not take. `problem` names the first thing wrong;
    `message` is the error an API caller reads."""

    def __init__(self, problem: str, *, in_content: bool = True) -> None:
        super().__init__(problem)
        self.problem = problem
        self.message = REFUSED + problem if in_content else problem


def _fail(problem: str) -> NoReturn:
    raise Refused(problem)


# -- dates --------------------------------------------------------------------------------


def instant(value: Any) -> datetime | None:
    """An ISO 8601 date-time as an aware UTC datetime (UTC when it names no offset), or None
    if it is not one or falls outside the calendar in UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def saved_instant(value: Any) -> datetime | None:
    """A date of a checked snapshot: None stays None."""
    return None if value is None else instant(value)


def years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February into a year without one
        return moment.replace(year=moment.year + years, day=28)


# -- the check ------------------------------------------------------------------------------


def check_document(
    state: dict[str, Any], *, latest_clock: datetime, clock_note: str, lead_years: int
) -> datetime:
    """Check the whole of a snapshot (its format and version already checked); return its
    clock. `latest_clock` bounds the clock (`clock_note` says why, in the problem), and
    every other date lies at most `lead_years` and a day past that clock."""
    _check_text(state)
    for part in PARTS:
        if part not in state:
            _fail(f'"{part}" is required')
    clock = _fields(state["clock"], "clock", "clock")
    now = _date(clock["now"], "clock.now", EARLIEST, latest_clock, note=clock_note)
    _boolean(clock.get("frozen", False), "clock.frozen")
    check = _Check(latest=years_after(now, lead_years) + DATE_SLACK)
    check.ids(state["ids"])
    check.logos(state["logos"])
    check.themes(state["themes"])
    check.rooms(state["rooms"])
    check.sessions(state["sessions"])
    return now


@dataclass
class _Room:
    tenant: str
    available: bool


@dataclass
class _Session:
    room_id: str
    live: bool
    recordings: dict[str, str] = field(default_factory=dict)  # recording id -> its place


@dataclass
class _Check:
    latest: datetime
    logo_keys: set[str] = field(default_factory=set)
    themes_of: dict[str, str] = field(default_factory=dict)  # theme id -> tenant
    rooms_by_id: dict[str, _Room] = field(default_factory=dict)
    sessions_by_id: dict[str, _Session] = field(default_factory=dict)
    participant_ids: set[str] = field(default_factory=set)

    def date(self, value: Any, path: str, *, null: bool = False) -> datetime | None:
        if value is None and null:
            return None
        return _date(value, path, EARLIEST, self.latest)

    # -- ids and logos ------------------------------------------------------------------

    def ids(self, value: Any) -> None:
        ids = _fields(value, "ids", "ids")
        seed = ids.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            _fail('"ids.seed" must be an integer or null')
        position = ids.get("position")
        if position is not None and not _is_position(position):
            _fail('"ids.position" must be a position of the id sequence, as saved')
        key = ids["token_key"]
        if not (isinstance(key, str) and len(key) == 64 and _is_hex(key)):
            _fail('"ids.token_key" must be 64 hexadecimal digits')
        _text(ids["token_key_id"], "ids.token_key_id", empty=False)

    def logos(self, value: Any) -> None:
        for key, data in _mapping(value, "logos").items():
            path = _member("logos", key)
            if not isinstance(data, str) or not _is_base64(data):
                _fail(f'"{path}" must be base64 text')
            self.logo_keys.add(key)

    # -- themes -------------------------------------------------------------------------

    def themes(self, value: Any) -> None:
        part = _fields(value, "themes", "themes part")
        names: set[tuple[str, str]] = set()
        short_urls: set[str] = set()
        for n, item in enumerate(_list(part["themes"], "themes.themes")):
            path = f"themes.themes[{n}]"
            theme = _fields(item, path, "theme")
            theme_id = _uuid(theme["theme_id"], f"{path}.theme_id")
            if theme_id in self.themes_of:
                _fail(f'"{path}.theme_id" repeats {theme_id}, the id of another theme')
            tenant = _text(theme.get("tenant", "default"), f"{path}.tenant")
            name = _text(theme["theme_name"], f"{path}.theme_name")
            if (tenant, name) in names:
                _fail(f'"{path}.theme_name" repeats {_shown(name)}, a name in the same tenant')
            names.add((tenant, name))
            for key in ("account_id", "application_id", "main_color", "brand_text"):
                _text(theme[key], f"{path}.{key}")
            _text(theme.get("domain", ""), f"{path}.domain")
            short = _text(theme.get("short_company_url"), f"{path}.short_company_url", null=True)
            if short is not None:
                if short in short_urls:
                    _fail(
                        f'"{path}.short_company_url" repeats {_shown(short)}, the short URL of'
                        " another theme"
                    )
                short_urls.add(short)
            for logo_type, key in _mapping(theme.get("logos", {}), f"{path}.logos").items():
                where = _member(f"{path}.logos", logo_type)
                if logo_type not in LOGO_TYPES:
                    _fail(f'"{where}" is not allowed: the logo types are {", ".join(LOGO_TYPES)}')
                if _text(key, where) not in self.logo_keys:
                    _fail(f'"{where}" names logo {_shown(key)}, which the snapshot lacks')
            self.themes_of[theme_id] = tenant
        for tenant, item in _mapping(part.get("applications", {}), "themes.applications").items():
            path = _member("themes.applications", tenant)
            application = _fields(item, path, "application")
            _text(application["application_id"], f"{path}.application_id")
            _text(application["account_id"], f"{path}.account_id")
            default = application.get("default_theme_id")
            if default is not None:
                self.theme_of_tenant(default, f"{path}.default_theme_id", tenant)

    def theme_of_tenant(self, value: Any, path: str, tenant: str) -> None:
        theme_id = _text(value, path)
        if theme_id not in self.themes_of:
            _fail(f'"{path}" names theme {_shown(theme_id)}, which the snapshot lacks')
        if self.themes_of[theme_id] != tenant:
            _fail(f'"{path}" names theme {theme_id}, of another tenant')

    # -- rooms --------------------------------------------------------------------------

    def rooms(self, value: Any) -> None:
        part = _fields(value, "rooms", "rooms part")
        serials: set[int] = set()
        codes: set[str] = set()
        for n, item in enumerate(_list(part["rooms"], "rooms.rooms")):
            path = f"rooms.rooms[{n}]"
            room = _fields(item, path, "room")
            serial = _integer(room["serial"], f"{path}.serial", 1, MAX_COUNT)
            if serial in serials:
                _fail(f'"{path}.serial" repeats {serial}, the serial of another room')
            serials.add(serial)
            room_id = _uuid(room["id"], f"{path}.id")
            if room_id in self.rooms_by_id:
                _fail(f'"{path}.id" repeats {room_id}, the id of another room')
            code = room["meeting_code"]
            if not (isinstance(code, str) and MEETING_CODE.fullmatch(code)):
                _fail(f'"{path}.meeting_code" must be nine digits')
            unavailable = _choice(
                room.get("unavailable"), f"{path}.unavailable", Unavailability, null=True
            )
            if unavailable is None:
                if code in codes:
                    _fail(
                        f'"{path}.meeting_code" repeats {code}, the code of another available room'
                    )
                codes.add(code)
            self.date(room["created_at"], f"{path}.created_at")
            self.date(room["expires_at"], f"{path}.expires_at")
            _text(room["host_participant_id"], f"{path}.host_participant_id")
            _text(room["host_token"], f"{path}.host_token")
            tenant = _text(room.get("tenant", "default"), f"{path}.tenant")
            self.room_settings(room["settings"], f"{path}.settings", tenant)
            self.rooms_by_id[room_id] = _Room(tenant, unavailable is None)
        largest = max(serials, default=0)
        next_serial = _integer(part["next_serial"], "rooms.next_serial", 1, MAX_COUNT)
        if next_serial <= largest:
            _fail(f'"rooms.next_serial" must be greater than every room\'s serial ({largest})')
        for room_id, due in _mapping(part.get("expiry", {}), "rooms.expiry").items():
            path = _member("rooms.expiry", room_id)
            room = self.rooms_by_id.get(room_id)
            if room is None:
                _fail(f'"{path}" names room {_shown(room_id)}, which the snapshot lacks')
            if not room.available:
                _fail(f'"{path}" is an expiry for room {room_id}, which is not available')
            self.date(due, path)

    def room_settings(self, value: Any, path: str, tenant: str) -> None:
        settings = _fields(value, path, "room settings")
        _text(settings["display_name"], f"{path}.display_name")
        _choice(settings.get("type", "instant"), f"{path}.type", RoomType)
        _text(settings.get("metadata"), f"{path}.metadata", null=True)
        self.date(settings.get("expires_at"), f"{path}.expires_at", null=True)
        _boolean(settings.get("expire_after_use", False), f"{path}.expire_after_use")
        for name, kind in (
            ("recording_options", "recording options"),
            ("available_features", "available features"),
        ):
            flags = _fields(settings.get(name, {}), f"{path}.{name}", kind)
            for flag, set_to in flags.items():
                _boolean(set_to, f"{path}.{name}.{flag}")
        theme_id = settings.get("theme_id")
        if theme_id is not None:
            self.theme_of_tenant(theme_id, f"{path}.theme_id", tenant)
        _choice(
            settings.get("join_approval_level", "none"),
            f"{path}.join_approval_level",
            JoinApprovalLevel,
        )
        _choice(
            settings.get("microphone_state", "default"), f"{path}.microphone_state", MicrophoneState
        )
        urls = settings.get("callback_urls")
        if urls is not None:
            for kind, url in _mapping(urls, f"{path}.callback_urls").items():
                where = _member(f"{path}.callback_urls", kind)
                if kind not in CALLBACK_URL_KINDS:
                    _fail(f'"{where}" is not allowed')
                _text(url, where)
        _text(settings.get("language", "default"), f"{path}.language")
        _boolean(settings.get("default_theme", True), f"{path}.default_theme")

    # -- sessions, participants, recordings -----------------------------------------------

    def sessions(self, value: Any) -> None:
        part = _fields(value, "sessions", "sessions part")
        live_in: set[str] = set()
        for n, item in enumerate(_list(part["sessions"], "sessions.sessions")):
            path = f"sessions.sessions[{n}]"
            session = _fields(item, path, "session")
            session_id = _text(session["id"], f"{path}.id", empty=False)
            if session_id in self.sessions_by_id:
                _fail(f'"{path}.id" repeats {_shown(session_id)}, the id of another session')
            room_id = self.room(session["room_id"], f"{path}.room_id")
            self.date(session["started_at"], f"{path}.started_at")
            live = self.date(session.get("ended_at"), f"{path}.ended_at", null=True) is None
            _boolean(session.get("host_has_joined", False), f"{path}.host_has_joined")
            if live:
                if room_id in live_in:
                    _fail(f'"{path}" is a second live session in room {room_id}')
                live_in.add(room_id)
            people = _list(session.get("participants", []), f"{path}.participants")
            if live and not people:
                _fail(f'"{path}.participants" must not be empty: the session is live')
            if not live and people:
                _fail(f'"{path}.participants" must be empty: the session has ended')
            for m, person in enumerate(people):
                self.participant(
                    person,
                    f"{path}.participants[{m}]",
                    ParticipantState.JOINED,
                    room_id,
                    session_id,
                )
            seen = _Session(room_id, live)
            for m, recording_id in enumerate(
                _list(session.get("recordings", []), f"{path}.recordings")
            ):
                where = f"{path}.recordings[{m}]"
                _text(recording_id, where)
                if recording_id in seen.recordings:
                    _fail(f'"{where}" repeats recording {_shown(recording_id)}')
                seen.recordings[recording_id] = where
            self.sessions_by_id[session_id] = seen
        self.recordings(part["recordings"])
        for n, person in enumerate(_list(part.get("waiting", []), "sessions.waiting")):
            self.participant(person, f"sessions.waiting[{n}]", ParticipantState.WAITING, None, None)
        for n, room_id in enumerate(_list(part.get("met_before", []), "sessions.met_before")):
            self.room(room_id, f"sessions.met_before[{n}]")

    def room(self, value: Any, path: str) -> str:
        """A room id; the room itself may be forgotten (see the module's doc)."""
        return _uuid(value, path)

    def participant(
        self,
        value: Any,
        path: str,
        state: ParticipantState,
        room_id: str | None,
        session_id: str | None,
    ) -> None:
        """A participant in `state`: a joined one of the session `session_id` in `room_id`,
        or (both None) a waiting one, in the room it names."""
        person = _fields(value, path, "participant")
        participant_id = _text(person["id"], f"{path}.id", empty=False)
        if participant_id in self.participant_ids:
            _fail(f'"{path}.id" repeats {_shown(participant_id)}, the id of another participant')
        self.participant_ids.add(participant_id)
        if self.room(person["room_id"], f"{path}.room_id") != (room_id or person["room_id"]):
            _fail(f'"{path}.room_id" must be {room_id}, the room of its session')
        _text(person["name"], f"{path}.name")
        _text(person["type"], f"{path}.type")
        _boolean(person["is_host"], f"{path}.is_host")
        if _choice(person["state"], f"{path}.state", ParticipantState) is not state:
            _fail(f'"{path}.state" must be {state} here')
        self.date(person["arrived_at"], f"{path}.arrived_at")
        waiting_for = _choice(
            person.get("waiting_for"), f"{path}.waiting_for", WaitingFor, null=True
        )
        if (waiting_for is None) != (state is ParticipantState.JOINED):
            _fail(
                f'"{path}.waiting_for" must be '
                + ("null: they have joined" if waiting_for is not None else "host or approval")
            )
        if _text(person.get("session_id"), f"{path}.session_id", null=True) != session_id:
            _fail(f'"{path}.session_id" must be {"null" if session_id is None else session_id}')
        joined = self.date(person.get("joined_at"), f"{path}.joined_at", null=True)
        if (joined is None) != (state is ParticipantState.WAITING):
            _fail(
                f'"{path}.joined_at" must be '
                + ("null: they are waiting" if joined is not None else "a date-time: they joined")
            )
        if self.date(person.get("left_at"), f"{path}.left_at", null=True) is not None:
            _fail(f'"{path}.left_at" must be null: they have not left')

    def recordings(self, value: Any) -> None:
        running_in: set[str] = set()
        owners: dict[str, str] = {}  # recording id -> its session's id
        for n, item in enumerate(_list(value, "sessions.recordings")):
            path = f"sessions.recordings[{n}]"
            recording = _fields(item, path, "recording")
            recording_id = _text(recording["id"], f"{path}.id", empty=False)
            if recording_id in owners:
                _fail(f'"{path}.id" repeats {_shown(recording_id)}, the id of another recording')
            room_id = self.room(recording["room_id"], f"{path}.room_id")
            session_id = _text(recording["session_id"], f"{path}.session_id")
            session = self.sessions_by_id.get(session_id)
            if session is None:
                _fail(
                    f'"{path}.session_id" names session {_shown(session_id)}, which the'
                    " snapshot lacks"
                )
            status = _choice(recording.get("status", "started"), f"{path}.status", RecordingStatus)
            if status is RecordingStatus.STOPPED and room_id not in self.rooms_by_id:
                _fail(
                    f'"{path}.room_id" names room {room_id}, which the snapshot lacks: a stopped'
                    " recording needs its room, for its upload"
                )
            if session.room_id != room_id:
                _fail(f'"{path}.room_id" must be {session.room_id}, the room of its session')
            if recording_id not in session.recordings:
                _fail(f'"{path}" is not among the recordings of its session')
            owners[recording_id] = session_id
            if status in RUNNING:
                if not session.live:
                    _fail(f'"{path}.status" is {status}, but its session has ended')
                if session_id in running_in:
                    _fail(f'"{path}.status" is {status}: a second running recording in its session')
                running_in.add(session_id)
            started = self.date(recording["started_at"], f"{path}.started_at")
            for name, statuses in RECORDING_DATES.items():
                moment = self.date(recording.get(name), f"{path}.{name}", null=True)
                if moment is None and status in statuses:
                    _fail(f'"{path}.{name}" must be a date-time: the recording is {status}')
                if moment is not None and status not in statuses:
                    _fail(f'"{path}.{name}" must be null: the recording is {status}')
                if name == "ended_at" and moment is not None and started and moment < started:
                    _fail(f'"{path}.ended_at" must not be before its "started_at"')
            _text(recording.get("started_by"), f"{path}.started_by", null=True)
            _integer(recording.get("paused_seconds", 0), f"{path}.paused_seconds", 0, MAX_COUNT)
        for session_id, session in self.sessions_by_id.items():
            for recording_id, where in session.recordings.items():
                own = owners.get(recording_id)
                if own is not None and own != session_id:
                    _fail(f'"{where}" names recording {recording_id}, of another session')


# -- values ---------------------------------------------------------------------------------


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN else value[: SHOWN - 3] + "..."


def _member(path: str, key: str) -> str:
    """The place of a free-form key (a room id, a logo key) under `path`."""
    return f"{path}[{_shown(key)!r}]"


def _fields(value: Any, path: str, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(f'"{path}" must be an object')
    allowed = FIELDS[kind]
    for key in value:
        if key not in allowed:
            _fail(f'"{path}.{_shown(key)}" is not allowed')
    for key, required in allowed.items():
        if required and key not in value:
            _fail(f'"{path}.{key}" is required')
    return value


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(f'"{path}" must be an object')
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(f'"{path}" must be a list')
    return value


def _text(value: Any, path: str, *, null: bool = False, empty: bool = True) -> Any:
    if value is None and null:
        return None
    if not isinstance(value, str) or (not empty and not value):
        wanted = "text" if empty else "text, not empty"
        _fail(f'"{path}" must be {wanted}{" or null" if null else ""}')
    return value


def _uuid(value: Any, path: str) -> str:
    if isinstance(value, str) and len(value) == 36:
        try:
            if str(uuid.UUID(value)) == value:
                return value
        except ValueError:
            pass
    _fail(f'"{path}" must be a UUID, in lowercase')


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        _fail(f'"{path}" must be a boolean')
    return value


def _integer(value: Any, path: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _fail(f'"{path}" must be an integer from {low} to {high}')
    return value


@functools.cache
def _members(enum: type[E]) -> dict[str, E]:
    return {member.value: member for member in enum}


def _choice(value: Any, path: str, enum: type[E], *, null: bool = False) -> E | None:
    if value is None and null:
        return None
    member = _members(enum).get(value) if isinstance(value, str) else None
    if member is not None:
        return member
    options = ", ".join(member.value for member in enum)
    _fail(f'"{path}" must be one of [{options}]{" or null" if null else ""}')


def _date(
    value: Any, path: str, earliest: datetime, latest: datetime, *, note: str = ""
) -> datetime:
    moment = instant(value)
    if moment is None or not earliest <= moment <= latest:
        shown = f" ({note})" if note else ""
        _fail(
            f'"{path}" must be a date-time from {earliest:%Y-%m-%d} to {format_iso(latest)}{shown}'
        )
    return moment


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_position(value: Any) -> bool:
    """Whether `value` is a state of Python's Mersenne Twister, as `Ids.export` saves it."""
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[1], list)):
        return False
    version, internal, gauss = value
    if any(isinstance(item, bool) for item in (version, *internal)):
        return False
    if gauss is not None and not isinstance(gauss, float):
        return False
    try:
        random.Random().setstate((version, tuple(internal), gauss))
    except (TypeError, ValueError, OverflowError):
        return False
    return True


# -- text that cannot be written -------------------------------------------------------------


def _check_text(state: Any) -> None:
    """No text of the document may hold a lone surrogate: it could be neither answered nor
    saved. (The quick check encodes the whole; only a failure walks it to name the place.)"""
    try:
        json.dumps(state, ensure_ascii=False).encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    except (TypeError, ValueError, RecursionError):
        return  # not JSON-like at all: the checks of each part name what is wrong
    stack: list[tuple[Any, str]] = [(state, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _surrogate(value, path or "value")
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                key_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    _surrogate(key, key_path)
                stack.append((item, key_path))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{n}]") for n, item in reversed(list(enumerate(value))))


def _surrogate(text: str, path: str) -> None:
    found = SURROGATE.search(text)
    if found is not None:
        where = path.encode("ascii", "backslashreplace").decode()
        _fail(
            f'"{where}" holds a lone surrogate (U+{ord(found.group()):04X}),'
            " which no UTF-8 text can hold"
        )
