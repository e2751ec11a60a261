"""The sender: callback deliveries posted over HTTP from the app's event loop.

It posts the head of every room's queue in the `Outbox` (rooms in parallel, each room in
order) and reports each attempt back, which decides between delivered, a retry on the
emulator's clock, and given up. Each callback given up is logged once, as a warning, with
its event, URL, attempts and last answer; each attempt, at debug. Callbacks given up unsent
because too many were pending are logged as one warning a burst, with how many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.request
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from meetings_emulator.callbacks.poster import Poster
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.outbox import Attempt, Delivery, DeliveryStatus, Outbox

log = logging.getLogger("meetings_emulator.callbacks")
MAX_PARALLEL = 32

Post = Callable[[Delivery, float], Awaitable[Attempt]]


# Deliberate faults in deliveries (slow, duplicated, reordered): `CallbackFaults.attempt`
# in `testing/callback_faults.py`. Given a delivery, a timeout, `post` (one real attempt)
# and what is queued, it decides how to send it and returns the attempt to log.
DeliveryFaults = Callable[[Delivery, float, Post, Callable[[], list[Delivery]]], Awaitable[Attempt]]


class Sender:
    """Posts deliveries over HTTP from the app's event loop.

    Up to `MAX_PARALLEL` workers each send a delivery, record its outcome and take the next
    one that is ready, until none is. The network is `Poster` (keep-alive HTTP/1.1); an
    httpx client stands in for it when a transport is given (`httpx.MockTransport` in
    tests), and for URLs that the environment sends through a proxy (`HTTP_PROXY`,
    `HTTPS_PROXY`, `ALL_PROXY`, less `NO_PROXY`), as httpx honours those.
    """

    def __init__(
        self,
        outbox: Callable[[], Outbox],
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
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = 0
        self._closing = False
        self._poster: Poster | None = None
        self._client: httpx.AsyncClient | None = None  # with the transport given
        self._proxy_client: httpx.AsyncClient | None = None  # for proxied URLs
        self._proxies: dict[str, str] = {}
        self._proxied: dict[str, bool] = {}
        # Consulted by every attempt when set (`testing.middleware.install` sets it).
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
        """Until cancelled: whenever woken, start workers for what is ready."""
        self._wake = wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._workers = 0
        self._tasks = set()
        self._poster = Poster()
        proxies = urllib.request.getproxies_environment()  # {"http": ..., "no": ...}
        self._proxies = proxies if {"http", "https", "all"} & proxies.keys() else {}
        self._proxied = {}
        if self._transport is not None:
            self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        wake.set()
        try:
            while True:
                await wake.wait()
                wake.clear()
                self._start_workers()
        finally:
            self._loop = None

    def _start_workers(self) -> None:
        if self._closing:
            return
        outbox = self._outbox()
        _log_dropped(outbox)
        for delivery in outbox.take_ready(MAX_PARALLEL - self._workers):
            self._workers += 1
            task = asyncio.create_task(self._work(outbox, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, outbox: Outbox, delivery: Delivery) -> None:
        """Send `delivery`, then whatever else is ready, one at a time."""
        try:
            while True:
                try:
                    attempt = await self.attempt(delivery, outbox.config.timeout)
                except Exception as problem:  # a fault rule that broke: still an outcome
                    log.exception("a callback attempt failed")
                    error = type(problem).__name__ + (f": {problem}" if str(problem) else "")
                    attempt = Attempt(self._clock.now(), None, error, 0.0)
                outbox.settle(delivery, attempt)
                _log_outcome(delivery, attempt)
                if self._closing or outbox is not self._outbox():
                    return
                taken = outbox.take_ready(1)
                if not taken:
                    return  # with no await since take_ready: no wake is missed
                delivery = taken[0]
        finally:
            self._workers -= 1

    async def attempt(self, delivery: Delivery, timeout: float) -> Attempt:
        """One attempt at a delivery, through the fault rules when there are any."""
        if self.faults is not None:
            return await self.faults(delivery, timeout, self.post, lambda: self._outbox().pending())
        return await self.post(delivery, timeout)

    async def post(self, delivery: Delivery, timeout: float) -> Attempt:
        """POST the delivery once; whatever happens is the attempt's outcome."""
        url = delivery.url
        assert url is not None
        started = self._clock.elapsed()
        at = self._clock.now()
        code: int | None = None
        error: str | None = None
        try:
            headers = self._outbox().signed_headers(delivery, at)  # signed for this attempt
            client = self._client if self._client is not None else self._proxying(url)
            if client is not None:
                response = await client.post(
                    url, content=delivery.body, headers=headers, timeout=timeout
                )
                code = response.status_code
            else:
                assert self._poster is not None, "the sender is not running"
                code = await self._poster.post(url, headers, delivery.body, timeout)
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {timeout:g} s"
        except Exception as problem:  # any failure is an attempt's outcome, never a lost task
            error = type(problem).__name__ + (f": {problem}" if str(problem) else "")
        latency = round((self._clock.elapsed() - started) * 1000, 3)
        return Attempt(at, code, error, latency)

    def _proxying(self, url: str) -> httpx.AsyncClient | None:
        """An httpx client when the environment sends `url` through a proxy, else None."""
        if not self._proxies:
            return None
        proxied = self._proxied.get(url)
        if proxied is None:
            parts = urlsplit(url)
            proxied = (parts.scheme in self._proxies or "all" in self._proxies) and not (
                urllib.request.proxy_bypass_environment(parts.hostname or "", self._proxies)
            )
            if len(self._proxied) >= 1024:
                self._proxied.clear()
            self._proxied[url] = proxied
        if not proxied:
            return None
        if self._proxy_client is None:
            self._proxy_client = httpx.AsyncClient(follow_redirects=False)
        return self._proxy_client

    async def close(self, grace: float) -> None:
        """Stop within `grace` seconds in all: the attempts in flight go on, then what is
        still pending gets one last attempt, in the time left; the rest is logged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._tasks:  # the workers go on with what is ready, until the deadline at most
            await asyncio.wait(list(self._tasks), timeout=grace)
        self._closing = True
        stuck = list(self._tasks)
        for task in stuck:  # time is up for an attempt still in flight
            task.cancel()
        if stuck:
            await asyncio.gather(*stuck, return_exceptions=True)
        outbox = self._outbox()
        left = outbox.pending()
        remaining = deadline - loop.time()
        if left and self._poster is not None and remaining > 0.05:
            rooms: dict[str, list[Delivery]] = {}
            for delivery in left:
                rooms.setdefault(delivery.room_id, []).append(delivery)

            async def last_try(deliveries: list[Delivery]) -> None:
                for delivery in deliveries:
                    left_now = max(deadline - loop.time(), 0.01)
                    timeout = min(outbox.config.timeout, left_now)
                    attempt = await self.attempt(delivery, timeout)
                    outbox.settle_last(delivery, attempt)
                    _log_outcome(delivery, attempt)

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(last_try(group) for group in rooms.values())), remaining
                )
        still = outbox.pending()
        if still:
            log.warning(
                "shutting down with %d callback(s) not delivered: %s",
                len(still),
                ", ".join(f"{d.event} for room {d.room_id} to {d.url}" for d in still[:20]),
                extra={"undelivered": len(still)},
            )
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None
        for client in (self._client, self._proxy_client):
            if client is not None:
                await client.aclose()
        self._client = self._proxy_client = None


def _log_dropped(outbox: Outbox) -> None:
    dropped = outbox.take_dropped()
    if dropped:
        log.warning(
            "%d pending callback(s) given up unsent: more than %d were pending"
            " (--max-pending-callbacks); %d in all",
            dropped,
            outbox.max_pending,
            outbox.dropped,
            extra={"dropped": dropped, "max_pending": outbox.max_pending, "in_all": outbox.dropped},
        )


def _answer(attempt: Attempt) -> str:
    if attempt.status_code is not None:
        return str(attempt.status_code)
    return attempt.error or "no answer"


def _log_outcome(delivery: Delivery, attempt: Attempt) -> None:
    """One warning for a callback given up; a debug line for any other attempt."""
    given_up = delivery.status is DeliveryStatus.FAILED
    if not given_up and not log.isEnabledFor(logging.DEBUG):
        return
    attempts = len(delivery.attempts)
    fields = {
        "event": delivery.event,
        "room_id": delivery.room_id,
        "url": delivery.url,
        "attempts": attempts,
        "last_answer": _answer(attempt),
    }
    if given_up:
        log.warning(
            "callback given up: %s for room %s to %s after %d attempt(s); last answer: %s",
            delivery.event,
            delivery.room_id,
            delivery.url,
            attempts,
            _answer(attempt),
            extra=fields,
        )
    else:
        log.debug(
            "callback %s: %s to %s, attempt %d: %s",
            delivery.status,
            delivery.event,
            delivery.url,
            attempts,
            _answer(attempt),
            extra=fields,
        )
