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

Action = Callable[..., None]


class Timer:
    """An action due at a time; `order` says when it was scheduled, among timers due at once."""

    __slots__ = ("action", "due", "order", "subject")

    def __init__(self, due: datetime, order: int, action: Action, subject: object) -> None:
        self.due = due
        self.order = order
        self.action: Action | None = action
        self.subject = subject

    @property
    def cancelled(self) -> bool:
        return self.action is None

    def cancel(self) -> None:
        self.action = None
        self.subject = None

    def run(self) -> None:
        action, subject = self.action, self.subject
        assert action is not None
        self.cancel()
        if subject is None:
            action(self.due)
        else:
            action(subject, self.due)


class Timers:
    def __init__(self) -> None:
        # The queue holds timers in due order (each due no earlier than the one before it);
        # the heap holds the others as (due, order, timer), so a timer is never compared.
        self._queue: deque[Timer] = deque()
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._order = itertools.count()
        # Timers are scheduled from the event loop and, in tests, from the test's own thread.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        with self._lock:
            live = sum(1 for timer in self._queue if not timer.cancelled)
            return live + sum(1 for _, _, timer in self._heap if not timer.cancelled)

    def schedule(self, due: datetime, action: Action, subject: object = None) -> Timer:
        """Call `action(due)` once the clock reaches `due`; with a `subject`, call
        `action(subject, due)` instead, so that many timers can share one method and
        none keeps a closure of its own."""
        with self._lock:
            timer = Timer(due, next(self._order), action, subject)
            queue = self._queue
            if not queue or queue[-1].due <= due:
                queue.append(timer)
            else:
                heapq.heappush(self._heap, (due, timer.order, timer))
        return timer

    def next_due(self) -> datetime | None:
        with self._lock:
            self._drop_cancelled()
            queue, heap = self._queue, self._heap
            if queue and heap:
                return min(queue[0].due, heap[0][0])
            if queue:
                return queue[0].due
            return heap[0][0] if heap else None

    def run_until(self, now: datetime) -> int:
        """Run every timer due at or before `now`, earliest first, each told its own due time.

        An action may schedule further timers; those that fall due by `now` run too.
        """
        ran = 0
        queue, heap = self._queue, self._heap
        with self._lock:
            while True:
                if queue and (not heap or (queue[0].due, queue[0].order) < heap[0][:2]):
                    if queue[0].due > now:
                        break
                    timer = queue.popleft()
                elif heap and heap[0][0] <= now:
                    timer = heapq.heappop(heap)[2]
                else:
                    break
                if timer.cancelled:
                    continue
                timer.run()
                ran += 1
        return ran

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._heap.clear()

    def _drop_cancelled(self) -> None:
        queue, heap = self._queue, self._heap
        while queue and queue[0].cancelled:
            queue.popleft()
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
