"""Playing checked steps over HTTP: one `_Player` method a step kind, each returning the line
to print, or raising `_StepFailure` at an unexpected answer or an unmet expectation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.play.durations import _relative, format_duration, parse_duration
from meetings_emulator.play.errors import _StepFailure

if TYPE_CHECKING:
    import httpx


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
