"""The clock is the only source of time; timers run in time order when it reaches them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from meetings_emulator.domain.clock import Clock, ClockError
from meetings_emulator.domain.isotime import format_iso, format_iso_once, parse_iso
from meetings_emulator.domain.timers import Timers

from ..conftest import START


def test_real_time_clock_follows_the_machine_clock() -> None:
    with freeze_time("2026-05-01T12:00:00Z") as frozen:
        clock = Clock()
        assert clock.now() == datetime(2026, 5, 1, 12, tzinfo=UTC)
        frozen.tick(timedelta(seconds=5))
        assert clock.now() == datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC)


def test_advance_and_set_offset_a_running_clock() -> None:
    with freeze_time("2026-05-01T12:00:00Z") as frozen:
        clock = Clock()
        clock.advance(timedelta(hours=1))
        frozen.tick(timedelta(seconds=1))
        assert clock.now() == datetime(2026, 5, 1, 13, 0, 1, tzinfo=UTC)
        clock.set(datetime(2027, 1, 1, tzinfo=UTC))
        frozen.tick(timedelta(seconds=2))
        assert clock.now() == datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC)
        assert clock.wall() == datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)


def test_frozen_clock_stands_still_until_moved_then_can_run_again() -> None:
    with freeze_time("2026-05-01T12:00:00Z") as frozen:
        clock = Clock.frozen_at(START)
        frozen.tick(timedelta(minutes=5))
        assert clock.now() == START
        assert clock.frozen
        assert clock.advance(timedelta(seconds=90)) == START + timedelta(seconds=90)
        clock.release()
        frozen.tick(timedelta(seconds=1))
        assert clock.now() == START + timedelta(seconds=91)
        assert not clock.frozen
        clock.freeze()
        frozen.tick(timedelta(seconds=1))
        assert clock.now() == START + timedelta(seconds=91)


def test_clock_never_moves_back() -> None:
    clock = Clock.frozen_at(START)
    with pytest.raises(ClockError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ClockError):
        clock.set(START - timedelta(milliseconds=1))
    assert clock.now() == START


def test_naive_instants_are_taken_as_utc() -> None:
    clock = Clock.frozen_at(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_timers_run_in_due_order_with_their_own_due_time() -> None:
    timers = Timers()
    ran: list[tuple[str, datetime]] = []
    timers.schedule(START + timedelta(seconds=3), lambda at: ran.append(("c", at)))
    timers.schedule(START + timedelta(seconds=1), lambda at: ran.append(("a", at)))
    cancelled = timers.schedule(START + timedelta(seconds=2), lambda at: ran.append(("x", at)))
    timers.schedule(START + timedelta(seconds=9), lambda at: ran.append(("late", at)))
    cancelled.cancel()

    assert timers.run_until(START + timedelta(seconds=5)) == 2
    assert ran == [("a", START + timedelta(seconds=1)), ("c", START + timedelta(seconds=3))]
    assert timers.next_due() == START + timedelta(seconds=9)
    assert len(timers) == 1


def test_timers_scheduled_by_a_timer_run_in_the_same_pass_when_due() -> None:
    timers = Timers()
    ran: list[datetime] = []

    def chain(at: datetime) -> None:
        ran.append(at)
        if len(ran) < 3:
            timers.schedule(at + timedelta(seconds=5), chain)

    timers.schedule(START, chain)
    timers.run_until(START + timedelta(seconds=12))
    assert ran == [START, START + timedelta(seconds=5), START + timedelta(seconds=10)]


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.booleans(), st.integers(0, 25)), min_size=1, max_size=40
    )
)
def test_timers_in_any_order_run_by_due_time_then_by_when_they_were_scheduled(
    plan: list[tuple[int, bool, int]],
) -> None:
    """Timers scheduled in due order, out of it, tied, cancelled, run in passes up to
    several instants: each runs once, in (due, scheduling) order, and only when due."""
    timers = Timers()
    ran: list[int] = []
    handles = []

    def record(subject: int, at: datetime) -> None:  # one action shared, told its subject
        assert at == START + timedelta(seconds=plan[subject][0])
        ran.append(subject)

    for number, (due, _, _) in enumerate(plan):
        at = START + timedelta(seconds=due)
        if number % 2:
            handles.append(timers.schedule(at, record, number))
        else:
            handles.append(timers.schedule(at, lambda _at, n=number: ran.append(n)))
    for handle, (_, cancel, _) in zip(handles, plan, strict=True):
        if cancel:
            handle.cancel()
    live = [n for n, (_, cancel, _) in enumerate(plan) if not cancel]
    for until in [*sorted({stop for _, _, stop in plan}), 25]:
        timers.run_until(START + timedelta(seconds=until))
        expected = sorted((n for n in live if plan[n][0] <= until), key=lambda n: (plan[n][0], n))
        assert ran == expected
        left = [n for n in live if plan[n][0] > until]
        assert len(timers) == len(left)
        assert timers.next_due() == (
            START + timedelta(seconds=min(plan[n][0] for n in left)) if left else None
        )


def test_a_timer_due_before_those_already_queued_runs_first() -> None:
    timers = Timers()
    ran: list[str] = []
    for name, seconds in [("b", 2), ("c", 3), ("a", 1), ("c2", 3), ("b2", 2), ("d", 4)]:
        timers.schedule(START + timedelta(seconds=seconds), lambda _at, n=name: ran.append(n))
    assert timers.next_due() == START + timedelta(seconds=1)
    assert timers.run_until(START + timedelta(seconds=3)) == 5
    assert ran == ["a", "b", "b2", "c", "c2"]
    timers.clear()
    assert len(timers) == timers.run_until(START + timedelta(days=1)) == 0
    assert timers.next_due() is None


@given(
    instant=st.datetimes(
        # Naive, as hypothesis takes bounds; a day in, so an offset stays on the calendar.
        min_value=datetime(1, 1, 2),  # noqa: DTZ001
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_timestamps_are_written_in_the_live_form_cached_or_not(instant: datetime) -> None:
    expected = instant.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    assert format_iso_once(instant) == format_iso(instant) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-30T00:47:04.000Z", "2023-01-30T00:47:04.000Z"),
        ("2023-01-30T00:47:04Z", "2023-01-30T00:47:04.000Z"),
        ("2023-01-30T02:47:04.123456+02:00", "2023-01-30T00:47:04.123Z"),
        ("2023-01-30T00:47:04", "2023-01-30T00:47:04.000Z"),
    ],
)
def test_iso_round_trip_in_the_live_format(text: str, expected: str) -> None:
    parsed = parse_iso(text)
    assert parsed is not None
    assert format_iso(parsed) == expected


@pytest.mark.parametrize("text", ["2023-01-30", "tomorrow", "", "2023-13-01T00:00:00Z"])
def test_iso_rejects_what_is_not_a_date_time(text: str) -> None:
    assert parse_iso(text) is None


def test_freezegun_time_drives_expiry_through_the_app() -> None:
    from starlette.testclient import TestClient

    from meetings_emulator.app import create_app

    from ..conftest import BASIC

    with freeze_time("2026-05-01T12:00:00Z") as frozen:
        app = create_app()
        with TestClient(app, headers={"Authorization": BASIC}) as client:
            room = client.post("/v1/meetings/rooms", json={"display_name": "x"}).json()
            host = client.post(
                f"/_emulator/rooms/{room['id']}/participants", json={"name": "H", "is_host": True}
            ).json()
            client.delete(f"/_emulator/rooms/{room['id']}/participants/{host['participant_id']}")
            frozen.tick(timedelta(minutes=9, seconds=59))
            assert client.get(f"/v1/meetings/rooms/{room['id']}").json()["is_available"] is True
            frozen.tick(timedelta(seconds=1))
            assert client.get(f"/v1/meetings/rooms/{room['id']}").json()["is_available"] is False


@given(
    moves=st.lists(
        st.one_of(
            st.tuples(st.just("advance"), st.integers(0, 10**8)),
            st.tuples(st.just("set"), st.integers(0, 10**8)),
            st.tuples(st.just("freeze"), st.just(0)),
            st.tuples(st.just("release"), st.just(0)),
        ),
        max_size=12,
    ),
    frozen=st.booleans(),
)
def test_now_seconds_is_now_as_a_timestamp(moves: list[tuple[str, int]], frozen: bool) -> None:
    clock = Clock(start=START, frozen=frozen)
    for move, seconds in moves:
        if move == "advance":
            clock.advance(timedelta(seconds=seconds))
        elif move == "set":
            clock.set(clock.now() + timedelta(seconds=seconds + 1), frozen=seconds % 2 == 0)
        else:
            getattr(clock, move)()
        before = clock.now().timestamp()
        seconds_now = clock.now_seconds()
        after = clock.now().timestamp()
        assert before - 1e-3 <= seconds_now <= after + 1e-3
