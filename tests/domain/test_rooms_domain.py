"""Room rules with no HTTP: expiry, bounds, meeting codes, limits, updates, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import (
    BadRequestError,
    ForbiddenError,
    InputValidationError,
    NotFoundError,
)
from meetings_emulator.domain.events import RoomExpired
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import RoomChanges, RoomSettings, RoomType, Unavailability
from meetings_emulator.domain.rooms import Rooms
from meetings_emulator.domain.settings import Settings
from meetings_emulator.domain.timers import Timers

from ..conftest import START


def instant(name: str = "standup") -> RoomSettings:
    return RoomSettings(display_name=name)


def long_term(expires_in: timedelta, **extra: object) -> RoomSettings:
    return RoomSettings(
        display_name="weekly", type=RoomType.LONG_TERM, expires_at=START + expires_in, **extra
    )


def test_instant_room_is_available_until_ten_minutes_after_creation(emulator: Emulator) -> None:
    room = emulator.rooms.create(instant())
    assert room.expires_at == START + timedelta(minutes=10)

    emulator.advance(timedelta(minutes=9, seconds=59, milliseconds=999))
    assert emulator.rooms.get(room.id).is_available

    emulator.advance(timedelta(milliseconds=1))
    assert not emulator.rooms.get(room.id).is_available
    assert room.unavailable is Unavailability.EXPIRED


def test_expiry_happens_on_read_even_when_nothing_moved_the_clock_through_the_emulator() -> None:
    clock = Clock.frozen_at(START)
    emulator = Emulator(clock=clock, ids=Ids(3))
    room = emulator.rooms.create(instant())
    clock.advance(timedelta(minutes=10))  # the clock alone, as real time would
    assert not emulator.rooms.get(room.id).is_available


def test_long_term_room_is_available_until_expires_at(emulator: Emulator) -> None:
    room = emulator.rooms.create(long_term(timedelta(days=3)))
    emulator.advance(timedelta(days=3) - timedelta(milliseconds=1))
    assert room.is_available
    emulator.advance(timedelta(milliseconds=1))
    assert not room.is_available


@pytest.mark.parametrize(
    ("lead", "accepted"),
    [
        (timedelta(minutes=10), False),
        (timedelta(minutes=10, milliseconds=1), True),
        (timedelta(days=365 * 5 + 1), True),  # 2026-03-02 + 5 calendar years spans one 29 Feb
        (timedelta(days=365 * 5 + 1, milliseconds=1), False),
        (timedelta(minutes=-1), False),
    ],
)
def test_long_term_expiry_must_be_more_than_ten_minutes_and_at_most_five_years_ahead(
    emulator: Emulator, lead: timedelta, accepted: bool
) -> None:
    if accepted:
        assert emulator.rooms.create(long_term(lead)).expires_at == START + lead
    else:
        with pytest.raises(InputValidationError, match='"expires_at" must be'):
            emulator.rooms.create(long_term(lead))
        assert len(emulator.rooms) == 0


@settings(max_examples=200, deadline=None)
@given(lead_ms=st.integers(min_value=-(10**9), max_value=2 * 10**11))
def test_long_term_bounds_hold_for_any_lead(lead_ms: int) -> None:
    emulator = Emulator(clock=Clock.frozen_at(START), ids=Ids(0))
    lead = timedelta(milliseconds=lead_ms)
    latest = START.replace(year=START.year + 5)
    should_accept = timedelta(minutes=10) < lead and START + lead <= latest
    try:
        room = emulator.rooms.create(long_term(lead))
    except InputValidationError:
        assert not should_accept
    else:
        assert should_accept
        assert room.is_available


class RepeatingCodes(Ids):
    """Hands out meeting codes from a tiny pool, so clashes are certain."""

    def __init__(self, pool: list[str]) -> None:
        super().__init__(0)
        self.pool = pool
        self.calls = 0

    def meeting_code(self) -> str:
        code = self.pool[self.calls % len(self.pool)]
        self.calls += 1
        return code


def test_meeting_codes_are_retried_until_free_and_freed_when_a_room_ends() -> None:
    ids = RepeatingCodes(["111111111", "222222222"])
    emulator = Emulator(clock=Clock.frozen_at(START), ids=ids)
    first = emulator.rooms.create(instant())
    second = emulator.rooms.create(instant())
    assert {first.meeting_code, second.meeting_code} == {"111111111", "222222222"}

    emulator.rooms.delete(first.id)
    third = emulator.rooms.create(instant())
    assert third.meeting_code == first.meeting_code


@settings(max_examples=50, deadline=None)
@given(
    draws=st.lists(st.integers(0, 29), min_size=30, max_size=60),
    steps=st.lists(st.sampled_from(["create", "delete", "wait"]), max_size=40),
)
def test_available_rooms_never_share_a_meeting_code(draws: list[int], steps: list[str]) -> None:
    """Codes drawn from a pool of 30 with repeats: creation must skip every code in use."""
    ids = RepeatingCodes([str(100_000_000 + n) for n in draws])
    emulator = Emulator(Settings(max_rooms=30), clock=Clock.frozen_at(START), ids=ids)
    made = []
    for step in steps:
        if step == "create" and emulator.rooms.available_count < len(set(draws)):
            made.append(emulator.rooms.create(instant()))
        elif step == "delete" and made:
            emulator.rooms.delete(made[len(made) // 2].id)
        elif step == "wait":
            emulator.advance(timedelta(minutes=3))
        live = [room.meeting_code for room in made if room.is_available]
        assert len(live) == len(set(live))


def test_seeded_ids_repeat_and_codes_have_nine_digits() -> None:
    first, second = Ids(42), Ids(42)
    assert [first.uuid() for _ in range(3)] == [second.uuid() for _ in range(3)]
    codes = [first.meeting_code() for _ in range(1000)]
    assert all(len(code) == 9 and code.isdigit() and code[0] != "0" for code in codes)


def test_room_limit_counts_available_rooms_only() -> None:
    emulator = Emulator(Settings(max_rooms=2), clock=Clock.frozen_at(START), ids=Ids(0))
    first = emulator.rooms.create(instant())
    emulator.rooms.create(instant())
    with pytest.raises(ForbiddenError, match=r"Maximum number of rooms for owner \(2\) exceeded"):
        emulator.rooms.create(instant())
    emulator.rooms.delete(first.id)
    emulator.rooms.create(instant())
    emulator.advance(timedelta(minutes=10))
    assert emulator.rooms.available_count == 0
    emulator.rooms.create(instant())


def test_instant_rooms_cannot_be_updated(emulator: Emulator) -> None:
    room = emulator.rooms.create(instant())
    with pytest.raises(BadRequestError) as refused:
        emulator.rooms.update(room.id, RoomChanges(frozenset({"expire_after_use"})))
    assert refused.value.message == (
        f"The room with id: {room.id} could not be updated because of its type: temporary"
    )


def test_update_moves_expiry_and_merges_nested_settings(emulator: Emulator) -> None:
    room = emulator.rooms.create(long_term(timedelta(hours=1)))
    other = emulator.rooms.create(long_term(timedelta(hours=1)))
    changes = RoomChanges(
        frozenset({"expires_at", "available_features", "callback_urls"}),
        expires_at=START + timedelta(hours=2),
        available_features={"is_chat_available": False},
        callback_urls={"rooms_callback_url": "https://example.com/rooms"},
    )
    emulator.rooms.update(room.id, changes)
    features = room.settings.available_features
    assert (features.is_chat_available, features.is_recording_available) == (False, True)
    assert room.settings.callback_urls == {"rooms_callback_url": "https://example.com/rooms"}
    assert other.settings.available_features.is_chat_available  # rooms share no settings

    emulator.advance(timedelta(hours=1, minutes=30))
    assert room.is_available  # the old expiry was cancelled
    emulator.advance(timedelta(minutes=30))
    assert not room.is_available


def test_unavailable_rooms_cannot_be_updated(emulator: Emulator) -> None:
    room = emulator.rooms.create(long_term(timedelta(hours=1)))
    emulator.rooms.delete(room.id)
    with pytest.raises(NotFoundError, match="is not available"):
        emulator.rooms.update(room.id, RoomChanges(frozenset({"expire_after_use"})))


def test_unknown_rooms_are_not_found(emulator: Emulator) -> None:
    with pytest.raises(NotFoundError, match="Room nope was not found"):
        emulator.rooms.get("nope")


def test_rooms_expire_in_time_order_and_report_their_own_expiry_time() -> None:
    events: list[RoomExpired] = []
    clock = Clock.frozen_at(START)
    timers = Timers()
    rooms = Rooms(clock, Ids(5), timers, on_event=events.append)
    late = rooms.create(long_term(timedelta(hours=2)))
    early = rooms.create(instant())
    middle = rooms.create(long_term(timedelta(hours=1)))
    clock.advance(timedelta(days=1))
    rooms.now()
    assert [(e.room, e.at) for e in events] == [
        (early, START + timedelta(minutes=10)),
        (middle, START + timedelta(hours=1)),
        (late, START + timedelta(hours=2)),
    ]


def test_deleting_twice_is_harmless_and_reports_once(clock: Clock) -> None:
    events: list[RoomExpired] = []
    rooms = Rooms(clock, Ids(5), Timers(), on_event=events.append)
    room = rooms.create(instant())
    rooms.delete(room.id)
    rooms.delete(room.id)
    clock.advance(timedelta(hours=1))
    rooms.now()
    assert [(e.room, e.reason) for e in events] == [(room, Unavailability.DELETED)]


def test_unknown_theme_is_refused(emulator: Emulator) -> None:
    theme = "90a21428-b74a-4221-adc3-783935d654db"
    with pytest.raises(BadRequestError, match=f"because theme id {theme} not found"):
        emulator.rooms.create(RoomSettings(display_name="x", theme_id=theme))


def test_reset_forgets_rooms_and_restarts_the_seeded_sequence(emulator: Emulator) -> None:
    first = emulator.rooms.create(instant())
    emulator.reset(seed=1)
    assert len(emulator.rooms) == 0
    assert emulator.rooms.create(instant()).id == first.id
