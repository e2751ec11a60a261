"""The local meeting page, where a room's links lead with `--local-links`, and its join.

`GET /meet/...` is where a room's `guest_url` and `host_url` lead. A person types a name
and joins (as the host when the link's participant token is the room's host token), sees
who else is there, and leaves; `POST /_emulator/meet/{meeting_code}/participants` is the
join behind it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import InputValidationError, NotFoundError
from meetings_emulator.domain.models import DEFAULT_TENANT, Room
from meetings_emulator.domain.tenancy import Tenancy
from meetings_emulator.http.render import participant_json
from meetings_emulator.http.requests import emulator_of, read_json
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.schemas import parse_participant
from meetings_emulator.ui.pages import PAGE_HEADERS, page_html, tenant_name


def room_by_code(request: Request, code: str) -> tuple[Emulator, Room]:
    """The room a meeting code opens, in whichever tenant holds it, with that tenant's
    emulator: the available one that holds it, else the latest one that held it (an
    expired room's code may have been given out again). Looked up in each tenant, not
    searched for: the same cost among a million rooms as among one."""
    tenancy: Tenancy = request.app.state.tenancy
    found = tenancy.room_by_code(code)
    if found is None:
        raise NotFoundError(f"Meeting {code} was not found")
    return found


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
    emulator, room = room_by_code(request, code)
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
        "tenant": tenant_name(request, emulator) or DEFAULT_TENANT,
    }
    page = page_html(f"{room.settings.display_name} · meeting", MEETING_BODY, "meet.js", data)
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
    emulator, room = room_by_code(request, request.path_params["meeting_code"])
    is_host = is_host_token(emulator, room, token)
    participant = emulator.sessions.join(room.id, name, is_host=is_host)
    return json_response(participant_json(participant), 201)
