"""Due-time actions, run in time order when the clock reaches them.

A heap keeps the pending timers, so running what is due costs in proportion to the
timers that are due, not to every room. Cancelling marks a timer; the heap drops it
when it reaches the top.
"""

from __future__ import annotations

import heapq
import itertools
import threading
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
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._order = itertools.count()
        # Timers are scheduled from the event loop and, in tests, from the test's own thread.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)

    def schedule(self, due: datetime, action: Action) -> Timer:
        timer = Timer(due, action)
        with self._lock:
            heapq.heappush(self._heap, (due, next(self._order), timer))
        return timer

    def next_due(self) -> datetime | None:
        with self._lock:
            self._drop_cancelled()
            return self._heap[0][0] if self._heap else None

    def run_until(self, now: datetime) -> int:
        """Run every timer due at or before `now`, earliest first, each told its own due time.

        An action may schedule further timers; those that fall due by `now` run too.
        """
        ran = 0
        heap = self._heap
        with self._lock:
            while heap and heap[0][0] <= now:
                due, _, timer = heapq.heappop(heap)
                action = timer.action
                if action is None:
                    continue
                timer.action = None
                action(due)
                ran += 1
        return ran

    def clear(self) -> None:
        self._heap.clear()

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
