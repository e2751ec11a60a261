"""The outbox: every event becomes a callback delivery, queued, retried and logged.

`Outbox` is the outbox and the delivery log. It hears each event as the domain records
it, picks the URL (the room's `callback_urls` first, then the application's), snapshots
the payload and queues a `Delivery` behind the earlier ones of the same room. An event
with no URL is only logged, and the parts of its entry nobody may read are made when they
are read (see `Delivery`). It is plain Python and thread-safe: events come from the event
loop and, in tests, from the test's own thread.

The network is not here: `callbacks/sender.py`'s `Sender` takes what is ready, posts it
and reports each attempt back with `settle`. A failed attempt that may succeed later (a
timeout, a connection error, 5xx, 408, 429) is retried after an exponential, jittered
delay measured on the emulator's clock, so a test moves the clock to make retries happen;
other answers end the delivery. The rooms whose head may be sent are kept on a ready
queue, so a burst of N callbacks costs N, not N * rooms.

Both queues are bounded. At most `max_pending` deliveries wait to be delivered or given up
(queued or retrying): past that, the oldest not in flight are given up unsent, each with a
note in place of an attempt, and counted (`dropped`). The log keeps the latest `keep`
finished entries, and any not finished yet: a retry that waits for a frozen clock does not
hold every later entry in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import orjson

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.events import Event, RoomExpired
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.payloads import KINDS, kind_of, payload
from meetings_emulator.domain.timers import Timers
from meetings_emulator.version import __version__

USER_AGENT = f"meetings-emulator/{__version__}"
EVENT_ID_HEADER = "X-Meetings-Event-Id"
EVENT_HEADER = "X-Meetings-Event"
METADATA_HEADER = "X-Meetings-Room-Metadata"
SIGNATURE_HEADER = "X-Meetings-Signature"
KEEP_DELIVERIES = 10_000
DEFAULT_MAX_PENDING = 10_000
# Past `keep`, finished entries behind one still pending are forgotten once this many more
# have piled up (one pass over the pending ones, for many entries logged).
LOG_SLACK = 1_000


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or being sent
    RETRYING = "retrying"  # an attempt failed; the next waits for the clock
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: a final answer, or every attempt used
    UNDELIVERED = "undelivered"  # no URL configured for this event


FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """Application-level routing and delivery settings; a room's own URLs win over these."""

    url: str | None = None
    rooms_url: str | None = None
    sessions_url: str | None = None
    recordings_url: str | None = None
    secret: str | None = None
    max_attempts: int = 8
    base_delay: float = 1.0
    timeout: float = 5.0

    def url_for(self, kind: str) -> str | None:
        specific = {"rooms": self.rooms_url, "sessions": self.sessions_url}.get(
            kind, self.recordings_url
        )
        return specific or self.url


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
    same as if it had been made at once. Once read they do not change.
    """

    __slots__ = (
        "_headers",
        "_id",
        "_id_bits",
        "_logged",
        "_outbox",
        "_payload",
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


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retryable(status_code: int | None) -> bool:
    """Worth another try: no answer at all, a server error, 408 or 429."""
    return status_code is None or status_code >= 500 or status_code in (408, 429)


class Outbox:
    def __init__(
        self,
        clock: Clock,
        ids: Ids,
        timers: Timers,
        config: CallbackConfig,
        own_url: str,
        *,
        keep: int = KEEP_DELIVERIES,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._timers = timers
        self.config = config
        self._own_url = own_url
        self._keep = keep
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._log: deque[Delivery] = deque()  # oldest first
        self._by_id: dict[str, Delivery] = {}  # every logged delivery whose id is made
        self._queues: dict[str, deque[Delivery]] = {}  # per room, what is still to send
        self._ready: deque[str] = deque()  # rooms whose queue's head may be sendable now
        self._in_flight: set[Delivery] = set()
        self._max_pending = max_pending
        self._pending_count = 0  # deliveries neither delivered nor given up
        self._pending_order: deque[Delivery] = deque()  # oldest first; finished ones linger
        self.dropped = 0  # given up unsent, past `max_pending`
        self._dropped_unreported = 0
        # Told, outside the lock, whenever a delivery may be sent or an entry of the log
        # was finished (the sender and the answers waiting on the log listen; the app sets it).
        self.notify: Callable[[], None] = lambda: None

    @property
    def config(self) -> CallbackConfig:
        return self._config

    @config.setter
    def config(self, config: CallbackConfig) -> None:
        self._config = config
        self._app_urls = {kind: config.url_for(kind) for kind in KINDS.values()}

    # -- recording what happened ------------------------------------------------------

    def record(self, event: Event) -> Delivery:
        """Turn an event into a delivery (the `EventLog` calls this for each event)."""
        room = event.room
        kind = _KIND_OF.get(event.name)
        if kind is None:
            kind = _KIND_OF[event.name] = kind_of(event)
        room_urls = room.settings.callback_urls
        url = (room_urls.get(kind + "_callback_url") if room_urls else None) or self._app_urls[kind]
        if url is None:
            return self._log_undelivered(event)
        body_json = payload(event, self._own_url)
        body = _json_bytes(body_json)
        delivery_id = self._ids.uuid()
        delivery = Delivery(
            delivery_id,
            event.name,
            room.id,
            url,
            body_json,
            body,
            self._headers(delivery_id, event, body, url),
            event.at,
        )
        with self._lock:
            self._enqueue(delivery)
            self._add_to_log(delivery)
            self._changed.notify_all()
        self.notify()
        return delivery

    def _enqueue(self, delivery: Delivery) -> None:
        """Queue a delivery behind its room's; past `max_pending`, give up the oldest."""
        queue = self._queues.get(delivery.room_id)
        if queue is None:
            self._queues[delivery.room_id] = deque((delivery,))
            self._ready.append(delivery.room_id)
        else:
            queue.append(delivery)
        self._pending_count += 1
        order = self._pending_order
        order.append(delivery)
        if self._pending_count > self._max_pending:
            self._drop_oldest(delivery.created_at)
        elif len(order) > 2 * self._pending_count + 1024:  # mostly finished: tidy up
            self._pending_order = deque(d for d in order if d.status not in FINISHED)

    def _drop_oldest(self, at: datetime) -> None:
        """Give up the oldest pending deliveries, unsent, until `max_pending` are left (one
        in flight is left to its attempt)."""
        order, held = self._pending_order, []
        note = (
            f"given up unsent: more than {self._max_pending} callbacks were pending"
            " (--max-pending-callbacks)"
        )
        while self._pending_count > self._max_pending and order:
            oldest = order.popleft()
            if oldest.status in FINISHED:
                continue
            if oldest in self._in_flight:
                held.append(oldest)
                continue
            queue = self._queues.get(oldest.room_id)
            if queue and queue[0] is not oldest:
                queue.remove(oldest)  # behind its room's head: taken out of the queue
            oldest.attempts.append(Attempt(at, None, note, 0.0))
            self._finish(oldest, DeliveryStatus.FAILED, at)
            self.dropped += 1
            self._dropped_unreported += 1
        order.extendleft(reversed(held))

    def take_dropped(self) -> int:
        """How many were given up unsent since the last call (for one log line a burst)."""
        with self._lock:
            count, self._dropped_unreported = self._dropped_unreported, 0
            return count

    @property
    def max_pending(self) -> int:
        return self._max_pending

    def _log_undelivered(self, event: Event) -> Delivery:
        # The payload of `room:expired` is made when read, from the room, which no longer
        # changes; other events' payloads are made now, from objects that may change later.
        body = None if isinstance(event, RoomExpired) else payload(event, self._own_url)
        entry = Delivery.undelivered(self, event, self._ids.uuid_draw(), body)
        with self._lock:
            self._log.append(entry)
            if len(self._log) > self._keep:
                self._forget_old()
        self.notify()
        return entry

    def _make(self, entry: Delivery) -> None:
        """Make the rest of an undelivered entry, the first time it is read."""
        with self._lock:
            event = entry._source
            if event is None:  # made meanwhile, by another thread
                return
            entry._id = delivery_id = self._ids.uuid_later(entry._id_bits)
            if entry._payload is None:
                entry._payload = payload(event, self._own_url)
            entry._headers = self._headers(delivery_id, event, b"", None)
            if entry._logged:  # still in the log: findable by its id from now on
                self._by_id.setdefault(delivery_id, entry)
            entry._source = None

    def _headers(
        self, delivery_id: str, event: Event, body: bytes, url: str | None
    ) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: delivery_id,
            EVENT_HEADER: event.name,
        }
        metadata = event.room.settings.metadata
        if metadata is not None:
            headers[METADATA_HEADER] = quote(metadata, safe="")
        if self.config.secret and url is not None:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body)
        return headers

    def _add_to_log(self, delivery: Delivery) -> None:
        delivery._logged = True
        self._log.append(delivery)
        self._by_id[delivery.id] = delivery
        if len(self._log) > self._keep:
            self._forget_old()

    def _forget_old(self) -> None:
        log, keep = self._log, self._keep
        while len(log) > keep and log[0].status in FINISHED:
            self._unlog(log.popleft())
        if len(log) <= keep + LOG_SLACK:
            return
        # Entries not finished yet lead the log: keep them, in order, and forget the
        # oldest finished entries behind them.
        held: list[Delivery] = []
        while log and len(log) + len(held) > keep:
            oldest = log.popleft()
            if oldest.status in FINISHED:
                self._unlog(oldest)
            else:
                held.append(oldest)
        log.extendleft(reversed(held))

    def _unlog(self, entry: Delivery) -> None:
        entry._logged = False
        if entry._source is None and self._by_id.get(entry._id) is entry:
            del self._by_id[entry._id]

    # -- what the sender asks ---------------------------------------------------------

    def take_ready(self, limit: int | None = None) -> list[Delivery]:
        """Up to `limit` room queues' heads that can be sent now; each is marked in flight.

        Only the rooms whose head may have become sendable are looked at (a new queue, a
        head finished, a retry due), so a wake costs what is ready, not every room."""
        with self._lock:
            ready: list[Delivery] = []
            rooms, queues, in_flight = self._ready, self._queues, self._in_flight
            while rooms and (limit is None or len(ready) < limit):
                queue = queues.get(rooms.popleft())
                if not queue:
                    continue
                head = queue[0]
                if head.status is DeliveryStatus.PENDING and head not in in_flight:
                    in_flight.add(head)
                    ready.append(head)
            return ready

    def settle(self, delivery: Delivery, attempt: Attempt) -> None:
        """Record an attempt's outcome: delivered, given up, or another try later."""
        retry_at = None
        with self._lock:
            self._in_flight.discard(delivery)
            delivery.attempts.append(attempt)
            code = attempt.status_code
            if code is not None and 200 <= code < 300:
                self._finish(delivery, DeliveryStatus.DELIVERED, attempt.at)
            elif not retryable(code) or len(delivery.attempts) >= self.config.max_attempts:
                self._finish(delivery, DeliveryStatus.FAILED, attempt.at)
            else:
                delivery.status = DeliveryStatus.RETRYING
                retry_at = attempt.at + self.backoff(len(delivery.attempts))
                delivery.next_attempt_at = retry_at
            self._changed.notify_all()
        if retry_at is not None:  # outside the lock: timers run domain code that records events
            self._timers.schedule(retry_at, lambda _at: self._retry_due(delivery))
        self.notify()

    def backoff(self, failures: int) -> timedelta:
        """`base_delay * 2**(failures - 1)`, less up to half of it at random (jitter)."""
        full = self.config.base_delay * 2 ** (failures - 1)
        return timedelta(seconds=full * (1 - 0.5 * self._ids.fraction()))

    def _retry_due(self, delivery: Delivery) -> None:
        with self._lock:
            if delivery.status is DeliveryStatus.RETRYING:
                delivery.status = DeliveryStatus.PENDING
                delivery.next_attempt_at = None
                self._ready.append(delivery.room_id)
            self._changed.notify_all()
        self.notify()

    def _finish(self, delivery: Delivery, status: DeliveryStatus, at: datetime) -> None:
        if delivery.status not in FINISHED:
            self._pending_count -= 1
        delivery.status = status
        delivery.finished_at = at
        delivery.next_attempt_at = None
        queue = self._queues.get(delivery.room_id)
        if queue and queue[0] is delivery:
            queue.popleft()
            if queue:
                self._ready.append(delivery.room_id)  # the next one's turn
            else:
                del self._queues[delivery.room_id]

    def pending(self) -> list[Delivery]:
        """Everything not yet delivered or given up, oldest first per room."""
        with self._lock:
            return [delivery for queue in self._queues.values() for delivery in queue]

    def settle_last(self, delivery: Delivery, attempt: Attempt) -> None:
        """Record a last attempt made at shutdown: delivered, or given up with no retry."""
        with self._lock:
            self._in_flight.discard(delivery)
            delivery.attempts.append(attempt)
            code = attempt.status_code
            delivered = code is not None and 200 <= code < 300
            status = DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED
            self._finish(delivery, status, attempt.at)
            self._changed.notify_all()
        self.notify()

    def give_up(self, delivery: Delivery, at: datetime) -> None:
        with self._lock:
            self._in_flight.discard(delivery)
            self._finish(delivery, DeliveryStatus.FAILED, at)
            self._changed.notify_all()
        self.notify()

    # -- observing --------------------------------------------------------------------

    def is_idle(self) -> bool:
        """Nothing is being sent and nothing can be sent before the clock moves."""
        with self._lock:
            return not self._in_flight and all(
                queue[0].status is DeliveryStatus.RETRYING for queue in self._queues.values()
            )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until idle (every callback that can be sent now has been); False on timeout."""
        with self._changed:
            return self._changed.wait_for(self.is_idle, timeout)

    def deliveries(
        self,
        *,
        room_id: str | None = None,
        event: str | None = None,
        status: str | None = None,
    ) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self._log
                if (room_id is None or d.room_id == room_id)
                and (event is None or d.event == event)
                and (status is None or d.status == status)
            ]

    def delivery(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            found = self._by_id.get(delivery_id)
            if found is not None or self._ids.seed is None:
                return found
            # From a seeded sequence, an id can be known before it is read (a replay).
            for entry in self._log:
                bits = entry._id_bits
                unread = entry._source is not None and bits is not None
                if unread and self._ids.uuid(bits) == delivery_id:
                    self._make(entry)
                    return entry
            return None

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = {str(status): 0 for status in DeliveryStatus}
            for delivery in self._log:
                counts[str(delivery.status)] += 1
            return counts

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send a finished delivery once more (same event id), behind its room's queue."""
        if delivery.url is None:
            raise ValueError("no URL to deliver to")
        again = self._again(delivery, self._clock.now())
        with self._lock:
            if delivery._logged:
                self._log.remove(delivery)
                self._unlog(delivery)
            self._enqueue(again)
            self._add_to_log(again)
            self._changed.notify_all()
        self.notify()
        return again

    def redeliver_all(
        self,
        *,
        status: DeliveryStatus = DeliveryStatus.FAILED,
        room_id: str | None = None,
        event: str | None = None,
    ) -> list[Delivery]:
        """Send again every logged delivery in `status` (failed, or delivered), of `room_id`
        and `event` when given: oldest first, so each room's go in their order."""
        if status not in (DeliveryStatus.FAILED, DeliveryStatus.DELIVERED):
            raise ValueError("only finished deliveries with a URL can be sent again")
        now = self._clock.now()
        with self._lock:
            chosen = [
                d
                for d in self._log
                if d.status == status
                and d.url is not None
                and (room_id is None or d.room_id == room_id)
                and (event is None or d.event == event)
            ]
            if not chosen:
                return []
            leaving = {id(d) for d in chosen}
            self._log = deque(d for d in self._log if id(d) not in leaving)
            again = []
            for delivery in chosen:
                self._unlog(delivery)
                copy = self._again(delivery, now)
                self._enqueue(copy)
                self._add_to_log(copy)
                again.append(copy)
            self._changed.notify_all()
        self.notify()
        return again

    def _again(self, delivery: Delivery, now: datetime) -> Delivery:
        return Delivery(
            delivery.id,
            delivery.event,
            delivery.room_id,
            delivery.url,
            delivery.payload,
            delivery.body,
            delivery.headers,
            now,
        )

    def reconfigure(self, config: CallbackConfig) -> None:
        with self._lock:
            self.config = config

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries())


_KIND_OF: dict[str, str] = {}  # event name -> kind, as `kind_of` says


def _json_bytes(body: dict[str, Any]) -> bytes:
    """The body as compact UTF-8 JSON; orjson writes the same bytes as `json.dumps` would."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate in a name: as json.dumps does it
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
