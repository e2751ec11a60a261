"""The only place the emulator reads the time.

`Clock.now()` is emulator time: real UTC time plus an offset that the control plane
can move forward, or a fixed instant while the clock is frozen. `Clock.wall()` is the
machine's real time, used only where the outside world's time matters (the expiry of
a caller's JWT, which the caller made with its own real clock).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class ClockError(ValueError):
    """A clock move the emulator refuses: backwards, or past `LATEST`."""


# Far enough for any test, and leaves room for five-year expiries without leaving the calendar.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Emulator time: real time by default, settable, advanceable and freezable."""

    def __init__(self, *, start: datetime | None = None, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if start is not None:
            start = _aware(start)
            self._offset = start - utc_now()
        if frozen:
            self._frozen_at = start if start is not None else utc_now()
        self._refresh()

    @classmethod
    def frozen_at(cls, start: datetime) -> Clock:
        """A clock standing still at `start` until it is moved: the usual choice in tests."""
        return cls(start=start, frozen=True)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> datetime:
        frozen_at = self._frozen_at
        if frozen_at is not None:
            return frozen_at
        return utc_now() + self._offset

    def now_seconds(self) -> float:
        """Emulator time as a POSIX timestamp: `now().timestamp()`, for less, where only the
        second matters."""
        frozen = self._frozen_seconds
        if frozen is not None:
            return frozen
        return time.time() + self._offset_seconds

    def _refresh(self) -> None:
        """Keep the POSIX forms of the clock's state that `now_seconds` reads."""
        frozen_at = self._frozen_at
        self._frozen_seconds = None if frozen_at is None else frozen_at.timestamp()
        self._offset_seconds = self._offset.total_seconds()

    def wall(self) -> datetime:
        return utc_now()

    @staticmethod
    def wall_seconds() -> float:
        """The machine's real time as a POSIX timestamp (what a JWT's `exp` is compared with)."""
        return time.time()

    @staticmethod
    def elapsed() -> float:
        """A monotonic reading in seconds, for measuring how long something took."""
        return time.perf_counter()

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ClockError("the clock only moves forward")
        with self._lock:
            _check_within_calendar(self.now(), delta)
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
            self._refresh()
            return self.now()

    def set(self, instant: datetime, *, frozen: bool | None = None) -> datetime:
        """Move to `instant` (not earlier than now); optionally freeze or release the clock."""
        instant = _aware(instant)
        with self._lock:
            if instant < self.now():
                raise ClockError("the clock only moves forward")
            _check_within_calendar(instant, timedelta(0))
            keep_frozen = self.frozen if frozen is None else frozen
            if keep_frozen:
                self._frozen_at = instant
            else:
                self._frozen_at = None
                self._offset = instant - utc_now()
            self._refresh()
            return self.now()

    def freeze(self) -> datetime:
        with self._lock:
            self._frozen_at = self.now()
            self._refresh()
            return self._frozen_at

    def release(self) -> datetime:
        """Let a frozen clock run again in real time from where it stands."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - utc_now()
                self._frozen_at = None
            self._refresh()
            return self.now()


def _check_within_calendar(start: datetime, delta: timedelta) -> None:
    if delta > LATEST - start:
        raise ClockError(f"the clock cannot pass {LATEST:%Y-%m-%d}")


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)
