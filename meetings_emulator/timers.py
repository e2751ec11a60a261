"""Due-time actions, run in time order when the clock reaches them.

Most timers are scheduled in the order they fall due (each instant room expires ten
minutes after it was made), so those go on a queue, taken from the front in O(1); a
timer due before the last one queued goes on a heap. Running what is due takes the
earlier of the two fronts each time, so it costs in proportion to the timers that are
due, not to every room, and timers due at the same instant run in the order they were
scheduled. Cancelling marks a timer; it is dropped when it reaches a front.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime

Action = Callable[[datetime], None]


class Timer:
    __slots__ = ("action", "due")

    def __init__(self, due: datetime, action: Action) -> None:
        self.due = due
        self.action: Action | None = action

    @property
    def cancelled(self) -> bool:
        return self.action is None

    def cancel(self) -> None:
        self.action = None


class Timers:
    def __init__(self) -> None:
        # (due, order, timer): `order` breaks ties, so a timer is never compared.
        self._queue: deque[tuple[datetime, int, Timer]] = deque()  # in due order
        self._heap: list[tuple[datetime, int, Timer]] = []  # the others
        self._order = itertools.count()
        # Timers are scheduled from the event loop and, in tests, from the test's own thread.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        with self._lock:
            return sum(
                1
                for entries in (self._queue, self._heap)
                for _, _, timer in entries
                if not timer.cancelled
            )

    def schedule(self, due: datetime, action: Action) -> Timer:
        timer = Timer(due, action)
        with self._lock:
            entry = (due, next(self._order), timer)
            queue = self._queue
            if not queue or queue[-1][0] <= due:
                queue.append(entry)
            else:
                heapq.heappush(self._heap, entry)
        return timer

    def next_due(self) -> datetime | None:
        with self._lock:
            self._drop_cancelled()
            queue, heap = self._queue, self._heap
            if queue and heap:
                return min(queue[0][0], heap[0][0])
            if queue:
                return queue[0][0]
            return heap[0][0] if heap else None

    def run_until(self, now: datetime) -> int:
        """Run every timer due at or before `now`, earliest first, each told its own due time.

        An action may schedule further timers; those that fall due by `now` run too.
        """
        ran = 0
        queue, heap = self._queue, self._heap
        with self._lock:
            while True:
                if queue and (not heap or queue[0] < heap[0]):
                    if queue[0][0] > now:
                        break
                    due, _, timer = queue.popleft()
                elif heap and heap[0][0] <= now:
                    due, _, timer = heapq.heappop(heap)
                else:
                    break
                action = timer.action
                if action is None:
                    continue
                timer.action = None
                action(due)
                ran += 1
        return ran

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._heap.clear()

    def _drop_cancelled(self) -> None:
        queue, heap = self._queue, self._heap
        while queue and queue[0][2].cancelled:
            queue.popleft()
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
