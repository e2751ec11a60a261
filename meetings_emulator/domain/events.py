"""What happened, as the domain records it: one event per callback the live API sent.

Services append events to an `EventLog` as they change state, in the order the changes
happened; the callback dispatcher (and tests) read them from there. Each event knows its
room, so delivery can route it and keep per-room order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from meetings_emulator.domain.models import (
        Participant,
        Recording,
        Room,
        Session,
        Unavailability,
    )


@dataclass(frozen=True, slots=True)
class Event:
    name: ClassVar[str]
    room: Room
    at: datetime


@dataclass(frozen=True, slots=True)
class RoomExpired(Event):
    """The room stopped accepting sessions: it expired, or it was deleted."""

    name: ClassVar[str] = "room:expired"
    reason: Unavailability


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    name: ClassVar[str] = "session:started"
    session: Session


@dataclass(frozen=True, slots=True)
class SessionEnded(Event):
    name: ClassVar[str] = "session:ended"
    session: Session


@dataclass(frozen=True, slots=True)
class ParticipantJoined(Event):
    name: ClassVar[str] = "session:participant:joined"
    session: Session
    participant: Participant


@dataclass(frozen=True, slots=True)
class ParticipantLeft(Event):
    name: ClassVar[str] = "session:participant:left"
    session: Session
    participant: Participant


@dataclass(frozen=True, slots=True)
class RecordingStarted(Event):
    name: ClassVar[str] = "recording:started"
    recording: Recording


@dataclass(frozen=True, slots=True)
class RecordingEnded(Event):
    name: ClassVar[str] = "recording:ended"
    recording: Recording


@dataclass(frozen=True, slots=True)
class RecordingUploaded(Event):
    name: ClassVar[str] = "recording:uploaded"
    recording: Recording


Listener = Callable[[Event], None]


class EventLog:
    """The recent events, newest last, plus the listeners told of each as it happens."""

    def __init__(self, keep: int = 10_000) -> None:
        self._recent: deque[Event] = deque(maxlen=keep)
        self._listeners: list[Listener] = []

    def __call__(self, event: Event) -> None:
        self._recent.append(event)
        for listener in self._listeners:
            listener(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._recent)

    def __len__(self) -> int:
        return len(self._recent)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def clear(self) -> None:
        self._recent.clear()
