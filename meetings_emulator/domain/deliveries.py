"""One callback in the delivery log: a `Delivery`, its `Attempt`s and its `DeliveryStatus`.

The `Outbox` (outbox.py) makes, queues and settles them; the sender posts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meetings_emulator.domain.events import Event
    from meetings_emulator.domain.outbox import Outbox


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or being sent
    RETRYING = "retrying"  # an attempt failed; the next waits for the clock
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: a final answer, or every attempt used
    UNDELIVERED = "undelivered"  # no URL configured for this event


FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: float


class Delivery:
    """One callback: its event, where it goes, what it carries, and every attempt at it.

    An event with no URL is only logged (`undelivered`). Its entry is made in two steps,
    as most are never read (a clock move may expire 100,000 rooms): first what the log is
    filtered by, then, when its `id`, `payload` or `headers` is first read, the rest, the
    same as if it had been made at once. Once read they do not change, but for the signature
    among the `headers`: each attempt is signed as it is sent (`Outbox.signed_headers`), and
    `headers` are the latest attempt's.
    """

    __slots__ = (
        "_headers",
        "_id",
        "_id_bits",
        "_logged",
        "_outbox",
        "_payload",
        "_signed_for",
        "_source",
        "attempts",
        "body",
        "created_at",
        "event",
        "finished_at",
        "next_attempt_at",
        "room_id",
        "status",
        "url",
    )

    def __init__(
        self,
        id: str,
        event: str,
        room_id: str,
        url: str | None,
        payload: dict[str, Any],
        body: bytes,
        headers: dict[str, str],
        created_at: datetime,
        status: DeliveryStatus = DeliveryStatus.PENDING,
        attempts: list[Attempt] | None = None,
        next_attempt_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        self._id = id
        self.event = event
        self.room_id = room_id
        self.url = url
        self._payload: dict[str, Any] | None = payload
        self.body = body
        self._headers: dict[str, str] | None = headers
        # What `headers` are signed for (`signing.signed_for`); None: they are not signed.
        self._signed_for: tuple[object, ...] | None = None
        self.created_at = created_at
        self.status = status
        self.attempts: list[Attempt] = [] if attempts is None else attempts
        self.next_attempt_at = next_attempt_at
        self.finished_at = finished_at
        self._source: Event | None = None  # set while the rest is still to be made
        self._id_bits: int | None = None
        self._outbox: Outbox | None = None
        self._logged = False

    @classmethod
    def undelivered(
        cls, outbox: Outbox, event: Event, id_bits: int | None, body: dict[str, Any] | None
    ) -> Delivery:
        """The log entry of an event with no URL; `outbox` makes the rest when it is read."""
        entry = cls.__new__(cls)
        entry._id = ""
        entry.event = event.name
        entry.room_id = event.room.id
        entry.url = None
        entry._payload = body
        entry.body = b""
        entry._headers = None
        entry._signed_for = None
        entry.created_at = entry.finished_at = event.at
        entry.status = DeliveryStatus.UNDELIVERED
        entry.attempts = []
        entry.next_attempt_at = None
        entry._id_bits = id_bits
        entry._outbox = outbox
        entry._source = event
        entry._logged = True
        return entry

    @property
    def id(self) -> str:
        if self._source is not None:
            self._make()
        return self._id

    @property
    def payload(self) -> dict[str, Any]:
        if self._source is not None:
            self._make()
        assert self._payload is not None
        return self._payload

    @property
    def headers(self) -> dict[str, str]:
        if self._source is not None:
            self._make()
        assert self._headers is not None
        return self._headers

    def _make(self) -> None:
        outbox = self._outbox
        assert outbox is not None
        outbox._make(self)

    def __repr__(self) -> str:
        return (
            f"Delivery(id={self.id!r}, event={self.event!r}, room_id={self.room_id!r}, "
            f"url={self.url!r}, status={self.status!r}, attempts={len(self.attempts)})"
        )
