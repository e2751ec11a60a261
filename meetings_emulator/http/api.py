"""The Vonage Meetings API's endpoints. Each parses, makes one domain call and renders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from meetings_emulator.domain.logos import LogosInvalid, logo_url
from meetings_emulator.domain.models import Page, Room
from meetings_emulator.domain.themes import Theme
from meetings_emulator.http.render import (
    application_json,
    page_json,
    recording_json,
    room_json,
    theme_json,
)
from meetings_emulator.http.requests import caller_of, emulator_of, read_json, recording_url
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import method_route
from meetings_emulator.http.schemas import (
    parse_application_update,
    parse_create_room,
    parse_create_theme,
    parse_force,
    parse_logo_keys,
    parse_page_query,
    parse_update_room,
    parse_update_theme,
)

PREFIXES = ("/v1/meetings", "/beta/meetings")

Handler = Callable[[Request], Awaitable[Response]]

# Whose state an authenticated request works on (see `Emulator.tenant_for`).
TENANT = "meetings_emulator.tenant"


def authenticated(handler: Handler) -> Handler:
    """Refuse the call unless its `Authorization` header names a caller we accept."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        principal = caller_of(request.scope, emulator.auth)
        request.scope[TENANT] = emulator.tenant_for(principal)
        return await handler(request)

    return endpoint


def _room_renderer(request: Request) -> Callable[[Room], dict[str, Any]]:
    """Renders rooms with their links through their theme's short company URL, if any, and
    the host token issued at this read."""
    emulator = emulator_of(request)
    base = emulator.settings.links_base
    short_url = emulator.themes.short_url
    host_token = emulator.rooms.host_token
    return lambda room: room_json(room, base, short_url(room.settings.theme_id), host_token(room))


def _tenant(request: Request) -> str:
    tenant: str = request.scope[TENANT]
    return tenant


def _own_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _collection_url(request: Request) -> str:
    return str(request.url.replace(query="", fragment="")).rstrip("/")


PageOf = Callable[[int | None, int | None, int], Page]


def _page_response(request: Request, page_of: PageOf) -> Response:
    """A listing page, for all rooms and a theme's rooms alike."""
    start_id, end_id, page_size = parse_page_query(request.query_params)
    page = page_of(start_id, end_id, page_size)
    return json_response(
        page_json(
            page,
            _room_renderer(request),
            _collection_url(request),
            page_size=page_size,
            start_id=start_id,
            end_id=end_id,
        )
    )


@authenticated
async def list_rooms(request: Request) -> Response:
    rooms = emulator_of(request).rooms
    tenant = _tenant(request)
    return _page_response(request, lambda start, end, size: rooms.page(start, end, size, tenant))


@authenticated
async def create_room(request: Request) -> Response:
    settings = parse_create_room(await read_json(request))
    room = emulator_of(request).rooms.create(settings, _tenant(request))
    return json_response(_room_renderer(request)(room), 201)


@authenticated
async def get_room(request: Request) -> Response:
    room = emulator_of(request).rooms.get(request.path_params["room_id"], _tenant(request))
    return json_response(_room_renderer(request)(room))


@authenticated
async def update_room(request: Request) -> Response:
    changes = parse_update_room(await read_json(request))
    room = emulator_of(request).rooms.update(
        request.path_params["room_id"], changes, _tenant(request)
    )
    return json_response(_room_renderer(request)(room))


@authenticated
async def delete_room(request: Request) -> Response:
    emulator_of(request).rooms.delete(request.path_params["room_id"], _tenant(request))
    return Response(status_code=204)


@authenticated
async def get_recording(request: Request) -> Response:
    recording = emulator_of(request).sessions.recording(
        request.path_params["recording_id"], _tenant(request)
    )
    return json_response(recording_json(recording, recording_url(request, recording.id)))


@authenticated
async def delete_recording(request: Request) -> Response:
    emulator_of(request).sessions.delete_recording(
        request.path_params["recording_id"], _tenant(request)
    )
    return Response(status_code=204)


@authenticated
async def get_session_recordings(request: Request) -> Response:
    recordings = emulator_of(request).sessions.session_recordings(
        request.path_params["session_id"], _tenant(request)
    )
    listed = [recording_json(r, recording_url(request, r.id)) for r in recordings]
    return json_response({"_embedded": {"recordings": listed}})


# -- themes, the application, dial-in numbers, logos -------------------------------------


def _theme(request: Request, theme: Theme) -> dict[str, Any]:
    base = _own_base(request)
    return theme_json(theme, lambda key: logo_url(base, key))


@authenticated
async def list_themes(request: Request) -> Response:
    themes = [_theme(request, theme) for theme in emulator_of(request).themes.all(_tenant(request))]
    # `[]` for none: the later live service's answer, which the Java and .NET SDKs read (an
    # early capture shows `{}`; see docs/fidelity.md).
    return json_response(themes)


@authenticated
async def create_theme(request: Request) -> Response:
    settings = parse_create_theme(await read_json(request))
    theme = emulator_of(request).themes.create(settings, _tenant(request))
    return json_response(_theme(request, theme), 201)


@authenticated
async def get_theme(request: Request) -> Response:
    theme = emulator_of(request).themes.get(request.path_params["theme_id"], _tenant(request))
    return json_response(_theme(request, theme))


@authenticated
async def update_theme(request: Request) -> Response:
    changes = parse_update_theme(await read_json(request))
    theme = emulator_of(request).themes.update(
        request.path_params["theme_id"], changes, _tenant(request)
    )
    return json_response(_theme(request, theme))


@authenticated
async def delete_theme(request: Request) -> Response:
    emulator = emulator_of(request)
    emulator.themes.delete(
        request.path_params["theme_id"],
        force=parse_force(request.query_params),
        detach=emulator.rooms.take_theme_off,
        tenant=_tenant(request),
    )
    return Response(status_code=204)


@authenticated
async def list_theme_rooms(request: Request) -> Response:
    themes = emulator_of(request).themes
    theme_id = request.path_params["theme_id"]
    tenant = _tenant(request)
    return _page_response(
        request, lambda start, end, size: themes.rooms_page(theme_id, start, end, size, tenant)
    )


@authenticated
async def logo_upload_urls(request: Request) -> Response:
    forms = emulator_of(request).logos.upload_forms(_own_base(request), _tenant(request))
    return json_response(forms)


@authenticated
async def finalize_logos(request: Request) -> Response:
    emulator = emulator_of(request)
    theme = emulator.themes.get(request.path_params["theme_id"], _tenant(request))
    keys = parse_logo_keys(await read_json(request))
    try:
        finalized = emulator.logos.finalize(theme.theme_id, keys, _tenant(request))
    except LogosInvalid as invalid:
        raise invalid.to_error() from None
    emulator.themes.set_logos(theme.theme_id, {kind: key for kind, (key, _) in finalized.items()})
    # An Express `sendStatus(200)`: the Python SDK fails on a 200 with no content type.
    return PlainTextResponse("OK")


@authenticated
async def update_application(request: Request) -> Response:
    theme_id = parse_application_update(await read_json(request))
    application = emulator_of(request).themes.set_default(theme_id, _tenant(request))
    return json_response(application_json(application))


async def dial_in_numbers(request: Request) -> Response:
    """No credentials needed: the live reference declares none for this operation."""
    return json_response(list(emulator_of(request).settings.dial_in_numbers))


# Each path and the handler for each of its methods.
# (Routes are tried in this order: the busiest first.)
RESOURCES: dict[str, dict[str, Handler]] = {
    "/rooms/{room_id}": {"GET": get_room, "PATCH": update_room, "DELETE": delete_room},
    "/rooms": {"GET": list_rooms, "POST": create_room},
    "/rooms/": {"GET": list_rooms, "POST": create_room},
    "/recordings/{recording_id}": {"GET": get_recording, "DELETE": delete_recording},
    "/sessions/{session_id}/recordings": {"GET": get_session_recordings},
    "/themes": {"GET": list_themes, "POST": create_theme},
    "/themes/logos-upload-urls": {"GET": logo_upload_urls},  # before /themes/{theme_id}
    "/themes/{theme_id}": {"GET": get_theme, "PATCH": update_theme, "DELETE": delete_theme},
    "/themes/{theme_id}/rooms": {"GET": list_theme_rooms},
    "/themes/{theme_id}/finalizeLogos": {"PUT": finalize_logos},
    "/applications": {"PATCH": update_application},
    "/dial-in-numbers": {"GET": dial_in_numbers},
}


def routes() -> list[BaseRoute]:
    """The API under both prefixes: `/v1/meetings` (the SDKs) and `/beta/meetings` (the guide)."""
    return [
        method_route(prefix + path, handlers)
        for prefix in PREFIXES
        for path, handlers in RESOURCES.items()
    ]
