"""The emulator's dashboard, its live state stream, and the local meeting page.

- `GET /_emulator/ui`: one page showing rooms, their live sessions, people, recordings and
  the callback delivery log, updated live; its buttons call the control plane (and the API,
  to create a room), so the page can do nothing a test could not.
- `GET /_emulator/events`: a server-sent-events stream of the dashboard's state. Each
  message is `event: state` with one JSON snapshot as `data`: one on connect, then one
  whenever something changed (an event, a clock move, a callback delivery's progress);
  `: keep-alive` comments in between. `?room_id=` narrows it to one room.
- `GET /meet/...`: where a room's `guest_url` and `host_url` lead with `--local-links`. A
  person types a name and joins (as the host when the link's participant token is the
  room's host token), sees who else is there, and leaves; `POST
  /_emulator/meet/{meeting_code}/participants` is the join behind it.

Every asset is served from `static/` beside this module: no build step, nothing from
elsewhere. The pages build their content with DOM text nodes only, never markup from data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import InputValidationError, NotFoundError
from meetings_emulator.domain.events import Event, EventLog, RecordingStarted
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import Recording, Room, RoomType
from meetings_emulator.domain.outbox import DeliveryStatus
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH
from meetings_emulator.domain.settings import LOCAL_MEETING_PATH
from meetings_emulator.http.render import delivery_json, participant_json, recording_json, room_json
from meetings_emulator.http.schemas import parse_participant
from meetings_emulator.http.web import emulator_of, json_response, method_route, read_json
from meetings_emulator.version import __version__

log = logging.getLogger("meetings_emulator.dashboard")

UI_PATH = "/_emulator/ui"
EVENTS_PATH = "/_emulator/events"
STATIC_PATH = "/_emulator/static"
MEET_JOIN_PATH = "/_emulator/meet/{meeting_code}/participants"

# What one snapshot holds at most, so its cost does not grow with the emulator's history.
MAX_ROOMS = 200
MAX_DELIVERIES = 200
MAX_RECORDINGS = 200
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

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css)$")
# The pages load only what the emulator serves, and run no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# -- the state, as one JSON snapshot ------------------------------------------------------


def _latest_rooms(emulator: Emulator) -> list[Room]:
    """The most recent `MAX_ROOMS` rooms, newest first, without listing them all."""
    rooms = emulator.rooms
    total = len(rooms)
    page = rooms.page(max(1, total - MAX_ROOMS + 1), None, MAX_ROOMS)
    items = list(page.items)
    while page.next_start_id is not None:  # serials are 1..n; this only guards against gaps
        page = rooms.page(page.next_start_id, None, MAX_ROOMS)
        items = [*items, *page.items][-MAX_ROOMS:]
    return items[::-1]


def _recordings_of(emulator: Emulator, room_ids: set[str]) -> dict[str, list[Recording]]:
    """The rooms' recordings, newest first, from the recent events (deleted ones left out)."""
    found: dict[str, list[Recording]] = {}
    count = 0
    for event in reversed(list(emulator.events)):
        if not isinstance(event, RecordingStarted) or event.room.id not in room_ids:
            continue
        recording = event.recording
        try:
            emulator.sessions.recording(recording.id)
        except NotFoundError:
            continue  # deleted through the API
        found.setdefault(recording.room_id, []).append(recording)
        count += 1
        if count >= MAX_RECORDINGS:
            break
    return found


def _room_entry(emulator: Emulator, room: Room, recordings: list[Recording]) -> dict[str, Any]:
    sessions = emulator.sessions
    body = room_json(
        room, emulator.settings.links_base, emulator.themes.short_url(room.settings.theme_id)
    )
    session = sessions.live_session(room.id)
    body["serial"] = room.serial
    body["unavailable"] = None if room.unavailable is None else str(room.unavailable)
    # An instant room does not expire while its meeting is on, whatever `expires_at` says.
    body["expiry_held"] = session is not None and room.type is RoomType.INSTANT
    body["session"] = (
        None
        if session is None
        else {
            "session_id": session.id,
            "started_at": format_iso(session.started_at),
            "host_has_joined": session.host_has_joined,
            "participants": [participant_json(p) for p in session.participants.values()],
        }
    )
    body["waiting"] = [participant_json(p) for p in sessions.waiting(room.id)]
    body["recordings"] = [
        recording_json(r, RECORDING_DOWNLOAD_PATH.format(recording_id=r.id)) for r in recordings
    ]
    return body


def build_state(emulator: Emulator, room_id: str | None = None) -> dict[str, Any]:
    """What the dashboard shows, except the time (see `Snapshot`); `room_id` narrows it."""
    emulator.now()  # what is due happens first
    settings = emulator.settings
    if room_id is None:
        rooms = _latest_rooms(emulator)
    else:
        try:
            rooms = [emulator.rooms.get(room_id)]
        except NotFoundError:  # forgotten by a reset
            rooms = []
    recordings = _recordings_of(emulator, {room.id for room in rooms})
    logged = [] if room_id is not None else emulator.callbacks.deliveries()
    counts = {str(status): 0 for status in DeliveryStatus}
    for delivery in logged:
        counts[str(delivery.status)] += 1
    deliveries = logged[-MAX_DELIVERIES:][::-1]
    return {
        "emulator": {
            "version": __version__,
            "links_base": settings.links_base,
            "local_links": settings.local_links,
            "credentials_required": settings.api_key is not None
            or settings.api_secret is not None
            or settings.public_key is not None,
        },
        "counts": {
            "rooms": len(emulator.rooms),
            "available_rooms": emulator.rooms.available_count,
            "shown_rooms": len(rooms),
            "callbacks": counts,
        },
        "rooms": [_room_entry(emulator, room, recordings.get(room.id, [])) for room in rooms],
        "deliveries": [delivery_json(d) for d in deliveries],
    }


@dataclass(frozen=True, slots=True)
class Snapshot:
    key: str  # what changes when anything shown changes (the time only when the clock moves)
    message: str  # the whole SSE message
    changes: int  # the hub's event count it was made at
    made: float  # time.monotonic() when it was made
    cost: float  # seconds it took to make


def make_snapshot(emulator: Emulator, room_id: str | None, changes: int) -> Snapshot:
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
    """One per app: hears the emulator's events, wakes the open streams, and makes each
    snapshot once for all the streams that want it."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
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
        snapshot = make_snapshot(self._emulator, room_id, self.changes)
        # The dearest recent snapshot sets the pace (one room's is cheap; the whole one is not).
        self.cost = max(0.9 * self.cost, snapshot.cost)
        fresh = {key: value for key, value in self._cache.items() if now - value.made < 5}
        self._cache = fresh | {room_id: snapshot}
        return snapshot


_hub_lock = threading.Lock()


def hub_of(request: Request) -> Hub:
    state = request.app.state
    with _hub_lock:
        hub: Hub | None = getattr(state, "dashboard_hub", None)
        if hub is None:
            hub = Hub(emulator_of(request))
            state.dashboard_hub = hub
    return hub


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


async def _stream(request: Request, hub: Hub, room_id: str | None) -> AsyncIterator[str]:
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
            if await request.is_disconnected():
                return
            await waiter.wait(hub.poll())
            if snapshot is not None:  # however fast events come, keep the gap
                rest = hub.gap() - (time.monotonic() - snapshot.made)
                if rest > 0:
                    await asyncio.sleep(rest)
    finally:
        hub.remove(waiter)


async def events(request: Request) -> Response:
    query = request.query_params
    problems = [f'"{key}" is not allowed' for key in query if key != "room_id"]
    if problems:
        raise InputValidationError.of(problems)
    room_id = query.get("room_id")
    if room_id is not None:
        room_id = emulator_of(request).rooms.get(room_id).id  # 404 for an unknown room
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":
        return Response(media_type="text/event-stream", headers=headers)
    return StreamingResponse(
        _stream(request, hub_of(request), room_id),
        media_type="text/event-stream",
        headers=headers,
    )


# -- pages and their assets ---------------------------------------------------------------


@cache
def _asset(name: str) -> bytes | None:
    resource = files("meetings_emulator.ui") / "static" / name
    return resource.read_bytes() if resource.is_file() else None


async def static_asset(request: Request) -> Response:
    name = request.path_params["name"]
    body = _asset(name) if STATIC_NAME.match(name) else None
    if body is None:
        raise NotFoundError(f"Not Found: {request.method} {request.url.path}")
    media_type = STATIC_TYPES[name[name.rindex(".") :]]
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def _page(title: str, body: str, script: str, data: dict[str, str] | None = None) -> str:
    attributes = "".join(
        f' data-{name}="{html.escape(value, quote=True)}"' for name, value in (data or {}).items()
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_PATH}/emulator.css">
<script type="module" src="{STATIC_PATH}/{script}"></script>
</head>
<body{attributes}>
{body}
</body>
</html>
"""


DASHBOARD_BODY = f"""<header class="bar">
  <h1>Meetings emulator</h1>
  <div class="clock" aria-live="off">
    <span class="label">Emulator time</span>
    <time id="now">-</time>
    <span id="frozen" class="badge" hidden>frozen</span>
  </div>
  <div class="actions">
    <button type="button" id="advance-1m">+1 min</button>
    <button type="button" id="advance-10m">+10 min</button>
    <button type="button" id="reset" class="danger">Reset</button>
  </div>
  <span id="connection" class="badge">connecting…</span>
</header>
<p id="message" role="status" hidden></p>
<main>
  <section class="panel" aria-labelledby="create-title">
    <h2 id="create-title">Create a room</h2>
    <form id="create-room" class="row">
      <label>Name <input name="display_name" required maxlength="200" value="Demo room"></label>
      <label>Type
        <select name="type">
          <option value="instant">instant</option>
          <option value="long_term">long term (1 day)</option>
        </select>
      </label>
      <label>Guests
        <select name="join_approval_level">
          <option value="none">join at once</option>
          <option value="after_owner_only">wait for a host</option>
          <option value="explicit_approval">wait to be admitted</option>
        </select>
      </label>
      <button type="submit">Create room</button>
    </form>
    <details id="credentials-box">
      <summary>API credentials</summary>
      <p class="hint">Creating a room calls <code>POST /v1/meetings/rooms</code>, which
      needs credentials. Any Basic key and secret do unless the emulator was started with
      <code>--api-key</code>/<code>--api-secret</code> or <code>--public-key</code>.</p>
      <label>Authorization <input id="authorization" size="60" autocomplete="off"
        value="Basic ZGFzaGJvYXJkOmRhc2hib2FyZA=="></label>
    </details>
  </section>
  <section class="panel" aria-labelledby="rooms-title">
    <h2 id="rooms-title">Rooms <span id="room-counts" class="count"></span></h2>
    <div id="rooms"><p class="empty">Loading…</p></div>
  </section>
  <section class="panel" aria-labelledby="callbacks-title">
    <h2 id="callbacks-title">Callbacks <span id="callback-counts" class="count"></span></h2>
    <ol id="deliveries" class="timeline" reversed></ol>
  </section>
</main>
<noscript>The dashboard needs JavaScript. Without it, read the state from
<code>{EVENTS_PATH}</code> (server-sent events) or <code>/_emulator/callbacks</code>.</noscript>
<footer>meetings-emulator {__version__} ·
<a href="/_emulator/docs">API and control plane reference</a> ·
live state: <code>{EVENTS_PATH}</code></footer>
"""


async def dashboard_page(_request: Request) -> Response:
    page = _page("Meetings emulator", DASHBOARD_BODY, "dashboard.js")
    return HTMLResponse(page, headers=PAGE_HEADERS)


# -- the local meeting page ---------------------------------------------------------------


def room_by_code(emulator: Emulator, code: str) -> Room:
    """The room a meeting code opens: the available one that holds it, else the latest one
    that held it (an expired room's code may have been given out again)."""
    rooms = emulator.rooms
    page = rooms.page(None, None, max(1, len(rooms)))
    latest = None
    for room in reversed(page.items):
        if room.meeting_code == code:
            if room.is_available:
                return room
            latest = latest or room
    if latest is None:
        raise NotFoundError(f"Meeting {code} was not found")
    return latest


def is_host_token(emulator: Emulator, room: Room, token: str | None) -> bool:
    """Whether `token` is a participant token this emulator signed for the room's host."""
    if not token:
        return False
    claims = emulator.ids.read_participant_token(token)
    return claims is not None and claims.get("participantId") == room.host_participant_id


MEETING_BODY = """<header class="bar">
  <h1 id="room-name"></h1>
  <span id="connection" class="badge">connecting…</span>
</header>
<p id="message" role="status" hidden></p>
<main class="meeting">
  <section class="panel" id="lobby">
    <p id="who-you-are"></p>
    <form id="join" class="row">
      <label>Your name <input name="name" required maxlength="200" autocomplete="name"></label>
      <button type="submit">Join</button>
    </form>
  </section>
  <section class="panel" id="inside" hidden>
    <p id="your-state"></p>
    <button type="button" id="leave" class="danger">Leave</button>
  </section>
  <section class="panel">
    <h2>In the meeting</h2>
    <ul id="participants" class="people"></ul>
    <h2>Waiting</h2>
    <ul id="waiting" class="people"></ul>
  </section>
</main>
<noscript>This page needs JavaScript to join the meeting.</noscript>
"""


async def meeting_page(request: Request) -> Response:
    """`/meet/<code>` (a guest) or `/meet/?room_token=<code>&participant_token=<JWT>` (the
    host), also under a theme's short URL (`/meet/<short>/...`)."""
    emulator = emulator_of(request)
    query = request.query_params
    segments = [part for part in request.path_params["rest"].split("/") if part]
    code = query.get("room_token") or (segments[-1] if segments else "")
    if not code:
        raise NotFoundError(f"Not Found: {request.method} {request.url.path}: no meeting code")
    room = room_by_code(emulator, code)
    token = query.get("participant_token")
    host = is_host_token(emulator, room, token)
    data = {
        "room-id": room.id,
        "meeting-code": room.meeting_code,
        "display-name": room.settings.display_name,
        "available": "true" if room.is_available else "false",
        "host": "true" if host else "false",
        "token": "none" if not token else ("host" if host else "rejected"),
        "participant-token": token if host and token else "",
    }
    page = _page(f"{room.settings.display_name} · meeting", MEETING_BODY, "meet.js", data)
    return HTMLResponse(page, headers=PAGE_HEADERS)


MEET_JOIN_KEYS = ("name", "participant_token")


async def meet_join(request: Request) -> Response:
    """`{"name", "participant_token"?}`: join through a meeting link. The host is whoever
    brings the room's host token; anyone else (a forged or foreign token too) is a guest."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems = [f'"{key}" is not allowed' for key in body if key not in MEET_JOIN_KEYS]
    token = body.get("participant_token")
    if token is not None and not isinstance(token, str):
        problems.append('"participant_token" must be a string')
    if problems:
        raise InputValidationError.of(problems)
    name, _, _ = parse_participant({"name": body["name"]} if "name" in body else {})
    emulator = emulator_of(request)
    room = room_by_code(emulator, request.path_params["meeting_code"])
    is_host = is_host_token(emulator, room, token)
    participant = emulator.sessions.join(room.id, name, is_host=is_host)
    return json_response(participant_json(participant), 201)


def routes() -> list[BaseRoute]:
    return [
        method_route(UI_PATH, {"GET": dashboard_page}),
        method_route(EVENTS_PATH, {"GET": events}),
        method_route(STATIC_PATH + "/{name}", {"GET": static_asset}),
        method_route(MEET_JOIN_PATH, {"POST": meet_join}),
        method_route(LOCAL_MEETING_PATH + "/{rest:path}", {"GET": meeting_page}),
    ]
