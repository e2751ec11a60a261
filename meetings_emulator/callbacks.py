"""Callbacks: every event, posted as JSON to the URL configured for its kind.

`Callbacks` is the outbox and the delivery log. It hears each event as the domain records
it, snapshots the payload, picks the URL (the room's `callback_urls` first, then the
application's) and queues a `Delivery` behind the earlier ones of the same room. It is
plain Python and thread-safe: events come from the event loop and, in tests, from the
test's own thread.

`Sender` is the part that does HTTP. It runs in the app's event loop, posts the head of
every room's queue (rooms in parallel, each room in order), and reports back. A failed
attempt that may succeed later (a timeout, a connection error, 5xx, 408, 429) is retried
after an exponential, jittered delay measured on the emulator's clock, so a test moves
the clock to make retries happen; other answers end the delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from . import __version__
from .clock import Clock
from .events import Event
from .ids import Ids
from .payloads import kind_of, payload
from .timers import Timers

log = logging.getLogger("meetings_emulator.callbacks")

USER_AGENT = f"meetings-emulator/{__version__}"
EVENT_ID_HEADER = "X-Meetings-Event-Id"
EVENT_HEADER = "X-Meetings-Event"
METADATA_HEADER = "X-Meetings-Room-Metadata"
SIGNATURE_HEADER = "X-Meetings-Signature"
KEEP_DELIVERIES = 10_000
MAX_PARALLEL = 32


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


@dataclass(slots=True, eq=False)
class Delivery:
    id: str
    event: str
    room_id: str
    url: str | None
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: datetime | None = None
    finished_at: datetime | None = None


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retryable(status_code: int | None) -> bool:
    """Worth another try: no answer at all, a server error, 408 or 429."""
    return status_code is None or status_code >= 500 or status_code in (408, 429)


class Callbacks:
    def __init__(
        self,
        clock: Clock,
        ids: Ids,
        timers: Timers,
        config: CallbackConfig,
        own_url: str,
        *,
        keep: int = KEEP_DELIVERIES,
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._timers = timers
        self.config = config
        self._own_url = own_url
        self._keep = keep
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._log: OrderedDict[str, Delivery] = OrderedDict()
        self._queues: dict[str, deque[Delivery]] = {}
        self._in_flight: set[str] = set()
        # Told whenever a delivery may be sent; the sender sets it.
        self.notify: Callable[[], None] = lambda: None

    # -- recording what happened ------------------------------------------------------

    def record(self, event: Event) -> Delivery:
        """Turn an event into a delivery (the `EventLog` calls this for each event)."""
        room = event.room
        kind = kind_of(event)
        url = (room.settings.callback_urls or {}).get(f"{kind}_callback_url")
        url = url or self.config.url_for(kind)
        body_json = payload(event, self._own_url)
        # Only what will be sent needs its bytes (and, with a secret, its signature).
        body = (
            b""
            if url is None
            else json.dumps(body_json, separators=(",", ":"), ensure_ascii=False).encode()
        )
        delivery_id = self._ids.uuid()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: delivery_id,
            EVENT_HEADER: event.name,
        }
        if room.settings.metadata is not None:
            headers[METADATA_HEADER] = quote(room.settings.metadata, safe="")
        if self.config.secret and url is not None:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body)
        delivery = Delivery(
            delivery_id,
            event.name,
            room.id,
            url,
            body_json,
            body,
            headers,
            event.at,
        )
        with self._lock:
            if url is None:
                delivery.status = DeliveryStatus.UNDELIVERED
                delivery.finished_at = event.at
            else:
                self._queues.setdefault(room.id, deque()).append(delivery)
            self._log[delivery.id] = delivery
            self._forget_old()
            self._changed.notify_all()
        if url is not None:
            self.notify()
        return delivery

    def _forget_old(self) -> None:
        while len(self._log) > self._keep:
            oldest_id, oldest = next(iter(self._log.items()))
            if oldest.status not in FINISHED:
                break
            del self._log[oldest_id]

    # -- what the sender asks ---------------------------------------------------------

    def take_ready(self) -> list[Delivery]:
        """The head of every room queue that can be sent now; each is marked in flight."""
        with self._lock:
            ready = [
                queue[0]
                for queue in self._queues.values()
                if queue
                and queue[0].status is DeliveryStatus.PENDING
                and queue[0].id not in self._in_flight
            ]
            self._in_flight.update(delivery.id for delivery in ready)
            return ready

    def settle(self, delivery: Delivery, attempt: Attempt) -> None:
        """Record an attempt's outcome: delivered, given up, or another try later."""
        retry_at = None
        with self._lock:
            self._in_flight.discard(delivery.id)
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
            self._changed.notify_all()
        self.notify()

    def _finish(self, delivery: Delivery, status: DeliveryStatus, at: datetime) -> None:
        delivery.status = status
        delivery.finished_at = at
        delivery.next_attempt_at = None
        queue = self._queues.get(delivery.room_id)
        if queue and queue[0] is delivery:
            queue.popleft()
            if not queue:
                del self._queues[delivery.room_id]

    def pending(self) -> list[Delivery]:
        """Everything not yet delivered or given up, oldest first per room."""
        with self._lock:
            return [delivery for queue in self._queues.values() for delivery in queue]

    def give_up(self, delivery: Delivery, at: datetime) -> None:
        with self._lock:
            self._in_flight.discard(delivery.id)
            self._finish(delivery, DeliveryStatus.FAILED, at)
            self._changed.notify_all()

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
                for d in self._log.values()
                if (room_id is None or d.room_id == room_id)
                and (event is None or d.event == event)
                and (status is None or d.status == status)
            ]

    def delivery(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            return self._log.get(delivery_id)

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = {str(status): 0 for status in DeliveryStatus}
            for delivery in self._log.values():
                counts[str(delivery.status)] += 1
            return counts

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send a finished delivery once more (same event id), behind its room's queue."""
        again = replace(
            delivery,
            status=DeliveryStatus.PENDING,
            attempts=[],
            created_at=self._clock.now(),
            next_attempt_at=None,
            finished_at=None,
            url=delivery.url,
        )
        if again.url is None:
            raise ValueError("no URL to deliver to")
        with self._lock:
            self._queues.setdefault(again.room_id, deque()).append(again)
            self._log.pop(delivery.id, None)
            self._log[again.id] = again
            self._changed.notify_all()
        self.notify()
        return again

    def reconfigure(self, config: CallbackConfig) -> None:
        with self._lock:
            self.config = config

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries())


Post = Callable[[Delivery, float], Awaitable[Attempt]]


class DeliveryFaults(Protocol):
    """Deliberate faults in deliveries (slow, duplicated, reordered): `resilience.py`'s
    `CallbackFaults`. Given a delivery, it decides how to send it with `post` (one real
    attempt), looking at what is `queued`, and returns the attempt to log."""

    async def attempt(
        self,
        delivery: Delivery,
        timeout: float,
        post: Post,
        queued: Callable[[], list[Delivery]],
    ) -> Attempt: ...


class Sender:
    """Posts deliveries over HTTP from the app's event loop."""

    def __init__(
        self,
        outbox: Callable[[], Callbacks],
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        # Made when the sender starts, in the loop it runs in (an app may run in several).
        self._wake: asyncio.Event | None = None
        self._limit: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        # Consulted by every attempt when set (`resilience.install` sets it).
        self.faults: DeliveryFaults | None = None

    def wake(self) -> None:
        """Thread-safe: there may be something to send."""
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Until cancelled: whenever woken, start sending every room's ready head."""
        self._wake = wake = asyncio.Event()
        self._limit = asyncio.Semaphore(MAX_PARALLEL)
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        wake.set()
        try:
            while True:
                await wake.wait()
                wake.clear()
                for delivery in self._outbox().take_ready():
                    task = asyncio.create_task(self._send(self._outbox(), delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            self._loop = None

    async def _send(self, outbox: Callbacks, delivery: Delivery) -> None:
        assert self._limit is not None
        async with self._limit:
            attempt = await self.attempt(delivery, outbox.config.timeout)
        outbox.settle(delivery, attempt)

    async def attempt(self, delivery: Delivery, timeout: float) -> Attempt:
        """One attempt at a delivery, through the fault rules when there are any."""
        if self.faults is not None:
            return await self.faults.attempt(
                delivery, timeout, self.post, lambda: self._outbox().pending()
            )
        return await self.post(delivery, timeout)

    async def post(self, delivery: Delivery, timeout: float) -> Attempt:
        """POST the delivery once; whatever happens is the attempt's outcome."""
        assert self._client is not None
        assert delivery.url is not None
        started = self._clock.elapsed()
        at = self._clock.now()
        code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                delivery.url, content=delivery.body, headers=delivery.headers, timeout=timeout
            )
            code = response.status_code
        except httpx.TimeoutException:
            error = f"timed out after {timeout:g} s"
        except Exception as problem:  # any failure is an attempt's outcome, never a lost task
            error = type(problem).__name__ + (f": {problem}" if str(problem) else "")
        latency = round((self._clock.elapsed() - started) * 1000, 3)
        return Attempt(at, code, error, latency)

    async def close(self, grace: float) -> None:
        """Stop, giving what is still pending one last attempt within `grace` seconds."""
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        outbox = self._outbox()
        left = outbox.pending()
        if left and self._client is not None:
            rooms: dict[str, list[Delivery]] = {}
            for delivery in left:
                rooms.setdefault(delivery.room_id, []).append(delivery)

            async def last_try(deliveries: list[Delivery]) -> None:
                for delivery in deliveries:
                    attempt = await self.attempt(delivery, min(outbox.config.timeout, grace))
                    delivery.attempts.append(attempt)
                    code = attempt.status_code
                    if code is not None and 200 <= code < 300:
                        with outbox._lock:
                            outbox._finish(delivery, DeliveryStatus.DELIVERED, attempt.at)
                    else:
                        outbox.give_up(delivery, attempt.at)

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(last_try(group) for group in rooms.values())), grace
                )
        still = outbox.pending()
        if still:
            log.warning(
                "shutting down with %d callback(s) not delivered: %s",
                len(still),
                ", ".join(f"{d.event} for room {d.room_id} to {d.url}" for d in still[:20]),
            )
        if self._client is not None:
            await self._client.aclose()
            self._client = None
