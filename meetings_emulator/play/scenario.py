"""`meetings-emulator play SCENARIO`: a scripted meeting, played against an emulator over HTTP.

A scenario is a JSON or YAML file: `{"name", "description"?, "steps": [...]}`. Each step is
an object with one key, its kind, so it reads well in YAML:

    create_room:     {as: standup, body: {display_name: Standup, expires_at: "+2h", ...}}
    update_room:     {room: standup, update_details: {...}}
    get_room:        standup                     (or {room: standup})
    delete_room:     standup                     (or {room: standup})
    join:            {room: standup, as: avital, name: Avital, is_host: true, type: Guest}
    admit:           {participant: bob, room: standup}          (room is optional)
    leave:           {participant: avital, room: standup}       (room is optional)
    start_recording: {room: standup, as: rec1, by: avital}      (by is optional)
    stop_recording:  {recording: rec1}
    find_recording:  {room: standup, as: rec1}   (names the room's latest recording,
                                                  e.g. one that auto_record started)
    advance:         10m | 90 | 1h30m | 9m59s    (seconds; s, m and h suffixes)
    expect:          {room: standup, is_available: false}
                     {recording: rec1, status: uploaded}
                     {participant: bob, state: waiting, waiting_for: approval}
    say:             text to print

Aliases (`as`) name rooms, participants and recordings for later steps; a room's
`display_name` and a participant's `name` default to the alias. A room body's `expires_at`
may be relative to the emulator clock: `"+2h"`. `expect` compares fields of the JSON the
emulator gives (dotted paths reach nested ones: `recording_options.auto_record`); a
participant who has left reads as `{state: left}`.

The whole scenario is checked before anything is sent; a bad one raises `InvalidScenario`
naming the step. While playing, an unexpected answer or an unmet expectation raises
`ScenarioFailed`. Both are `ScenarioError`s.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import difflib
import json
import math
import re
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import uvicorn

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock, utc_now
from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.domain.settings import Settings

if TYPE_CHECKING:
    import httpx

DEFAULT_AUTH = "Basic " + base64.b64encode(b"scenario:secret").decode()
STEP_KINDS = (
    "create_room",
    "update_room",
    "get_room",
    "delete_room",
    "join",
    "admit",
    "leave",
    "start_recording",
    "stop_recording",
    "find_recording",
    "advance",
    "expect",
    "say",
)
EXPECT_TARGETS = ("room", "participant", "recording")
KIND_WIDTH = max(len(kind) for kind in STEP_KINDS) + 1
STARTUP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0
DESCRIPTION_WIDTH = 92

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = MappingProxyType({"h": 3600, "m": 60, "s": 1})


# -- errors ------------------------------------------------------------------------------


class ScenarioError(Exception):
    """A scenario that cannot be played, or that failed while playing."""

    exit_code = 1

    def __init__(self, message: str, *, step: int | None = None, kind: str | None = None) -> None:
        self.step = step
        self.kind = kind
        self.problem = message
        where = ""
        if step is not None:
            where = f"step {step}" + (f" ({kind})" if kind else "") + ": "
        super().__init__(where + message)


class InvalidScenario(ScenarioError):
    """The file is no valid scenario: nothing was played."""

    exit_code = 2


class ScenarioFailed(ScenarioError):
    """A step failed while playing: an unexpected API answer or an unmet expectation."""

    exit_code = 1


class _StepFailure(Exception):
    """Raised inside a step; the runner adds the step's number and kind."""


# -- durations ---------------------------------------------------------------------------


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90"`, `"10m"`, `"1h30m"` or `"9m59s"`; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a duration is a number of seconds or a text like 10m, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "").lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(
                float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError(
                f"bad duration {value!r}: use seconds (90) or s, m and h (30s, 10m, 1h30m)"
            )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"bad duration {value!r}: it must be a finite number, not negative")
    return seconds


def format_duration(seconds: float) -> str:
    """`600` -> `10m`, `3605` -> `1h0m5s`, `1.5` -> `1.5s` (whole seconds from a minute on)."""
    if seconds >= 60:
        seconds = round(seconds)
    if seconds != int(seconds):
        return f"{round(seconds, 3):g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes or (hours and secs):
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)


def _relative(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("+")


# -- loading -----------------------------------------------------------------------------


def load_scenario(path: str | Path) -> dict[str, Any]:
    """Read a scenario file: `.json` as JSON, anything else as YAML (`yaml.safe_load`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise InvalidScenario(f"cannot read {path}: {problem}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as problem:
            raise InvalidScenario(f"{path} is not valid JSON: {problem}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise InvalidScenario(
                f"reading {path} as YAML needs PyYAML (pip install pyyaml); or write it as .json"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as problem:
            raise InvalidScenario(f"{path} is not valid YAML: {problem}") from None
    data = _plain(data)
    if not isinstance(data, dict):
        raise InvalidScenario(f"{path}: a scenario is an object with name and steps")
    return data


def _plain(value: Any) -> Any:
    """YAML's dates and times as the API's ISO text, so every value is plain JSON."""
    if isinstance(value, datetime):
        return format_iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# -- validation --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One checked step: its 1-based number, its kind and its normalised arguments."""

    number: int
    kind: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Alias:
    kind: str  # "room", "participant" or "recording"
    step: int
    room: str | None = None  # the room a participant or recording belongs to


class _Validator:
    """Checks steps in order, so an alias is known only after the step that names it."""

    def __init__(self) -> None:
        self.aliases: dict[str, _Alias] = {}
        self.number = 0
        self.kind = ""

    def fail(self, message: str) -> NoReturn:
        raise InvalidScenario(message, step=self.number, kind=self.kind or None)

    def step(self, number: int, raw: Any) -> Step:
        self.number, self.kind = number, ""
        if not isinstance(raw, dict) or len(raw) != 1:
            self.fail(
                'a step is an object with exactly one key, its kind (like {"join": {...}}); '
                f"got {json.dumps(raw, default=str)[:80]}"
            )
        kind, value = next(iter(raw.items()))
        if kind not in STEP_KINDS:
            close = difflib.get_close_matches(str(kind), STEP_KINDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.fail(f"unknown step kind {kind!r}{hint}; known kinds: {', '.join(STEP_KINDS)}")
        self.kind = kind
        return Step(number, kind, getattr(self, f"_check_{kind}")(value))

    # helpers

    def fields(
        self, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(f"takes an object with {', '.join(required)}; got {value!r}")
        problems = [f"{key!r} is required" for key in required if key not in value]
        allowed = required + optional
        problems += [
            f"{key!r} is not allowed (allowed: {', '.join(allowed)})"
            for key in value
            if key not in allowed
        ]
        if problems:
            self.fail("; ".join(problems))
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{key!r} must be a non-empty text, not {value!r}")
        return value

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(f"{key!r} must be true or false, not {value!r}")
        return value

    def new_alias(self, value: Any, kind: str, room: str | None = None) -> str:
        alias = self.text(value, "as")
        known = self.aliases.get(alias)
        if known is not None:
            self.fail(f"{alias!r} already names a {known.kind} (step {known.step})")
        self.aliases[alias] = _Alias(kind, self.number, room)
        return alias

    def alias(self, value: Any, kind: str) -> _Alias:
        name = self.text(value, kind)
        known = self.aliases.get(name)
        if known is None:
            same_kind = [alias for alias, a in self.aliases.items() if a.kind == kind]
            close = difflib.get_close_matches(name, same_kind, n=1)
            if close:
                hint = f" (did you mean {close[0]!r}?)"
            elif same_kind:
                hint = f" (known {kind}s: {', '.join(same_kind)})"
            else:
                hint = f" (no {kind} is named yet)"
            self.fail(f"unknown {kind} {name!r}: no earlier step names it{hint}")
        if known.kind != kind:
            self.fail(f"{name!r} is a {known.kind} (step {known.step}), not a {kind}")
        return known

    def duration(self, value: Any, key: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as problem:
            self.fail(f"{key}: {problem}")

    def relative_expiry(self, body: dict[str, Any], key: str) -> None:
        if _relative(body.get("expires_at")):
            self.duration(body["expires_at"].strip()[1:], f"{key}.expires_at")

    def room_only(self, value: Any) -> dict[str, Any]:
        """`standup` or `{room: standup}`."""
        if isinstance(value, dict):
            value = self.fields(value, ("room",))["room"]
        self.alias(value, "room")
        return {"room": value}

    def participant_in_room(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("participant",), ("room",))
        who = self.alias(fields["participant"], "participant")
        if "room" in fields:
            self.alias(fields["room"], "room")
            if fields["room"] != who.room:
                self.fail(
                    f"participant {fields['participant']!r} joined room {who.room!r},"
                    f" not {fields['room']!r}"
                )
        return {"participant": fields["participant"], "room": who.room}

    # one check per step kind

    def _check_create_room(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("as",), ("body",))
        body = fields.get("body", {})
        if not isinstance(body, dict):
            self.fail(f"'body' must be an object (the room to create), not {body!r}")
        self.relative_expiry(body, "body")
        return {"as": self.new_alias(fields["as"], "room"), "body": body}

    def _check_update_room(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("room", "update_details"))
        self.alias(fields["room"], "room")
        details = fields["update_details"]
        if not isinstance(details, dict):
            self.fail(f"'update_details' must be an object, not {details!r}")
        self.relative_expiry(details, "update_details")
        return {"room": fields["room"], "update_details": details}

    def _check_get_room(self, value: Any) -> dict[str, Any]:
        return self.room_only(value)

    def _check_delete_room(self, value: Any) -> dict[str, Any]:
        return self.room_only(value)

    def _check_join(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("room", "as"), ("name", "is_host", "type"))
        self.alias(fields["room"], "room")
        args: dict[str, Any] = {
            "room": fields["room"],
            "as": self.new_alias(fields["as"], "participant", fields["room"]),
            "name": self.text(fields.get("name", fields["as"]), "name"),
            "is_host": self.flag(fields.get("is_host", False), "is_host"),
        }
        if "type" in fields:
            args["type"] = self.text(fields["type"], "type")
        return args

    def _check_admit(self, value: Any) -> dict[str, Any]:
        return self.participant_in_room(value)

    def _check_leave(self, value: Any) -> dict[str, Any]:
        return self.participant_in_room(value)

    def _check_start_recording(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("room", "as"), ("by",))
        self.alias(fields["room"], "room")
        args = {"room": fields["room"], "by": None}
        if "by" in fields:
            starter = self.alias(fields["by"], "participant")
            if starter.room != fields["room"]:
                self.fail(
                    f"participant {fields['by']!r} joined room {starter.room!r}, not this one"
                )
            args["by"] = fields["by"]
        args["as"] = self.new_alias(fields["as"], "recording", fields["room"])
        return args

    def _check_stop_recording(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("recording",))
        self.alias(fields["recording"], "recording")
        return {"recording": fields["recording"]}

    def _check_find_recording(self, value: Any) -> dict[str, Any]:
        fields = self.fields(value, ("room", "as"))
        self.alias(fields["room"], "room")
        return {"room": fields["room"], "as": self.new_alias(fields["as"], "recording")}

    def _check_advance(self, value: Any) -> dict[str, Any]:
        return {"seconds": self.duration(value, "advance")}

    def _check_expect(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(f"takes an object like {{room: standup, is_available: false}}; got {value!r}")
        targets = [key for key in EXPECT_TARGETS if key in value]
        if len(targets) != 1:
            self.fail(
                f"needs exactly one of {', '.join(EXPECT_TARGETS)} to say what to check"
                + (f"; got {', '.join(targets)}" if targets else "")
            )
        target = targets[0]
        self.alias(value[target], target)
        checks = {key: expected for key, expected in value.items() if key != target}
        if not checks:
            self.fail(f"names a {target} but no field to check (like is_available: false)")
        for key in checks:
            if not isinstance(key, str) or not key.strip(".") or ".." in key:
                self.fail(f"{key!r} is not a field name (use dots for nested fields)")
        return {"target": target, "alias": value[target], "checks": checks}

    def _check_say(self, value: Any) -> dict[str, Any]:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(f"takes the text to print, not {value!r}")
        return {"text": str(value)}


def validate_scenario(scenario: Any) -> list[Step]:
    """Check a loaded scenario completely, before anything is sent; `InvalidScenario` if bad."""
    if not isinstance(scenario, dict):
        raise InvalidScenario("a scenario is an object with name and steps")
    allowed = ("name", "description", "steps")
    unknown = [key for key in scenario if key not in allowed]
    if unknown:
        raise InvalidScenario(
            f"unknown top-level key {unknown[0]!r} (allowed: {', '.join(allowed)})"
        )
    name = scenario.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidScenario("the scenario needs a 'name' (a non-empty text)")
    if not isinstance(scenario.get("description", ""), str):
        raise InvalidScenario("'description' must be a text")
    steps = scenario.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidScenario("the scenario needs 'steps': a non-empty list")
    validator = _Validator()
    return [validator.step(number, raw) for number, raw in enumerate(steps, start=1)]


# -- playing -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Person:
    room: str
    id: str
    name: str


def _short(session_id: str | None) -> str:
    return "?" if not session_id else f"{session_id[:12]}..."


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _dig(body: Any, path: str) -> tuple[bool, Any]:
    """The value at a dotted path of a JSON object, and whether it was there at all."""
    for part in path.split("."):
        if isinstance(body, dict) and part in body:
            body = body[part]
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return False, None
    return True, body


class _Player:
    """Plays checked steps over one HTTP client, keeping what each alias stands for."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.rooms: dict[str, str] = {}  # alias -> room id
        self.people: dict[str, _Person] = {}
        self.recordings: dict[str, str] = {}  # alias -> recording id
        self.sessions: dict[str, str] = {}  # room alias -> its latest session id
        self.available: dict[str, bool] = {}  # room alias -> last seen availability
        self.status: dict[str, str] = {}  # recording alias -> last seen status
        self.checks = 0

    # HTTP

    def call(
        self, method: str, path: str, expected: int, body: dict[str, Any] | None = None
    ) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError as problem:
            raise _StepFailure(
                f"{method} {path} failed: {problem or type(problem).__name__}"
            ) from None
        if response.status_code != expected:
            raise _StepFailure(
                f"{method} {path} answered {response.status_code} (expected {expected}):"
                f" {response.text.strip() or '(empty body)'}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise _StepFailure(f"{method} {path} answered {expected} but not JSON") from None

    def now(self) -> datetime:
        answer = self.call("GET", "/_emulator/clock", 200)
        instant = parse_iso(answer.get("now")) if isinstance(answer, dict) else None
        if instant is None:
            raise _StepFailure(f"GET /_emulator/clock answered no time: {answer!r}")
        return instant

    def meeting(self, room: str) -> dict[str, Any]:
        return self.call("GET", f"/_emulator/rooms/{self.rooms[room]}/session", 200)

    def absolute(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of a room body whose `"+2h"` expiry is made absolute from the emulator clock."""
        if not _relative(body.get("expires_at")):
            return dict(body)
        lead = parse_duration(body["expires_at"].strip()[1:])
        return {**body, "expires_at": format_iso(self.now() + timedelta(seconds=lead))}

    def saw_session(self, room: str, session_id: str | None) -> str:
        """`(session ...)`, noting when it has just started and auto_record started a recording."""
        if not session_id:
            return ""
        started = self.sessions.get(room) != session_id
        self.sessions[room] = session_id
        if not started:
            return f" (session {_short(session_id)})"
        session = self.meeting(room).get("session") or {}
        recording = any(r.get("status") == "started" for r in session.get("recordings", []))
        note = "; auto_record started a recording" if recording else ""
        return f" (session {_short(session_id)} started{note})"

    # steps

    def create_room(self, args: dict[str, Any]) -> str:
        body = self.absolute(args["body"])
        body.setdefault("display_name", args["as"])
        room = self.call("POST", "/v1/meetings/rooms", 201, body)
        self.rooms[args["as"]] = room["id"]
        self.available[args["as"]] = bool(room.get("is_available"))
        return (
            f"{room.get('type')} room {args['as']} ({room.get('display_name')!r}) created,"
            f" expires {room.get('expires_at')}, meeting code {room.get('meeting_code')}"
        )

    def update_room(self, args: dict[str, Any]) -> str:
        details = self.absolute(args["update_details"])
        path = f"/v1/meetings/rooms/{self.rooms[args['room']]}"
        room = self.call("PATCH", path, 200, {"update_details": details})
        changed = ", ".join(details) or "nothing"
        return f"room {args['room']} updated ({changed}); expires {room.get('expires_at')}"

    def get_room(self, args: dict[str, Any]) -> str:
        room = self.call("GET", f"/v1/meetings/rooms/{self.rooms[args['room']]}", 200)
        self.available[args["room"]] = bool(room.get("is_available"))
        state = "available" if room.get("is_available") else "not available"
        return (
            f"room {args['room']}: {room.get('type')}, {state}, expires {room.get('expires_at')},"
            f" meeting code {room.get('meeting_code')}, id {room.get('id')}"
        )

    def delete_room(self, args: dict[str, Any]) -> str:
        self.call("DELETE", f"/v1/meetings/rooms/{self.rooms[args['room']]}", 204)
        self.available[args["room"]] = False
        return f"room {args['room']} deleted"

    def join(self, args: dict[str, Any]) -> str:
        body: dict[str, Any] = {"name": args["name"], "is_host": args["is_host"]}
        if "type" in args:
            body["type"] = args["type"]
        room = args["room"]
        joined = self.call("POST", f"/_emulator/rooms/{self.rooms[room]}/participants", 201, body)
        self.people[args["as"]] = _Person(room, joined["participant_id"], args["name"])
        who = args["name"] + (" (host)" if args["is_host"] else "")
        if joined.get("state") == "waiting":
            return (
                f"{who} is waiting to enter room {room} (waiting for {joined.get('waiting_for')})"
            )
        return f"{who} joined room {room}" + self.saw_session(room, joined.get("session_id"))

    def admit(self, args: dict[str, Any]) -> str:
        person = self.people[args["participant"]]
        path = f"/_emulator/rooms/{self.rooms[person.room]}/participants/{person.id}/admit"
        admitted = self.call("POST", path, 200)
        return f"{person.name} admitted to room {person.room}" + self.saw_session(
            person.room, admitted.get("session_id")
        )

    def leave(self, args: dict[str, Any]) -> str:
        person = self.people[args["participant"]]
        path = f"/_emulator/rooms/{self.rooms[person.room]}/participants/{person.id}"
        was_live = self.meeting(person.room).get("session") is not None
        self.call("DELETE", path, 204)
        message = f"{person.name} left room {person.room}"
        if was_live and self.meeting(person.room).get("session") is None:
            message += "; the session ended"
        return message

    def start_recording(self, args: dict[str, Any]) -> str:
        room = args["room"]
        session = self.meeting(room).get("session")
        if not session:
            raise _StepFailure(f"room {room} has no live session to record: nobody has joined")
        body = {}
        if args["by"] is not None:
            body["participant_id"] = self.people[args["by"]].id
        path = f"/_emulator/sessions/{session['session_id']}/recordings"
        recording = self.call("POST", path, 201, body)
        self.recordings[args["as"]] = recording["id"]
        self.status[args["as"]] = recording.get("status", "")
        by = f" by {self.people[args['by']].name}" if args["by"] is not None else ""
        return f"recording {args['as']} started in room {room}{by} (id {recording['id']})"

    def stop_recording(self, args: dict[str, Any]) -> str:
        alias = args["recording"]
        recording = self.call("POST", f"/_emulator/recordings/{self.recordings[alias]}/stop", 200)
        self.status[alias] = recording.get("status", "")
        started = parse_iso(recording.get("started_at") or "")
        ended = parse_iso(recording.get("ended_at") or "")
        length = ""
        if started and ended:
            length = f" after {format_duration((ended - started).total_seconds())}"
        return f"recording {alias} {recording.get('status')}{length}"

    def find_recording(self, args: dict[str, Any]) -> str:
        room = args["room"]
        session = self.meeting(room).get("session")
        session_id = session["session_id"] if session else self.sessions.get(room)
        if not session_id:
            raise _StepFailure(f"room {room} has had no session, so no recording")
        listing = self.call("GET", f"/v1/meetings/sessions/{session_id}/recordings", 200)
        recordings = (listing.get("_embedded") or {}).get("recordings") or []
        if not recordings:
            raise _StepFailure(f"session {_short(session_id)} of room {room} has no recording")
        recording = recordings[-1]
        self.recordings[args["as"]] = recording["id"]
        self.status[args["as"]] = recording.get("status", "")
        return (
            f"recording {args['as']} is {recording['id']} in room {room}"
            f" (status {recording.get('status')})"
        )

    def advance(self, args: dict[str, Any]) -> str:
        answer = self.call("POST", "/_emulator/clock", 200, {"advance_seconds": args["seconds"]})
        changes = []
        for room, available in self.available.items():
            if available:
                now_available = bool(
                    self.call("GET", f"/v1/meetings/rooms/{self.rooms[room]}", 200).get(
                        "is_available"
                    )
                )
                if not now_available:
                    changes.append(f"room {room} expired")
                self.available[room] = now_available
        for alias, status in self.status.items():
            if status != "uploaded":
                current = self.call("GET", f"/v1/meetings/recordings/{self.recordings[alias]}", 200)
                if current.get("status") != status:
                    changes.append(f"recording {alias} {current.get('status')}")
                self.status[alias] = current.get("status", "")
        happened = f"; {', '.join(changes)}" if changes else ""
        return f"clock +{format_duration(args['seconds'])}, now {answer.get('now')}{happened}"

    def expect(self, args: dict[str, Any]) -> str:
        target, alias = args["target"], args["alias"]
        actual = self.observe(target, alias)
        failures, passed = [], []
        for key, expected in args["checks"].items():
            found, value = _dig(actual, key)
            if not found:
                failures.append(f"{target} {alias} has no field {key!r}")
            elif value != expected or isinstance(value, bool) != isinstance(expected, bool):
                failures.append(
                    f"expected {target} {alias} to have {key} {_show(expected)}, got {_show(value)}"
                )
            else:
                passed.append(f"{key} {_show(value)}")
        if failures:
            raise _StepFailure("; ".join(failures))
        self.checks += len(passed)
        return f"{target} {alias}: {', '.join(passed)} (as expected)"

    def observe(self, target: str, alias: str) -> dict[str, Any]:
        """The JSON an `expect` step checks: the room, the recording, or the participant."""
        if target == "room":
            room = self.call("GET", f"/v1/meetings/rooms/{self.rooms[alias]}", 200)
            self.available[alias] = bool(room.get("is_available"))
            return room
        if target == "recording":
            recording = self.call("GET", f"/v1/meetings/recordings/{self.recordings[alias]}", 200)
            self.status[alias] = recording.get("status", "")
            return recording
        person = self.people[alias]
        meeting = self.meeting(person.room)
        present = [*((meeting.get("session") or {}).get("participants") or [])]
        present += meeting.get("waiting") or []
        for participant in present:
            if participant.get("participant_id") == person.id:
                return participant
        return {"participant_id": person.id, "name": person.name, "state": "left"}

    def say(self, args: dict[str, Any]) -> str:
        return args["text"]


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
    parser.add_argument("scenario", help="the scenario file (.json, .yaml or .yml)")
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
    try:
        scenario = load_scenario(args.scenario)
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


if __name__ == "__main__":
    sys.exit(main_play(sys.argv[1:]))
