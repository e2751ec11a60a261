"""The dashboard: the state it shows, as one JSON object, and its page.

`GET /_emulator/ui` is one page showing rooms, their live sessions, people, recordings and
the callback delivery log, updated live from the event stream (`ui/event_stream.py`); its
buttons call the control plane (and the API, to create a room), so the page can do nothing
a test could not. `?tenant=NAME` shows that tenant's world: its tenant selector lists the
tenants, and every call the page makes carries the tenant it shows.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import NotFoundError
from meetings_emulator.domain.events import RecordingStarted
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import DEFAULT_TENANT, Recording, Room, RoomType
from meetings_emulator.domain.outbox import DeliveryStatus
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH
from meetings_emulator.http.render import delivery_json, participant_json, recording_json, room_json
from meetings_emulator.http.requests import emulator_of
from meetings_emulator.ui.pages import EVENTS_PATH, PAGE_HEADERS, page_html, tenant_name
from meetings_emulator.version import __version__

# What one snapshot holds at most, so its cost does not grow with the emulator's history.
MAX_ROOMS = 200
MAX_DELIVERIES = 200
MAX_RECORDINGS = 200


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


# -- the page ------------------------------------------------------------------------------


DASHBOARD_BODY = f"""<header class="bar">
  <h1>Meetings emulator</h1>
  <div class="tenant">
    <label for="tenant">Tenant</label>
    <select id="tenant" title="Whose rooms, clock and callbacks this page shows">
      <option value="{DEFAULT_TENANT}">{DEFAULT_TENANT}</option>{{tenant_option}}
    </select>
  </div>
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
      <code>--api-key</code>/<code>--api-secret</code> or <code>--public-key</code>. A
      tenant's rooms are reached with its own credentials, filled in when you pick it.</p>
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


async def dashboard_page(request: Request) -> Response:
    tenant = tenant_name(request, emulator_of(request))
    if tenant is None:  # dropped since the request came in
        raise NotFoundError(f"No tenant named {request.query_params.get('tenant')}")
    option = ""
    if tenant != DEFAULT_TENANT:
        name = html.escape(tenant, quote=True)
        option = f'\n      <option value="{name}" selected>{name}</option>'
    body = DASHBOARD_BODY.replace("{tenant_option}", option, 1)
    page = page_html("Meetings emulator", body, "dashboard.js", {"tenant": tenant})
    return HTMLResponse(page, headers=PAGE_HEADERS)
