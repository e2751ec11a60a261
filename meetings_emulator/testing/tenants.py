"""The control plane's tenants: `POST /_emulator/tenants` makes one (201, with the Basic
credentials that reach it), `GET /_emulator/tenants` lists them, `GET` and `DELETE
/_emulator/tenants/{name}` read and drop one. `routes()` lists them."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from meetings_emulator.domain.errors import NotFoundError
from meetings_emulator.domain.isotime import parse_iso
from meetings_emulator.domain.tenancy import parse_tenant_request
from meetings_emulator.http.requests import read_json
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import method_route
from meetings_emulator.testing.middleware import worlds_of

TENANTS_PATH = "/_emulator/tenants"
log = logging.getLogger("meetings_emulator.tenants")


async def create_tenant(request: Request) -> Response:
    wanted = parse_tenant_request(await read_json(request), parse_iso)
    world = worlds_of(request).create(wanted)
    assert world.tenant is not None
    log.info("tenant %s made", world.name)
    location = {"Location": f"{TENANTS_PATH}/{world.name}"}
    return json_response(world.tenant.describe(), 201, headers=location)


async def list_tenants(request: Request) -> Response:
    worlds = worlds_of(request).tenants()
    return json_response({"tenants": [w.tenant.describe() for w in worlds if w.tenant]})


async def get_tenant(request: Request) -> Response:
    world = worlds_of(request).named(request.path_params["name"])
    if world.tenant is None:  # the default tenant is no object of its own
        return await _no_such_tenant(request)
    return json_response(world.tenant.describe())


async def drop_tenant(request: Request) -> Response:
    worlds = worlds_of(request)
    name = request.path_params["name"]
    if worlds.named(name).tenant is None:
        return await _no_such_tenant(request)
    await worlds.drop(name)
    log.info("tenant %s dropped", name)
    return Response(status_code=204)


async def _no_such_tenant(request: Request) -> Response:
    raise NotFoundError(f"No tenant named {request.path_params['name']}")


def routes() -> list[BaseRoute]:
    return [
        method_route(TENANTS_PATH, {"GET": list_tenants, "POST": create_tenant}),
        method_route(TENANTS_PATH + "/{name}", {"GET": get_tenant, "DELETE": drop_tenant}),
    ]


__all__ = ["TENANTS_PATH", "routes"]
