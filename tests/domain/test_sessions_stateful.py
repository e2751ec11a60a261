"""A hypothesis state machine over joins, leaves, admissions, recordings and clock moves.

It keeps its own small model of when each room should stop being available and checks
the emulator against it after every step, with the invariants of the simulator issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import ConflictError, ForbiddenError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import (
    JoinApprovalLevel,
    ParticipantState,
    RecordingOptions,
    RecordingStatus,
    Room,
    RoomSettings,
    RoomType,
    WaitingFor,
)
from meetings_emulator.domain.sessions import RUNNING
from meetings_emulator.domain.settings import Settings

from ..conftest import START

TEN_MINUTES = timedelta(minutes=10)


@dataclass
class RoomModel:
    """What the rules say about one room, worked out independently of the emulator."""

    room: Room
    due: datetime | None  # when it stops being available, if nothing else happens
    deleted: bool = False
    joined: set[str] = field(default_factory=set)
    waiting: dict[str, WaitingFor] = field(default_factory=dict)
    host_in_session: bool = False
    met_before: bool = False


class Meetings(RuleBasedStateMachine):
    rooms = Bundle("rooms")
    people = Bundle("people")

    def __init__(self) -> None:
        super().__init__()
        self.emulator = Emulator(
            Settings(max_rooms=10_000), clock=Clock.frozen_at(START), ids=Ids(0)
        )
        self.models: dict[str, RoomModel] = {}
        # Pauses as this model sees them: since when a recording is paused, and the whole
        # seconds of the pauses that ended.
        self.paused_since: dict[str, datetime] = {}
        self.paused_total: dict[str, int] = {}

    @property
    def now(self) -> datetime:
        return self.emulator.clock.now()

    def available(self, model: RoomModel) -> bool:
        return not model.deleted and (model.due is None or self.now < model.due)

    @rule(
        target=rooms,
        long_term=st.booleans(),
        lifetime_minutes=st.integers(11, 600),
        after_use=st.booleans(),
        approval=st.sampled_from(list(JoinApprovalLevel)),
        auto_record=st.booleans(),
    )
    def create_room(self, long_term, lifetime_minutes, after_use, approval, auto_record) -> str:
        settings = RoomSettings(
            display_name="room",
            type=RoomType.LONG_TERM if long_term else RoomType.INSTANT,
            expires_at=self.now + timedelta(minutes=lifetime_minutes) if long_term else None,
            expire_after_use=after_use,
            join_approval_level=approval,
            recording_options=RecordingOptions(auto_record=auto_record),
        )
        room = self.emulator.rooms.create(settings)
        due = room.expires_at if long_term else self.now + TEN_MINUTES
        self.models[room.id] = RoomModel(room, due)
        return room.id

    @rule(target=people, room_id=rooms, is_host=st.booleans())
    def join(self, room_id: str, is_host: bool) -> tuple[str, str]:
        model = self.models[room_id]
        if not self.available(model):
            try:
                self.emulator.sessions.join(room_id, "late", is_host=is_host)
            except ConflictError:
                return (room_id, "")
            raise AssertionError("joined an unavailable room")
        person = self.emulator.sessions.join(room_id, "person", is_host=is_host)
        reason = self._reason_to_wait(model, is_host)
        assert person.waiting_for == reason
        if reason is None:
            assert person.state is ParticipantState.JOINED
            self._joined(model, person.id, is_host)
        else:
            assert person.state is ParticipantState.WAITING
            model.waiting[person.id] = reason
        return (room_id, person.id)

    @rule(who=people)
    def admit(self, who: tuple[str, str]) -> None:
        room_id, person_id = who
        model = self.models[room_id]
        if person_id not in model.waiting or not self.available(model):
            return
        person = self.emulator.sessions.admit(room_id, person_id)
        assert person.state is ParticipantState.JOINED
        del model.waiting[person_id]
        self._joined(model, person_id, is_host=False)

    @rule(who=consumes(people))
    def leave(self, who: tuple[str, str]) -> None:
        room_id, person_id = who
        model = self.models[room_id]
        if person_id not in model.joined and person_id not in model.waiting:
            return
        self.emulator.sessions.leave(room_id, person_id)
        model.waiting.pop(person_id, None)
        if person_id in model.joined:
            model.joined.discard(person_id)
            if not model.joined:
                self._session_ended(model)

    @rule(room_id=rooms)
    def delete(self, room_id: str) -> None:
        self.emulator.rooms.delete(room_id)
        self.models[room_id].deleted = True

    @rule(room_id=rooms)
    def record(self, room_id: str) -> None:
        session = self.emulator.sessions.live_session(room_id)
        if session is None:
            return
        try:
            self.emulator.sessions.start_recording(session.id)
        except ConflictError:
            running = (RecordingStatus.STARTED, RecordingStatus.PAUSED)
            assert any(r.status in running for r in session.recordings)

    @rule(room_id=rooms)
    def pause_or_resume(self, room_id: str) -> None:
        session = self.emulator.sessions.live_session(room_id)
        for recording in session.recordings if session else []:
            now = self.now.replace(microsecond=0)
            if recording.status is RecordingStatus.STARTED:
                self.emulator.sessions.pause_recording(recording.id)
                self.paused_since[recording.id] = now
            elif recording.status is RecordingStatus.PAUSED:
                self.emulator.sessions.resume_recording(recording.id)
                self._pause_ended(recording.id, now)
            else:
                with pytest.raises(ConflictError):
                    self.emulator.sessions.pause_recording(recording.id)
                with pytest.raises(ConflictError):
                    self.emulator.sessions.resume_recording(recording.id)

    def _pause_ended(self, recording_id: str, at: datetime) -> None:
        since = self.paused_since.pop(recording_id, None)
        if since is not None:
            spent = int((at - since).total_seconds())
            self.paused_total[recording_id] = self.paused_total.get(recording_id, 0) + spent

    @rule(room_id=rooms)
    def stop_recordings(self, room_id: str) -> None:
        session = self.emulator.sessions.live_session(room_id)
        for recording in session.recordings if session else []:
            if recording.status in (RecordingStatus.STARTED, RecordingStatus.PAUSED):
                try:
                    self.emulator.sessions.stop_recording(recording.id)
                except ConflictError:
                    assert self.models[room_id].room.settings.recording_options.auto_record
                except ForbiddenError:
                    raise AssertionError("no owner rule in play") from None

    @rule(seconds=st.sampled_from([1, 5, 60, 540, 599, 600, 601, 3600]) | st.integers(1, 4000))
    def move_clock(self, seconds: int) -> None:
        self.emulator.advance(timedelta(seconds=seconds))

    # -- the model's rules ----------------------------------------------------------------

    def _reason_to_wait(self, model: RoomModel, is_host: bool) -> WaitingFor | None:
        settings = model.room.settings
        if is_host:
            return None
        if settings.join_approval_level is JoinApprovalLevel.EXPLICIT_APPROVAL:
            return WaitingFor.APPROVAL
        after_owner = settings.join_approval_level is JoinApprovalLevel.AFTER_OWNER_ONLY
        if after_owner and not (model.joined and model.host_in_session):
            return WaitingFor.HOST
        if not model.joined and model.met_before:
            return WaitingFor.HOST
        return None

    def _joined(self, model: RoomModel, person_id: str, is_host: bool) -> None:
        if not model.joined:  # a session starts: an instant room no longer expires on its own
            model.host_in_session = False
            model.due = None if model.room.type is RoomType.INSTANT else model.room.expires_at
        model.joined.add(person_id)
        if is_host and not model.host_in_session:
            model.host_in_session = True
            for waiting, reason in list(model.waiting.items()):
                if reason is WaitingFor.HOST:
                    del model.waiting[waiting]
                    model.joined.add(waiting)

    def _session_ended(self, model: RoomModel) -> None:
        room = model.room
        model.host_in_session = False
        model.met_before = room.type is RoomType.LONG_TERM
        if not self.available(model):
            return
        if room.type is RoomType.INSTANT:
            model.due = self.now + TEN_MINUTES
        elif room.settings.expire_after_use:
            model.due = min(self.now + TEN_MINUTES, room.expires_at)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def availability_follows_the_rules(self) -> None:
        for model in self.models.values():
            assert model.room.is_available == self.available(model), model

    @invariant()
    def at_most_one_live_session_per_room(self) -> None:
        sessions = self.emulator.sessions._sessions.values()
        live_rooms = [s.room_id for s in sessions if s.is_live]
        assert len(live_rooms) == len(set(live_rooms))
        for model in self.models.values():
            live = self.emulator.sessions.live_session(model.room.id)
            assert (live is not None) == bool(model.joined)
            if live is not None:
                assert set(live.participants) == model.joined
            waiting = {p.id: p.waiting_for for p in self.emulator.sessions.waiting(model.room.id)}
            assert waiting == model.waiting

    @invariant()
    def durations_match_their_times(self) -> None:
        for session in self.emulator.sessions._sessions.values():
            for recording in session.recordings:
                if recording.ended_at is not None:
                    # A pause still on when the recording ended lasted until its end.
                    self._pause_ended(recording.id, recording.ended_at)
                    paused = self.paused_total.get(recording.id, 0)
                    assert (
                        recording.duration
                        == (recording.ended_at - recording.started_at).total_seconds() - paused
                    )
                    assert recording.started_at <= recording.ended_at
                    assert recording.duration >= 0
                if not session.is_live:
                    assert recording.status not in (RecordingStatus.STARTED, RecordingStatus.PAUSED)
            running = [r for r in session.recordings if r.status in RUNNING]
            assert len(running) <= 1

    @invariant()
    def nothing_happens_while_the_clock_stands_still(self) -> None:
        before = len(self.emulator.events)
        self.emulator.now()
        assert len(self.emulator.events) == before


Meetings.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestMeetings = Meetings.TestCase
