"""The Vonage Meetings API's endpoints. Each parses, makes one domain call and renders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .render import page_json, recording_json, room_json
from .schemas import parse_create_room, parse_page_query, parse_update_room
from .web import emulator_of, json_response, method_route, read_json, recording_url

PREFIXES = ("/v1/meetings", "/beta/meetings")

Handler = Callable[[Request], Awaitable[Response]]


def authenticated(handler: Handler) -> Handler:
    """Refuse the call unless its `Authorization` header names a caller we accept."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        request.state.principal = emulator.auth.authenticate(request.headers.get("authorization"))
        return await handler(request)

    return endpoint


def _links_base(request: Request) -> str:
    return emulator_of(request).settings.links_base


def _collection_url(request: Request) -> str:
    return str(request.url.replace(query="", fragment="")).rstrip("/")


@authenticated
async def list_rooms(request: Request) -> Response:
    start_id, end_id, page_size = parse_page_query(request.query_params)
    page = emulator_of(request).rooms.page(start_id, end_id, page_size)
    return json_response(
        page_json(
            page,
            _links_base(request),
            _collection_url(request),
            page_size=page_size,
            start_id=start_id,
            end_id=end_id,
        )
    )


@authenticated
async def create_room(request: Request) -> Response:
    settings = parse_create_room(await read_json(request))
    room = emulator_of(request).rooms.create(settings)
    return json_response(room_json(room, _links_base(request)), 201)


@authenticated
async def get_room(request: Request) -> Response:
    room = emulator_of(request).rooms.get(request.path_params["room_id"])
    return json_response(room_json(room, _links_base(request)))


@authenticated
async def update_room(request: Request) -> Response:
    changes = parse_update_room(await read_json(request))
    room = emulator_of(request).rooms.update(request.path_params["room_id"], changes)
    return json_response(room_json(room, _links_base(request)))


@authenticated
async def delete_room(request: Request) -> Response:
    emulator_of(request).rooms.delete(request.path_params["room_id"])
    return Response(status_code=204)


@authenticated
async def get_recording(request: Request) -> Response:
    recording = emulator_of(request).sessions.recording(request.path_params["recording_id"])
    return json_response(recording_json(recording, recording_url(request, recording.id)))


@authenticated
async def delete_recording(request: Request) -> Response:
    emulator_of(request).sessions.delete_recording(request.path_params["recording_id"])
    return Response(status_code=204)


@authenticated
async def get_session_recordings(request: Request) -> Response:
    recordings = emulator_of(request).sessions.session_recordings(request.path_params["session_id"])
    listed = [recording_json(r, recording_url(request, r.id)) for r in recordings]
    return json_response({"_embedded": {"recordings": listed}})


# Each path and the handler for each of its methods.
RESOURCES: dict[str, dict[str, Handler]] = {
    "/rooms": {"GET": list_rooms, "POST": create_room},
    "/rooms/": {"GET": list_rooms, "POST": create_room},
    "/rooms/{room_id}": {"GET": get_room, "PATCH": update_room, "DELETE": delete_room},
    "/recordings/{recording_id}": {"GET": get_recording, "DELETE": delete_recording},
    "/sessions/{session_id}/recordings": {"GET": get_session_recordings},
}


def routes() -> list[BaseRoute]:
    """The API under both prefixes: `/v1/meetings` (the SDKs) and `/beta/meetings` (the guide)."""
    return [
        method_route(prefix + path, handlers)
        for prefix in PREFIXES
        for path, handlers in RESOURCES.items()
    ]
