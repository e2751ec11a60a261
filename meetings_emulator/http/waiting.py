"""Answers that wait: `?wait=SECONDS&count=N` on the delivery log and the request journal.

A waiting answer is held until at least `count` entries match (1 when only `wait` is
given), or `wait` seconds have passed, then lists what matches with `"complete"`: whether
there were enough. Nothing polls. The source being watched (the outbox, the journal) calls
`Changes.notify` whenever an entry may have been finished, and each waiting answer looks
again then, and only then. `notify` is cheap when nobody waits and safe from any thread.

A wait ends early, answering what there is, when its client hangs up (the answer goes
nowhere, and nothing is left behind) or when the server begins to stop (`Changes.end`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import Receive

MAX_WAIT_SECONDS = 60
WAIT_KEYS = ("wait", "count")
_SECONDS = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,20})?$")
_WHOLE = re.compile(r"^[0-9]{1,9}$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Wait:
    """How long an answer may be held (0: not at all), and how many entries complete it."""

    seconds: float = 0.0
    count: int = 1


def parse_wait(query: Mapping[str, str], problems: list[str], *, most: int) -> Wait | None:
    """`wait` and `count` from a query string, or None when neither is given (the answer is
    then the plain list, as it always was). Each bad value adds its problem to `problems`;
    `most` is the largest `count` the source can ever hold."""
    seconds, count = query.get("wait"), query.get("count")
    if seconds is None and count is None:
        return None
    wait = Wait()
    if seconds is not None:
        if not _SECONDS.match(seconds) or float(seconds) > MAX_WAIT_SECONDS:
            problems.append(f'"wait" must be a number of seconds from 0 to {MAX_WAIT_SECONDS}')
        else:
            wait = Wait(float(seconds))
    if count is not None:
        if not _WHOLE.match(count) or not 1 <= int(count) <= most:
            problems.append(f'"count" must be an integer from 1 to {most}')
        else:
            wait = Wait(wait.seconds, int(count))
    return wait


def whole_number(value: str, least: int, most: int) -> int | None:
    """`value` as an integer from `least` to `most` (ASCII digits only), else None."""
    if not _WHOLE.match(value) or not least <= int(value) <= most:
        return None
    return int(value)


class Changes:
    """Tells the answers waiting on one source that it may have changed.

    One future, shared by every answer waiting at that moment, stands for "the next
    change": `notify` resolves it, and the first answer to look again puts a fresh one in
    its place. A burst of changes wakes each answer once, not once per change.
    """

    def __init__(self) -> None:
        self._next: asyncio.Future[None] | None = None
        self._ended = False
        self.waiting = 0  # answers being held now

    def notify(self) -> None:
        """Thread-safe: something the waiting answers look at may have changed."""
        future = self._next
        if future is None or future.done():
            return
        loop = future.get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            future.set_result(None)
        elif not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, future)

    def end(self) -> None:
        """The server is stopping: every answer held is given now, and none is held again."""
        self._ended = True
        self.notify()

    def _next_change(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        future = self._next
        if future is None or future.done() or future.get_loop() is not loop:
            future = self._next = loop.create_future()
        return future

    async def wait_for(
        self, find: Callable[[], list[T]], wait: Wait, receive: Receive
    ) -> tuple[list[T], bool]:
        """What `find` gives once it holds `wait.count` entries, or when `wait.seconds` are
        up, the client has gone or the server is stopping; and whether it held enough.

        `find` looks in the source afresh each time (a reset may have replaced it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait.seconds
        gone: asyncio.Task[None] | None = None
        self.waiting += 1
        try:
            while True:
                change = self._next_change(loop)  # before looking: no change is missed
                found = find()
                if len(found) >= wait.count:
                    return found, True
                left = deadline - loop.time()
                if left <= 0 or self._ended or (gone is not None and gone.done()):
                    return found, False
                if gone is None:
                    gone = asyncio.create_task(_disconnected(receive))
                await asyncio.wait((change, gone), timeout=left, return_when="FIRST_COMPLETED")
        finally:
            self.waiting -= 1
            if gone is not None:
                gone.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has hung up. A GET's body (none) comes first; after it, the
    server's `receive` answers only when the connection ends."""
    body_read = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if body_read:  # a server that never blocks here: it cannot tell, so never say
            await asyncio.get_running_loop().create_future()
        body_read = not message.get("more_body", False)


__all__ = ["MAX_WAIT_SECONDS", "WAIT_KEYS", "Changes", "Wait", "parse_wait", "whole_number"]
