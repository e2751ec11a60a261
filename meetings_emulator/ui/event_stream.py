"""The dashboard's live state as server-sent events, and the hub that feeds every stream.

`GET /_emulator/events` is a server-sent-events stream of the dashboard's state. Each
message is `event: state` with one JSON snapshot as `data`: one on connect, then one
whenever something changed (an event, a clock move, a callback delivery's progress);
`: keep-alive` comments in between. `?room_id=` narrows it to one room; `?tenant=NAME`
follows that tenant's world (each snapshot names its `tenant`). When a followed tenant is
dropped, its streams end with `event: closing` and `{"reason": "tenant dropped"}`.

A reader that takes nothing for `--request-timeout` seconds while a message waits to be
sent is dropped: its connection is closed, and what was queued for it is let go (a
snapshot can weigh a megabyte, so a stream nobody reads must not hold one for ever).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Send

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import InputValidationError, NotFoundError
from meetings_emulator.domain.events import Event, EventLog
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import DEFAULT_TENANT
from meetings_emulator.domain.tenancy import Tenancy
from meetings_emulator.http.requests import emulator_of
from meetings_emulator.ui.dashboard import build_state
from meetings_emulator.ui.pages import tenant_name

log = logging.getLogger("meetings_emulator.dashboard")

# How often an open stream looks for changes that no event announces (the clock, callback
# deliveries, people waiting, room updates); events wake it at once. With a large state the
# look is slower, and is taken less often: about a tenth of the time at most goes to it.
POLL_SECONDS = 0.25
POLL_SHARE = 0.1
# However many streams are open and however fast events come, a snapshot is made at most
# once per this gap (or four times its own cost, if longer); open streams share it.
MIN_GAP_SECONDS = 0.05
GAP_COST_FACTOR = 4
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 1000


@dataclass(frozen=True, slots=True)
class Snapshot:
    key: str  # what changes when anything shown changes (the time only when the clock moves)
    message: str  # the whole SSE message
    changes: int  # the hub's event count it was made at
    made: float  # time.monotonic() when it was made
    cost: float  # seconds it took to make


def make_snapshot(
    emulator: Emulator, room_id: str | None, changes: int, tenant: str = DEFAULT_TENANT
) -> Snapshot:
    began = time.monotonic()
    clock = emulator.clock
    now = clock.now()
    # A running clock moves by itself: only a jump (a move through the control plane)
    # counts as a change; the page keeps the time running between snapshots.
    offset = None if clock.frozen else round((now - clock.wall()).total_seconds(), 1)
    state = json.dumps(build_state(emulator, room_id), separators=(",", ":"), ensure_ascii=False)
    now = clock.now()
    clock_key = format_iso(now) if clock.frozen else f"running {offset}"
    key = f"{clock_key} {state}"
    head = {
        "version": hashlib.sha256(key.encode()).hexdigest()[:16],
        "now": format_iso(now),
        "frozen": clock.frozen,
        "room_id": room_id,
        "tenant": tenant,
    }
    # The head's fields, then the state's: one JSON object, the state encoded only once.
    data = json.dumps(head, separators=(",", ":"))[:-1] + "," + state[1:]
    made = time.monotonic()
    return Snapshot(key, f"event: state\ndata: {data}\n\n", changes, made, made - began)


class _Waiter:
    """One open stream, waiting to be told that something may have changed."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Thread-safe: events may come from the loop or, in tests, another thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        elif not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


class Hub:
    """One per tenant followed: hears its emulator's events, wakes the open streams, and
    makes each snapshot once for all the streams that want it."""

    def __init__(
        self,
        emulator: Emulator,
        tenant: str = DEFAULT_TENANT,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self._emulator = emulator
        self.tenant = tenant
        self.alive = alive  # False once the tenant has been dropped
        self._lock = threading.Lock()
        self._log: EventLog | None = None
        self._waiters: set[_Waiter] = set()
        self._cache: dict[str | None, Snapshot] = {}
        self.changes = 0
        self.cost = 0.0  # seconds a recent snapshot took (decaying)

    def _listen(self) -> None:
        """Subscribe to the emulator's event log (a reset makes a new one)."""
        events = self._emulator.events
        if events is not self._log:
            events.subscribe(self._heard)
            self._log = events
            self.changes += 1

    def _heard(self, _event: Event) -> None:
        # Called inside domain operations: it must not fail, and must not touch the domain.
        try:
            self.changes += 1
            with self._lock:
                waiters = list(self._waiters)
            for waiter in waiters:
                waiter.wake()
        except Exception:
            log.exception("the dashboard failed to hear an event")

    def add(self) -> _Waiter:
        waiter = _Waiter()
        with self._lock:
            self._waiters.add(waiter)
        return waiter

    def remove(self, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters.discard(waiter)

    @property
    def emulator(self) -> Emulator:
        return self._emulator

    @property
    def streams(self) -> int:
        with self._lock:
            return len(self._waiters)

    def gap(self) -> float:
        """The least time between two snapshots: longer when they cost more."""
        return max(MIN_GAP_SECONDS, GAP_COST_FACTOR * self.cost)

    def poll(self) -> float:
        """How long a stream waits for an event before it looks for other changes."""
        return max(POLL_SECONDS, self.cost / POLL_SHARE)

    def snapshot(self, room_id: str | None = None) -> Snapshot:
        """The latest snapshot: the one made last, unless something may have changed since
        (an event, or time enough for a change no event tells of) and the gap is over."""
        self._listen()
        now = time.monotonic()
        cached = self._cache.get(room_id)
        if cached is not None:
            age = now - cached.made
            if age < self.gap() or (cached.changes == self.changes and age < 0.8 * self.poll()):
                return cached
        snapshot = make_snapshot(self._emulator, room_id, self.changes, self.tenant)
        # The dearest recent snapshot sets the pace (one room's is cheap; the whole one is not).
        self.cost = max(0.9 * self.cost, snapshot.cost)
        fresh = {key: value for key, value in self._cache.items() if now - value.made < 5}
        self._cache = fresh | {room_id: snapshot}
        return snapshot


_hub_lock = threading.Lock()


def hub_of(request: Request) -> Hub:
    """The hub of the tenant the request is for: the default tenant's is
    `app.state.dashboard_hub`, the others' are kept by name while their tenant lives (or a
    stream still reads one)."""
    state = request.app.state
    emulator = emulator_of(request)
    with _hub_lock:
        if emulator is state.emulator:
            hub: Hub | None = getattr(state, "dashboard_hub", None)
            if hub is None:
                hub = Hub(emulator)
                state.dashboard_hub = hub
            return hub
        tenancy: Tenancy = state.tenancy
        hubs: dict[str, Hub] = getattr(state, "dashboard_tenant_hubs", {})
        name = tenant_name(request, emulator)
        if name is None:  # dropped since the request came in
            raise NotFoundError(f"No tenant named {request.query_params.get('tenant')}")
        hub = hubs.get(name)
        if hub is None or hub.emulator is not emulator:
            hub = Hub(emulator, name, _living(tenancy, name, emulator))
        # Forget the hubs of dropped tenants that no stream reads any more.
        kept = {key: h for key, h in hubs.items() if h.streams or h.alive()}
        state.dashboard_tenant_hubs = kept | {name: hub}
    return hub


def _living(tenancy: Tenancy, name: str, emulator: Emulator) -> Callable[[], bool]:
    def alive() -> bool:
        try:
            return tenancy.get(name).emulator is emulator
        except NotFoundError:
            return False

    return alive


class _ServerShutdown:
    """Whether the server has begun to shut down, where it lets that be seen.

    uvicorn waits for every open response to finish before it stops, and an event stream
    never finishes by itself; all uvicorn does to such a connection on shutdown is turn
    its keep-alive off. The ASGI `receive` it gives is a method of that connection's
    request cycle, so the flag can be watched: when it goes from on to off, the stream
    ends. Elsewhere (another server, the TestClient) this never fires, and a stream ends
    when its client goes or its task is cancelled.
    """

    def __init__(self, request: Request) -> None:
        cycle = getattr(request.receive, "__self__", None)
        watchable = isinstance(getattr(cycle, "keep_alive", None), bool)
        self._cycle = cycle if watchable else None
        self._armed = watchable and bool(getattr(cycle, "keep_alive", False))

    def started(self) -> bool:
        return self._armed and not getattr(self._cycle, "keep_alive", True)


async def _stream(request: Request, hub: Hub, room_id: str | None) -> AsyncGenerator[str, None]:
    shutdown = _ServerShutdown(request)
    waiter = hub.add()
    sent: str | None = None
    last_write = time.monotonic()
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        while True:
            try:
                snapshot = hub.snapshot(room_id)
            except Exception:  # a bad snapshot must not end the stream: try again next time
                log.exception("the dashboard could not read the emulator's state")
                snapshot = None
            if snapshot is not None and snapshot.key != sent:
                sent = snapshot.key
                last_write = time.monotonic()
                yield snapshot.message
            elif time.monotonic() - last_write >= KEEPALIVE_SECONDS:
                last_write = time.monotonic()
                yield ": keep-alive\n\n"
            if shutdown.started():
                yield 'event: closing\ndata: {"reason":"shutdown"}\n\n'
                return
            if not hub.alive():
                tenant = json.dumps(hub.tenant)
                yield f'event: closing\ndata: {{"reason":"tenant dropped","tenant":{tenant}}}\n\n'
                return
            if await request.is_disconnected():
                return
            await waiter.wait(hub.poll())
            if snapshot is not None:  # however fast events come, keep the gap
                rest = hub.gap() - (time.monotonic() - snapshot.made)
                if rest > 0:
                    await asyncio.sleep(rest)
    finally:
        hub.remove(waiter)


class _EventStream(StreamingResponse):
    """A stream whose every message must be taken by the reader within `send_timeout`."""

    def __init__(
        self,
        messages: AsyncGenerator[str, None],
        request: Request,
        send_timeout: float,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(messages, media_type="text/event-stream", headers=headers)
        self._messages = messages
        self._request = request
        self._send_timeout = send_timeout

    async def stream_response(self, send: Send) -> None:
        async def send_in_time(message: Message) -> None:
            await asyncio.wait_for(send(message), self._send_timeout)

        try:
            await super().stream_response(send_in_time)
        except TimeoutError:
            log.info(
                "dropped an event stream whose reader took nothing for %g s",
                self._send_timeout,
                extra={"client": _client(self._request)},
            )
            _close_connection(self._request)
        finally:
            with contextlib.suppress(Exception):
                await self._messages.aclose()


def _client(request: Request) -> str | None:
    return None if request.client is None else f"{request.client.host}:{request.client.port}"


def _close_connection(request: Request) -> None:
    """Close the request's connection at once, dropping what is queued on it, where the
    server lets the connection be reached (uvicorn's request cycle holds its transport);
    elsewhere, ending the response unfinished has the server close it."""
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    abort = getattr(transport, "abort", None)
    if callable(abort):
        abort()


async def events(request: Request) -> Response:
    query = request.query_params
    problems = [f'"{key}" is not allowed' for key in query if key not in ("room_id", "tenant")]
    if problems:
        raise InputValidationError.of(problems)
    room_id = query.get("room_id")
    if room_id is not None:
        room_id = emulator_of(request).rooms.get(room_id).id  # 404 for an unknown room
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":
        return Response(media_type="text/event-stream", headers=headers)
    return _EventStream(
        _stream(request, hub_of(request), room_id),
        request,
        emulator_of(request).settings.request_timeout,
        headers,
    )
