"""Meetings in rooms: participants join and leave, sessions start and end, recordings run.

The live API only observed these (people joined in the browser); here a test or a demo
plays the people. The rules:
- A session starts when the first participant is admitted to an available room, and ends
  when the last one leaves. A room has at most one live session.
- Instant room: its expiry is held while a session is on; when the last participant leaves
  it expires 10 minutes later, unless someone joins again before then (a new session).
- Long-term room with `expire_after_use`: it expires 10 minutes after a session ends (or at
  `expires_at` if sooner), unless a new session starts first. Once a long-term room's
  meeting has ended, the next one starts only when a host joins first.
- `join_approval_level`: `after_owner_only` keeps guests waiting until a host has joined the
  session; `explicit_approval` keeps them waiting until admitted. Waiting is not joining.
- Recordings: one at a time per session; `started` -> `stopped` -> `uploaded` after the
  upload delay. `auto_record` starts one as the session starts, and it cannot be stopped
  by hand; `record_only_owner` lets only a host start one. A session's end stops its
  recordings. Recording times are whole seconds, as the live service gave them.
- Pausing: a `started` recording can be `paused` and resumed (`started` again), by the
  control plane (the live API only reported the status). A paused recording is still the
  session's one recording; stopping it, or the session's end, ends it. Its `duration` is
  the time recorded: from start to end, less the whole seconds spent paused. An
  `auto_record` recording can be paused and resumed too: a pause does not end it. A pause
  sends no callback (the API had no event for one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InternalServerError,
    NotFoundError,
)
from meetings_emulator.domain.events import (
    Event,
    ParticipantJoined,
    ParticipantLeft,
    RecordingEnded,
    RecordingStarted,
    RecordingUploaded,
    SessionEnded,
    SessionStarted,
)
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import (
    JoinApprovalLevel,
    Participant,
    ParticipantState,
    Recording,
    RecordingStatus,
    Room,
    RoomType,
    Session,
    WaitingFor,
)
from meetings_emulator.domain.plain import plain
from meetings_emulator.domain.rooms import Rooms
from meetings_emulator.domain.snapshot_check import saved_instant
from meetings_emulator.domain.timers import Timers

EMPTY_ROOM_LIFETIME = timedelta(minutes=10)
# A recording that is the session's one recording until it ends.
RUNNING = frozenset({RecordingStatus.STARTED, RecordingStatus.PAUSED})
DEFAULT_UPLOAD_DELAY = timedelta(seconds=5)
PARTICIPANT_NAME_MAX = 200


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


class Sessions:
    def __init__(
        self,
        clock: Clock,
        ids: Ids,
        timers: Timers,
        rooms: Rooms,
        *,
        on_event: Callable[[Event], None],
        upload_delay: timedelta = DEFAULT_UPLOAD_DELAY,
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._timers = timers
        self._rooms = rooms
        self._emit = on_event
        self.upload_delay = upload_delay
        self._live: dict[str, Session] = {}  # room id -> its live session
        self._waiting: dict[str, dict[str, Participant]] = {}  # room id -> waiting room
        self._met_before: set[str] = set()  # long-term rooms whose meeting has ended once
        self._sessions: dict[str, Session] = {}
        self._recordings: dict[str, Recording] = {}

    # -- reading ------------------------------------------------------------------------

    def live_session(self, room_id: str) -> Session | None:
        room = self._rooms.get(room_id)
        return self._live.get(room.id)

    def waiting(self, room_id: str) -> list[Participant]:
        room = self._rooms.get(room_id)
        return list(self._waiting.get(room.id, {}).values())

    def session(self, session_id: str) -> Session:
        self._rooms.now()
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFoundError(f"Session {session_id} was not found")
        return session

    def participant(self, room_id: str, participant_id: str) -> Participant:
        room = self._rooms.get(room_id)
        found = self._waiting.get(room.id, {}).get(participant_id)
        live = self._live.get(room.id)
        if found is None and live is not None:
            found = live.participants.get(participant_id)
        if found is None:
            raise NotFoundError(f"Participant {participant_id} is not in room {room.id}")
        return found

    # -- people -------------------------------------------------------------------------

    def join(
        self, room_id: str, name: str, *, is_host: bool = False, type: str = "Guest"
    ) -> Participant:
        """Someone opens the room's link: they join, or wait if the room's rules say so."""
        room = self._rooms.get(room_id)
        now = self._rooms.now()
        if not room.is_available:
            raise ConflictError(
                f"Room {room.id} is not available ({room.unavailable}): no one can join it"
            )
        participant = Participant(
            id=self._ids.uuid(),
            room_id=room.id,
            name=name,
            type=type,
            is_host=is_host,
            state=ParticipantState.WAITING,
            arrived_at=now,
        )
        participant.waiting_for = self._reason_to_wait(room, participant)
        if participant.waiting_for is None:
            self._admit(room, participant, now)
        else:
            self._waiting.setdefault(room.id, {})[participant.id] = participant
        return participant

    def admit(self, room_id: str, participant_id: str) -> Participant:
        """A host lets a waiting participant in."""
        room = self._rooms.get(room_id)
        now = self._rooms.now()
        participant = self._waiting.get(room.id, {}).get(participant_id)
        if participant is None:
            self.participant(room.id, participant_id)  # 404 if unknown
            raise ConflictError(f"Participant {participant_id} is not waiting")
        if not room.is_available and room.id not in self._live:
            raise ConflictError(
                f"Room {room.id} is not available ({room.unavailable}): no one can join it"
            )
        del self._waiting[room.id][participant_id]
        self._admit(room, participant, now)
        return participant

    def leave(self, room_id: str, participant_id: str) -> Participant:
        """Someone closes the meeting, or a waiting participant gives up (no callback)."""
        room = self._rooms.get(room_id)
        now = self._rooms.now()
        participant = self.participant(room.id, participant_id)
        participant.state = ParticipantState.LEFT
        participant.left_at = now
        waiting = self._waiting.get(room.id, {})
        if participant.id in waiting:
            del waiting[participant.id]
            return participant
        session = self._live[room.id]
        del session.participants[participant.id]
        self._emit(ParticipantLeft(room, now, session, participant))
        if not session.participants:
            self._end_session(room, session, now)
        return participant

    # -- recordings ---------------------------------------------------------------------

    def start_recording(self, session_id: str, participant_id: str | None = None) -> Recording:
        """Start recording a live session; `participant_id` names who pressed the button."""
        session = self.session(session_id)
        room = self._rooms.get(session.room_id)
        if not session.is_live:
            raise ConflictError(f"Session {session_id} has ended")
        starter = None
        if participant_id is not None:
            starter = session.participants.get(participant_id)
            if starter is None:
                raise BadRequestError(
                    f"Participant {participant_id} is not in session {session_id}"
                )
        if room.settings.recording_options.record_only_owner and not (
            starter is None or starter.is_host
        ):
            raise ForbiddenError(
                f"Only a host can record in room {room.id}: its recording_options say"
                " record_only_owner"
            )
        return self._start_recording(room, session, self._clock.now(), starter)

    def pause_recording(self, recording_id: str) -> Recording:
        recording = self.recording(recording_id)
        if recording.status is not RecordingStatus.STARTED:
            raise ConflictError(f"Recording {recording_id} is {recording.status}, not started")
        recording.status = RecordingStatus.PAUSED
        recording.paused_at = _whole_second(self._clock.now())
        return recording

    def resume_recording(self, recording_id: str) -> Recording:
        recording = self.recording(recording_id)
        if recording.status is not RecordingStatus.PAUSED:
            raise ConflictError(f"Recording {recording_id} is {recording.status}, not paused")
        self._end_pause(recording, self._clock.now())
        recording.status = RecordingStatus.STARTED
        return recording

    def stop_recording(self, recording_id: str) -> Recording:
        recording = self.recording(recording_id)
        if recording.status not in RUNNING:
            raise ConflictError(f"Recording {recording_id} is {recording.status}, not started")
        room = self._rooms.get(recording.room_id)
        if room.settings.recording_options.auto_record:
            raise ConflictError(
                f"Recording {recording_id} cannot be stopped: room {room.id} records"
                " automatically (auto_record) until its session ends"
            )
        self._stop_recording(room, recording, self._clock.now())
        return recording

    def _tenant_of(self, room_id: str) -> str:
        return self._rooms.get(room_id).tenant

    def recording(self, recording_id: str, tenant: str | None = None) -> Recording:
        """A recording, if it exists and (with `tenant`) is of that tenant's rooms."""
        self._rooms.now()
        recording = self._recordings.get(recording_id)
        if recording is None or (
            tenant is not None and self._tenant_of(recording.room_id) != tenant
        ):
            raise NotFoundError(f"Recording {recording_id} was not found")
        return recording

    def recordings_of(self, session_id: str) -> list[Recording]:
        """A session's recordings that are not deleted, oldest first (none for no session)."""
        self._rooms.now()
        session = self._sessions.get(session_id)
        kept = self._recordings
        return [] if session is None else [r for r in session.recordings if r.id in kept]

    def session_recordings(self, session_id: str, tenant: str | None = None) -> list[Recording]:
        """A session's recordings; none is a 404, as the live service looked recordings up by
        session id and answered "Failed to find session recordings by id" when it found none."""
        found = self.recordings_of(session_id)
        if not found or (tenant is not None and self._tenant_of(found[0].room_id) != tenant):
            raise NotFoundError(f"Failed to find session recordings by id: {session_id}")
        return found

    def delete_recording(self, recording_id: str, tenant: str | None = None) -> None:
        self._rooms.now()
        recording = self._recordings.get(recording_id)
        if recording is None or (
            tenant is not None and self._tenant_of(recording.room_id) != tenant
        ):
            raise NotFoundError("Could not find recording")
        if recording.status is not RecordingStatus.UPLOADED:
            # Only uploaded recordings can be deleted; the live service answered the others
            # with its bare 500 body.
            raise InternalServerError("Internal Server Error")
        del self._recordings[recording_id]

    # -- rules --------------------------------------------------------------------------

    def _reason_to_wait(self, room: Room, participant: Participant) -> WaitingFor | None:
        if participant.is_host:
            return None
        level = room.settings.join_approval_level
        if level is JoinApprovalLevel.EXPLICIT_APPROVAL:
            return WaitingFor.APPROVAL
        live = self._live.get(room.id)
        if level is JoinApprovalLevel.AFTER_OWNER_ONLY and not (live and live.host_has_joined):
            return WaitingFor.HOST
        if live is None and room.id in self._met_before:
            return WaitingFor.HOST
        return None

    def _admit(self, room: Room, participant: Participant, now: datetime) -> None:
        session = self._live.get(room.id)
        starting = session is None
        if session is None:
            session = Session(self._ids.session_id(now), room.id, now)
            self._live[room.id] = session
            self._sessions[session.id] = session
            self._rooms.hold_expiry(room)
            if room.type is RoomType.LONG_TERM:
                self._rooms.expire_at(room, room.expires_at, show=False)
            self._emit(SessionStarted(room, now, session))
        participant.state = ParticipantState.JOINED
        participant.waiting_for = None
        participant.session_id = session.id
        participant.joined_at = now
        session.participants[participant.id] = participant
        self._emit(ParticipantJoined(room, now, session, participant))
        if participant.is_host and not session.host_has_joined:
            session.host_has_joined = True
            self._let_in_those_waiting_for_host(room, now)
        if starting and room.settings.recording_options.auto_record:
            self._start_recording(room, session, now, None)

    def _let_in_those_waiting_for_host(self, room: Room, now: datetime) -> None:
        waiting = self._waiting.get(room.id, {})
        for participant in [p for p in waiting.values() if p.waiting_for is WaitingFor.HOST]:
            del waiting[participant.id]
            self._admit(room, participant, now)

    def _end_session(self, room: Room, session: Session, now: datetime) -> None:
        for recording in session.recordings:
            if recording.status in RUNNING:
                self._stop_recording(room, recording, now)
        session.ended_at = now
        del self._live[room.id]
        self._emit(SessionEnded(room, now, session))
        if room.type is RoomType.INSTANT:
            if room.is_available:
                self._rooms.expire_at(room, now + EMPTY_ROOM_LIFETIME, show=True)
            return
        self._met_before.add(room.id)
        if room.settings.expire_after_use and room.is_available:
            self._rooms.expire_at(room, min(now + EMPTY_ROOM_LIFETIME, room.expires_at), show=False)

    def _start_recording(
        self, room: Room, session: Session, now: datetime, starter: Participant | None
    ) -> Recording:
        if any(r.status in RUNNING for r in session.recordings):
            raise ConflictError(f"Session {session.id} is already being recorded")
        recording = Recording(
            id=self._ids.uuid(),
            session_id=session.id,
            room_id=room.id,
            started_at=_whole_second(now),
            started_by=starter.id if starter else None,
        )
        session.recordings.append(recording)
        self._recordings[recording.id] = recording
        self._emit(RecordingStarted(room, now, recording))
        return recording

    def _end_pause(self, recording: Recording, now: datetime) -> None:
        if recording.paused_at is not None:
            paused = _whole_second(now) - recording.paused_at
            recording.paused_seconds += max(0, int(paused.total_seconds()))
            recording.paused_at = None

    def _stop_recording(self, room: Room, recording: Recording, now: datetime) -> None:
        self._end_pause(recording, now)
        recording.status = RecordingStatus.STOPPED
        recording.ended_at = max(_whole_second(now), recording.started_at)
        self._emit(RecordingEnded(room, now, recording))
        self._schedule_upload(room, recording, now + self.upload_delay)

    def _schedule_upload(self, room: Room, recording: Recording, due: datetime) -> None:
        recording.upload_due = due
        self._timers.schedule(due, lambda at: self._upload(room, recording, at))

    def _upload(self, room: Room, recording: Recording, at: datetime) -> None:
        recording.status = RecordingStatus.UPLOADED
        recording.uploaded_at = at
        recording.upload_due = None
        self._emit(RecordingUploaded(room, at, recording))

    # -- saving and restoring -------------------------------------------------------------

    def forget_rooms(self, room_ids: set[str]) -> None:
        """Forget the sessions, recordings and waiting rooms of forgotten rooms (rooms are
        forgotten only when no meeting is on in them and nothing is left to upload)."""
        sessions = self._sessions
        for session_id in [s.id for s in sessions.values() if s.room_id in room_ids]:
            del sessions[session_id]
        recordings = self._recordings
        for recording_id in [r.id for r in recordings.values() if r.room_id in room_ids]:
            del recordings[recording_id]
        for room_id in room_ids:
            self._waiting.pop(room_id, None)
            self._met_before.discard(room_id)

    def export(self) -> dict[str, Any]:
        """Every session, participant and recording, for a state file."""
        return {
            "sessions": [
                {
                    **plain(session, exclude=("participants", "recordings")),
                    "participants": [plain(p) for p in session.participants.values()],
                    "recordings": [r.id for r in session.recordings],
                }
                for session in self._sessions.values()
            ],
            "recordings": [plain(r) for r in self._recordings.values()],
            "waiting": [plain(p) for room in self._waiting.values() for p in room.values()],
            "met_before": sorted(self._met_before),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `export` gave, checked by `snapshot_check` (rooms must be restored
        first); re-arm uploads."""
        recordings = {r["id"]: _recording(r) for r in state["recordings"]}
        self._recordings = dict(recordings)
        for data in state["sessions"]:
            session = Session(
                id=data["id"],
                room_id=data["room_id"],
                started_at=_saved(data["started_at"]),
                ended_at=saved_instant(data.get("ended_at")),
                host_has_joined=data.get("host_has_joined", False),
            )
            for person in data.get("participants", []):
                participant = _participant(person)
                session.participants[participant.id] = participant
            session.recordings = [
                recordings[r] for r in data.get("recordings", []) if r in recordings
            ]
            self._sessions[session.id] = session
            if session.is_live:
                self._live[session.room_id] = session
        for person in state.get("waiting", []):
            participant = _participant(person)
            self._waiting.setdefault(participant.room_id, {})[participant.id] = participant
        self._met_before = set(state.get("met_before", []))
        for recording in recordings.values():
            if recording.status is RecordingStatus.STOPPED and recording.upload_due is not None:
                room = self._rooms.get(recording.room_id)
                self._schedule_upload(room, recording, recording.upload_due)


# How a saved participant's or recording's fields become values again; a field left out
# keeps its default.
PARTICIPANT_READERS: dict[str, Callable[[Any], Any]] = {
    "state": ParticipantState,
    "waiting_for": lambda reason: WaitingFor(reason) if reason else None,
    "arrived_at": saved_instant,
    "joined_at": saved_instant,
    "left_at": saved_instant,
}
RECORDING_READERS: dict[str, Callable[[Any], Any]] = {
    "status": RecordingStatus,
    "started_at": saved_instant,
    "ended_at": saved_instant,
    "uploaded_at": saved_instant,
    "upload_due": saved_instant,
    "paused_at": saved_instant,
}


def _read(data: dict[str, Any], readers: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    return {key: readers[key](value) if key in readers else value for key, value in data.items()}


def _participant(data: dict[str, Any]) -> Participant:
    return Participant(**_read(data, PARTICIPANT_READERS))


def _recording(data: dict[str, Any]) -> Recording:
    return Recording(**_read(data, RECORDING_READERS))


def _saved(value: str) -> datetime:
    moment = saved_instant(value)
    assert moment is not None
    return moment
