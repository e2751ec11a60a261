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

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.deliveries import FINISHED, Attempt, Delivery, DeliveryStatus
from meetings_emulator.domain.events import Event, RoomExpired
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.payloads import KINDS, kind_of, payload
from meetings_emulator.domain.signing import (
    SIGNATURE_HEADERS,
    Signing,
    profile_of,
    secret_problem,
    sign,
    signed_for,
)
from meetings_emulator.domain.timers import Timers
from meetings_emulator.version import __version__

USER_AGENT = f"meetings-emulator/{__version__}"
EVENT_ID_HEADER = "X-Meetings-Event-Id"
EVENT_HEADER = "X-Meetings-Event"
METADATA_HEADER = "X-Meetings-Room-Metadata"
KEEP_DELIVERIES = 10_000
DEFAULT_MAX_PENDING = 10_000
# Past `keep`, finished entries behind one still pending are forgotten once this many more
# have piled up (one pass over the pending ones, for many entries logged).
LOG_SLACK = 1_000


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """Application-level routing and delivery settings; a room's own URLs win over these."""

    url: str | None = None
    rooms_url: str | None = None
    sessions_url: str | None = None
    recordings_url: str | None = None
    secret: str | None = None
    signing: str | None = None  # a profile of `signing.py`; None: hmac with a secret, else none
    max_attempts: int = 8
    base_delay: float = 1.0
    timeout: float = 5.0

    def url_for(self, kind: str) -> str | None:
        specific = {"rooms": self.rooms_url, "sessions": self.sessions_url}.get(
            kind, self.recordings_url
        )
        return specific or self.url

    def __post_init__(self) -> None:
        problem = secret_problem(self.profile, self.secret)  # an unknown profile: ValueError
        if problem is not None:
            raise ValueError(f"the callback secret {problem}")

    @property
    def profile(self) -> Signing:
        """How callbacks are signed (see `signing.py`)."""
        return profile_of(self.signing, self.secret)


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
        tenant: str | None = None,
    ) -> None:
        self._clock = clock
        self._tenant = tenant  # a tenant made in the control plane, named in file links
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
        self._signing = (config.profile, config.secret)  # one read gives both, consistent

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
        body_json = payload(event, self._own_url, self._tenant)
        body = _json_bytes(body_json)
        delivery_id = self._ids.uuid()
        delivery = Delivery(
            delivery_id,
            event.name,
            room.id,
            url,
            body_json,
            body,
            self._headers(delivery_id, event),
            event.at,
        )
        self.signed_headers(delivery, event.at)
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
        made_now = not isinstance(event, RoomExpired)
        body = payload(event, self._own_url, self._tenant) if made_now else None
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
                entry._payload = payload(event, self._own_url, self._tenant)
            entry._headers = self._headers(delivery_id, event)
            if entry._logged:  # still in the log: findable by its id from now on
                self._by_id.setdefault(delivery_id, entry)
            entry._source = None

    def _headers(self, delivery_id: str, event: Event) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: delivery_id,
            EVENT_HEADER: event.name,
        }
        metadata = event.room.settings.metadata
        if metadata is not None:
            headers[METADATA_HEADER] = quote(metadata, safe="")
        return headers

    def signed_headers(self, delivery: Delivery, at: datetime) -> dict[str, str]:
        """The headers of an attempt at `delivery` sent at `at`, signed as the configuration
        now says (`signing.py`); they stay the delivery's `headers`, as the log shows them."""
        profile, secret = self._signing
        if profile is Signing.NONE and delivery._signed_for is None:
            return delivery.headers  # unsigned, and to stay so
        key = signed_for(profile, secret, at)
        if key != delivery._signed_for:
            headers = delivery.headers
            if delivery._signed_for is not None:  # the last attempt's signature goes
                headers = {k: v for k, v in headers.items() if k not in SIGNATURE_HEADERS}
            signature = sign(profile, secret, delivery.id, at, delivery.body)
            if signature:
                headers = {**headers, **signature}
            delivery._headers = headers
            delivery._signed_for = key
        return delivery.headers

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
        again = Delivery(
            delivery.id,
            delivery.event,
            delivery.room_id,
            delivery.url,
            delivery.payload,
            delivery.body,
            delivery.headers,
            now,
        )
        again._signed_for = delivery._signed_for  # what its headers are signed for
        self.signed_headers(again, now)
        return again

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
