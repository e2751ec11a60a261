"""Serial-numbered listings: rooms are paged by integer serials, never by scanning them all."""

from __future__ import annotations

from bisect import bisect_left

from meetings_emulator.domain.models import Page, Room


class SerialIndex:
    """Rooms in ascending serial order. Serials only grow, so adding is an append."""

    __slots__ = ("_rooms", "_serials")

    def __init__(self) -> None:
        self._serials: list[int] = []
        self._rooms: list[Room] = []

    def __len__(self) -> int:
        return len(self._rooms)

    def add(self, room: Room) -> None:
        """Append a room newer than every room here (the usual case: it was just created)."""
        if self._serials and room.serial <= self._serials[-1]:
            raise ValueError("serials must grow")
        self._serials.append(room.serial)
        self._rooms.append(room)

    def insert(self, room: Room) -> None:
        """Add a room in its serial's place (a room taking up a theme later); once only."""
        at = bisect_left(self._serials, room.serial)
        if at < len(self._serials) and self._serials[at] == room.serial:
            return
        self._serials.insert(at, room.serial)
        self._rooms.insert(at, room)

    def remove(self, room: Room) -> None:
        at = bisect_left(self._serials, room.serial)
        if at < len(self._serials) and self._serials[at] == room.serial:
            del self._serials[at]
            del self._rooms[at]

    def rooms(self) -> list[Room]:
        return list(self._rooms)

    def page(self, start_id: int | None, end_id: int | None, page_size: int) -> Page:
        """Rooms with `start_id <= serial < end_id`, at most `page_size` of them, ascending.

        `next_start_id` is the serial that starts the following page: on the last page, one
        past its last room, as the live service pointed (so a caller's loop ends on the empty
        page after it); None only on an empty page. The page before is `prev_start_id <=
        serial < prev_end_id`; on the first page it is `serial < prev_end_id`, with no start
        (empty, as the live service linked it), and an empty first page has none.
        """
        serials = self._serials
        low = 0 if start_id is None else bisect_left(serials, start_id)
        high = len(serials) if end_id is None else bisect_left(serials, end_id)
        stop = min(high, low + page_size)
        items = self._rooms[low:stop] if stop > low else []
        if stop < high:
            next_start: int | None = serials[stop]
        else:
            next_start = serials[stop - 1] + 1 if stop > low else None
        if low > 0:
            prev_start: int | None = serials[max(0, low - page_size)]
            prev_end = serials[low] if low < len(serials) else None
        elif items:  # the first page still points before its first room, as live did
            prev_start, prev_end = None, serials[low]
        else:
            prev_start = prev_end = None
        return Page(items, len(serials), next_start, prev_start, prev_end)
