"""Sessions, participants and recordings with no HTTP: the simulator's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import (
    ConflictError,
    ForbiddenError,
    InternalServerError,
    NotFoundError,
)
from meetings_emulator.domain.events import (
    ParticipantJoined,
    ParticipantLeft,
    RecordingEnded,
    RecordingStarted,
    RecordingUploaded,
    RoomExpired,
    SessionEnded,
    SessionStarted,
)
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

from ..conftest import START

MINUTE = timedelta(minutes=1)


def names(emulator: Emulator) -> list[str]:
    return [event.name for event in emulator.events]


def instant_room(emulator: Emulator, **settings: object) -> Room:
    return emulator.rooms.create(RoomSettings(display_name="instant", **settings))


def long_term_room(
    emulator: Emulator, lifetime: timedelta = timedelta(days=1), **settings: object
) -> Room:
    return emulator.rooms.create(
        RoomSettings(
            display_name="long", type=RoomType.LONG_TERM, expires_at=START + lifetime, **settings
        )
    )


def test_first_join_starts_a_session_and_last_leave_ends_it(emulator: Emulator) -> None:
    room = instant_room(emulator)
    avital = emulator.sessions.join(room.id, "Avital", is_host=True)
    session = emulator.sessions.live_session(room.id)
    assert session is not None
    assert avital.state is ParticipantState.JOINED
    assert avital.session_id == session.id
    assert session.id.startswith("2_MX4")

    emulator.advance(MINUTE)
    bob = emulator.sessions.join(room.id, "Bob")
    assert emulator.sessions.live_session(room.id) is session
    emulator.sessions.leave(room.id, avital.id)
    assert session.is_live
    emulator.advance(MINUTE)
    emulator.sessions.leave(room.id, bob.id)
    assert not session.is_live
    assert session.ended_at == START + 2 * MINUTE
    assert emulator.sessions.live_session(room.id) is None
    assert names(emulator) == [
        "session:started",
        "session:participant:joined",
        "session:participant:joined",
        "session:participant:left",
        "session:participant:left",
        "session:ended",
    ]


def test_instant_room_kept_alive_by_a_join_at_nine_fifty_nine(emulator: Emulator) -> None:
    room = instant_room(emulator)
    emulator.advance(timedelta(minutes=9, seconds=59))
    guest = emulator.sessions.join(room.id, "Late")
    emulator.advance(timedelta(hours=2))
    assert room.is_available  # nobody left: the room stays

    emulator.sessions.leave(room.id, guest.id)
    left_at = emulator.clock.now()
    assert room.expires_at == left_at + timedelta(minutes=10)
    emulator.advance(timedelta(minutes=9, seconds=59))
    assert room.is_available
    emulator.advance(timedelta(seconds=1))
    assert not room.is_available
    assert names(emulator)[-1] == "room:expired"


def test_instant_room_rejoined_within_ten_minutes_starts_a_new_session(emulator: Emulator) -> None:
    room = instant_room(emulator)
    first = emulator.sessions.join(room.id, "A")
    emulator.sessions.leave(room.id, first.id)
    emulator.advance(timedelta(minutes=9))
    second = emulator.sessions.join(room.id, "B")
    assert second.session_id != first.session_id
    emulator.advance(timedelta(minutes=30))
    assert room.is_available


def test_joining_an_unavailable_room_is_refused(emulator: Emulator) -> None:
    room = instant_room(emulator)
    emulator.advance(timedelta(minutes=10))
    with pytest.raises(ConflictError, match="is not available \\(expired\\): no one can join it"):
        emulator.sessions.join(room.id, "Too late")
    with pytest.raises(NotFoundError):
        emulator.sessions.join("no-such-room", "Nobody")


def test_long_term_room_with_expire_after_use(emulator: Emulator) -> None:
    room = long_term_room(emulator, expire_after_use=True)
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    emulator.advance(timedelta(hours=1))
    emulator.sessions.leave(room.id, host.id)
    emulator.advance(timedelta(minutes=9, seconds=59))
    assert room.is_available
    emulator.advance(timedelta(seconds=1))
    assert not room.is_available
    assert room.expires_at == START + timedelta(hours=1, minutes=10)


def test_long_term_room_rejoined_by_host_cancels_after_use_expiry(emulator: Emulator) -> None:
    room = long_term_room(emulator, expire_after_use=True)
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    emulator.sessions.leave(room.id, host.id)
    emulator.advance(timedelta(minutes=5))
    again = emulator.sessions.join(room.id, "Host", is_host=True)
    emulator.sessions.leave(room.id, again.id)  # a new 10 minutes from here
    emulator.advance(timedelta(minutes=9))
    assert room.is_available
    emulator.advance(MINUTE)
    assert not room.is_available


def test_long_term_room_without_expire_after_use_lives_until_expires_at(emulator: Emulator) -> None:
    room = long_term_room(emulator, timedelta(hours=3))
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    emulator.sessions.leave(room.id, host.id)
    emulator.advance(timedelta(hours=3) - timedelta(milliseconds=1))
    assert room.is_available
    emulator.advance(timedelta(milliseconds=1))
    assert not room.is_available


def test_long_term_meeting_restarts_only_when_the_host_rejoins_first(emulator: Emulator) -> None:
    room = long_term_room(emulator)
    first_guest = emulator.sessions.join(room.id, "Early guest")
    assert first_guest.state is ParticipantState.JOINED  # the very first meeting needs no host
    emulator.sessions.leave(room.id, first_guest.id)

    guest = emulator.sessions.join(room.id, "Guest")
    assert (guest.state, guest.waiting_for) == (ParticipantState.WAITING, WaitingFor.HOST)
    assert emulator.sessions.live_session(room.id) is None
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    assert guest.state is ParticipantState.JOINED
    assert guest.session_id == host.session_id


def test_after_owner_only_guests_wait_for_a_host(emulator: Emulator) -> None:
    room = instant_room(emulator, join_approval_level=JoinApprovalLevel.AFTER_OWNER_ONLY)
    guest = emulator.sessions.join(room.id, "Guest")
    assert guest.state is ParticipantState.WAITING
    assert emulator.sessions.waiting(room.id) == [guest]
    assert emulator.sessions.live_session(room.id) is None
    assert names(emulator) == []  # waiting is not joining: no event

    host = emulator.sessions.join(room.id, "Host", is_host=True)
    assert guest.state is ParticipantState.JOINED
    assert emulator.sessions.waiting(room.id) == []
    joined = [e.participant for e in emulator.events if isinstance(e, ParticipantJoined)]
    assert joined == [host, guest]

    late = emulator.sessions.join(room.id, "Late guest")  # a host has joined this session
    assert late.state is ParticipantState.JOINED


def test_instant_room_expiry_is_not_held_by_waiting_guests(emulator: Emulator) -> None:
    room = instant_room(emulator, join_approval_level=JoinApprovalLevel.AFTER_OWNER_ONLY)
    emulator.sessions.join(room.id, "Guest")
    emulator.advance(timedelta(minutes=10))
    assert not room.is_available


def test_explicit_approval_guests_wait_until_admitted(emulator: Emulator) -> None:
    room = instant_room(emulator, join_approval_level=JoinApprovalLevel.EXPLICIT_APPROVAL)
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    guest = emulator.sessions.join(room.id, "Guest")
    assert (guest.state, guest.waiting_for) == (ParticipantState.WAITING, WaitingFor.APPROVAL)
    admitted = emulator.sessions.admit(room.id, guest.id)
    assert admitted.state is ParticipantState.JOINED
    assert admitted.session_id == host.session_id
    with pytest.raises(ConflictError, match="is not waiting"):
        emulator.sessions.admit(room.id, guest.id)
    with pytest.raises(NotFoundError):
        emulator.sessions.admit(room.id, "nobody")


def test_a_waiting_participant_who_gives_up_leaves_no_trace(emulator: Emulator) -> None:
    room = instant_room(emulator, join_approval_level=JoinApprovalLevel.EXPLICIT_APPROVAL)
    guest = emulator.sessions.join(room.id, "Guest")
    emulator.sessions.leave(room.id, guest.id)
    assert guest.state is ParticipantState.LEFT
    assert emulator.sessions.waiting(room.id) == []
    assert names(emulator) == []


def test_recording_starts_stops_and_uploads_after_the_delay(emulator: Emulator) -> None:
    room = instant_room(emulator)
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    emulator.advance(timedelta(seconds=3, milliseconds=400))
    recording = emulator.sessions.start_recording(host.session_id, host.id)
    assert recording.status is RecordingStatus.STARTED
    assert recording.started_at == START.replace(microsecond=0) + timedelta(seconds=3)
    with pytest.raises(ConflictError, match="already being recorded"):
        emulator.sessions.start_recording(host.session_id)

    emulator.advance(timedelta(seconds=38))
    emulator.sessions.stop_recording(recording.id)
    assert recording.status is RecordingStatus.STOPPED
    assert recording.duration == 38
    assert recording.ended_at - recording.started_at == timedelta(seconds=38)
    emulator.advance(timedelta(seconds=4, milliseconds=999))
    assert recording.status is RecordingStatus.STOPPED
    emulator.advance(timedelta(milliseconds=1))
    assert recording.status is RecordingStatus.UPLOADED
    assert names(emulator)[-3:] == ["recording:started", "recording:ended", "recording:uploaded"]
    assert emulator.sessions.session_recordings(host.session_id) == [recording]


def test_auto_record_starts_with_the_session_and_cannot_be_stopped_by_hand(
    emulator: Emulator,
) -> None:
    room = instant_room(emulator, recording_options=RecordingOptions(auto_record=True))
    guest = emulator.sessions.join(room.id, "Guest")
    [recording] = emulator.sessions.session_recordings(guest.session_id)
    assert names(emulator) == ["session:started", "session:participant:joined", "recording:started"]
    with pytest.raises(ConflictError, match="auto_record"):
        emulator.sessions.stop_recording(recording.id)
    emulator.advance(MINUTE)
    emulator.sessions.leave(room.id, guest.id)
    assert recording.status is RecordingStatus.STOPPED
    assert names(emulator)[-3:] == ["session:participant:left", "recording:ended", "session:ended"]


def test_record_only_owner_lets_only_hosts_start(emulator: Emulator) -> None:
    room = instant_room(emulator, recording_options=RecordingOptions(record_only_owner=True))
    host = emulator.sessions.join(room.id, "Host", is_host=True)
    guest = emulator.sessions.join(room.id, "Guest")
    with pytest.raises(ForbiddenError, match="Only a host can record"):
        emulator.sessions.start_recording(guest.session_id, guest.id)
    assert emulator.sessions.start_recording(host.session_id, host.id).started_by == host.id


def test_recordings_cannot_start_in_an_ended_session(emulator: Emulator) -> None:
    room = instant_room(emulator)
    guest = emulator.sessions.join(room.id, "Guest")
    emulator.sessions.leave(room.id, guest.id)
    with pytest.raises(ConflictError, match="has ended"):
        emulator.sessions.start_recording(guest.session_id)
    with pytest.raises(NotFoundError, match="Session nope was not found"):
        emulator.sessions.start_recording("nope")


def test_only_uploaded_recordings_can_be_deleted(emulator: Emulator) -> None:
    room = instant_room(emulator)
    guest = emulator.sessions.join(room.id, "Guest")
    recording = emulator.sessions.start_recording(guest.session_id)
    with pytest.raises(InternalServerError, match=r"^Internal Server Error$"):
        emulator.sessions.delete_recording(recording.id)
    emulator.sessions.stop_recording(recording.id)
    emulator.advance(timedelta(seconds=5))
    emulator.sessions.delete_recording(recording.id)
    with pytest.raises(NotFoundError, match=f"^Recording {recording.id} was not found$"):
        emulator.sessions.recording(recording.id)
    with pytest.raises(NotFoundError, match=r"^Could not find recording$"):
        emulator.sessions.delete_recording(recording.id)
    # A session whose every recording is gone is a 404, as one that never had any.
    with pytest.raises(NotFoundError, match=f"by id: {guest.session_id}$"):
        emulator.sessions.session_recordings(guest.session_id)
    with pytest.raises(NotFoundError, match="Failed to find session recordings by id: x"):
        emulator.sessions.session_recordings("x")


def test_events_carry_their_own_times_when_the_clock_jumps(emulator: Emulator) -> None:
    room = instant_room(emulator, recording_options=RecordingOptions(auto_record=True))
    guest = emulator.sessions.join(room.id, "Guest")
    emulator.advance(MINUTE)
    emulator.sessions.leave(room.id, guest.id)
    emulator.advance(timedelta(days=1))  # upload at +5 s, expiry at +10 min: one jump
    timeline = [(type(e), e.at - START) for e in emulator.events]
    assert timeline == [
        (SessionStarted, timedelta(0)),
        (ParticipantJoined, timedelta(0)),
        (RecordingStarted, timedelta(0)),
        (ParticipantLeft, MINUTE),
        (RecordingEnded, MINUTE),
        (SessionEnded, MINUTE),
        (RecordingUploaded, MINUTE + timedelta(seconds=5)),
        (RoomExpired, MINUTE + timedelta(minutes=10)),
    ]


def test_deleting_a_room_during_a_meeting_keeps_the_meeting_but_refuses_new_joins(
    emulator: Emulator,
) -> None:
    room = instant_room(emulator)
    guest = emulator.sessions.join(room.id, "Guest")
    emulator.rooms.delete(room.id)
    assert emulator.sessions.live_session(room.id) is not None
    with pytest.raises(ConflictError):
        emulator.sessions.join(room.id, "Another")
    emulator.sessions.leave(room.id, guest.id)
    emulator.advance(timedelta(hours=1))
    assert [e.name for e in emulator.events].count("room:expired") == 1


# -- pausing a recording (the control plane's; the live API only reported `paused`) -------


def test_a_pause_holds_a_recording_and_its_time_is_left_out_of_the_duration(
    emulator: Emulator,
) -> None:
    room = instant_room(emulator)
    guest = emulator.sessions.join(room.id, "Guest")
    recording = emulator.sessions.start_recording(guest.session_id)
    emulator.advance(timedelta(seconds=30))
    assert emulator.sessions.pause_recording(recording.id).status is RecordingStatus.PAUSED
    with pytest.raises(ConflictError, match=f"^Recording {recording.id} is paused, not started$"):
        emulator.sessions.pause_recording(recording.id)
    with pytest.raises(ConflictError, match="is already being recorded"):
        emulator.sessions.start_recording(guest.session_id)  # still the session's recording
    emulator.advance(timedelta(seconds=20))
    assert emulator.sessions.resume_recording(recording.id).status is RecordingStatus.STARTED
    with pytest.raises(ConflictError, match=f"^Recording {recording.id} is started, not paused$"):
        emulator.sessions.resume_recording(recording.id)
    emulator.advance(timedelta(seconds=10))
    emulator.sessions.pause_recording(recording.id)
    emulator.advance(timedelta(seconds=5))
    stopped = emulator.sessions.stop_recording(recording.id)  # stopped while paused
    assert stopped.status is RecordingStatus.STOPPED
    assert (stopped.ended_at - stopped.started_at).total_seconds() == 65
    assert stopped.duration == 40  # 65 s from start to end, less 20 s and 5 s paused
    ended = [e for e in emulator.events if isinstance(e, RecordingEnded)]
    assert [(e.recording.id, e.recording.duration) for e in ended] == [(recording.id, 40)]
    assert not any(e.name == "recording:paused" for e in emulator.events)


def test_a_session_that_ends_stops_a_paused_recording(emulator: Emulator) -> None:
    room = instant_room(emulator, recording_options=RecordingOptions(auto_record=True))
    guest = emulator.sessions.join(room.id, "Guest")
    [recording] = emulator.sessions.session_recordings(guest.session_id)
    emulator.advance(timedelta(seconds=12))
    # An auto_record recording cannot be stopped by hand, but it can be paused.
    assert emulator.sessions.pause_recording(recording.id).status is RecordingStatus.PAUSED
    emulator.advance(timedelta(seconds=8))
    emulator.sessions.leave(room.id, guest.id)
    assert (recording.status, recording.duration) == (RecordingStatus.STOPPED, 12)
    with pytest.raises(ConflictError, match="is stopped, not started"):
        emulator.sessions.pause_recording(recording.id)
