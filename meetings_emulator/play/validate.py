"""Loading a scenario file and checking it whole, before anything is sent.

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

A bad scenario raises `InvalidScenario` naming the step.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.play.durations import _relative, parse_duration
from meetings_emulator.play.errors import InvalidScenario

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


# -- loading -----------------------------------------------------------------------------


def load_scenario(path: str | Path) -> dict[str, Any]:
    """Read a scenario file: `.json` as JSON, anything else as YAML (`yaml.safe_load`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise InvalidScenario(f"cannot read {path}: {problem}") from None
    return parse_scenario(text, str(path), as_json=path.suffix.lower() == ".json")


def parse_scenario(text: str, source: str, *, as_json: bool) -> dict[str, Any]:
    """A scenario from its text, as JSON or YAML; `source` names it in error messages."""
    if as_json:
        try:
            data = json.loads(text)
        except ValueError as problem:
            raise InvalidScenario(f"{source} is not valid JSON: {problem}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise InvalidScenario(
                f"reading {source} as YAML needs PyYAML (pip install pyyaml); or write it as .json"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as problem:
            raise InvalidScenario(f"{source} is not valid YAML: {problem}") from None
    data = _plain(data)
    if not isinstance(data, dict):
        raise InvalidScenario(f"{source}: a scenario is an object with name and steps")
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
