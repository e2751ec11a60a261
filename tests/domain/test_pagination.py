"""Paging by serial: pages never overlap, never skip, and count the whole listing."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from meetings_emulator.domain.models import Room, RoomSettings
from meetings_emulator.domain.pagination import SerialIndex

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def index_of(serials: list[int]) -> SerialIndex:
    index = SerialIndex()
    for serial in serials:
        index.add(
            Room(serial, f"room-{serial}", "123456789", WHEN, WHEN, RoomSettings("x"), "h", "t")
        )
    return index


serial_sets = st.lists(st.integers(1, 500), unique=True, max_size=120).map(sorted)
bounds = st.one_of(st.none(), st.integers(0, 520))


@settings(max_examples=300, deadline=None)
@given(serials=serial_sets, start=bounds, end=bounds, size=st.integers(1, 30))
def test_following_next_visits_each_room_in_range_once_in_order(
    serials: list[int], start: int | None, end: int | None, size: int
) -> None:
    index = index_of(serials)
    expected = [s for s in serials if (start is None or s >= start) and (end is None or s < end)]
    seen: list[int] = []
    cursor = start
    for _ in range(len(serials) + 2):
        page = index.page(cursor, end, size)
        assert page.total_items == len(serials)
        assert len(page.items) <= size
        seen += [room.serial for room in page.items]
        if page.next_start_id is None:
            break
        assert page.next_start_id > page.items[-1].serial
        cursor = page.next_start_id
    assert seen == expected


@settings(max_examples=200, deadline=None)
@given(serials=serial_sets.filter(bool), size=st.integers(1, 30), data=st.data())
def test_prev_leads_back_to_the_page_before(serials: list[int], size: int, data) -> None:
    index = index_of(serials)
    position = data.draw(st.integers(0, len(serials) - 1))
    page = index.page(serials[position], None, size)
    if position == 0:  # the first page points before its first room, to an empty page
        assert (page.prev_start_id, page.prev_end_id) == (None, serials[0])
        assert index.page(None, serials[0], size).items == []
        return
    before = index.page(page.prev_start_id, page.prev_end_id, size)
    assert [room.serial for room in before.items] == serials[max(0, position - size) : position]
    # The page before ends where this one starts: its `next` points just past its last room.
    assert before.next_start_id == serials[position - 1] + 1 <= serials[position]


@settings(max_examples=200, deadline=None)
@given(serials=serial_sets.filter(bool), size=st.integers(1, 30))
def test_the_last_page_points_past_its_last_room_to_an_empty_page(
    serials: list[int], size: int
) -> None:
    index = index_of(serials)
    last = index.page(serials[-((len(serials) - 1) % size + 1)], None, size)
    assert last.items
    assert last.items[-1].serial == serials[-1]
    assert last.next_start_id == serials[-1] + 1
    after = index.page(last.next_start_id, None, size)
    assert (after.items, after.next_start_id) == ([], None)


def test_empty_listing_has_no_cursors() -> None:
    page = index_of([]).page(None, None, 20)
    assert (page.items, page.total_items) == ([], 0)
    assert (page.next_start_id, page.prev_start_id, page.prev_end_id) == (None, None, None)
