"""The control plane's endpoints for faults and the journal: `/_emulator/faults`,
`/_emulator/callbacks/faults` and `/_emulator/requests`, which `routes()` lists."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from meetings_emulator.domain.errors import InputValidationError, NotFoundError
from meetings_emulator.http.requests import read_json
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import method_route
from meetings_emulator.testing.journal import JOURNAL_FILTERS, JOURNAL_SIZE, STATUS_FILTER
from meetings_emulator.testing.middleware import resilience_of


async def add_fault(request: Request) -> Response:
    rule = resilience_of(request).add_fault(await read_json(request))
    logging.getLogger("meetings_emulator.faults").info("fault rule added: %s", rule.json())
    return json_response(rule.json(), 201)


async def list_faults(request: Request) -> Response:
    return json_response({"faults": [rule.json() for rule in resilience_of(request).faults.all()]})


async def clear_faults(request: Request) -> Response:
    resilience_of(request).faults.clear()
    return Response(status_code=204)


async def get_fault(request: Request) -> Response:
    rule = resilience_of(request).faults.get(request.path_params["fault_id"])
    if rule is None:
        raise NotFoundError(f"Fault {request.path_params['fault_id']} was not found")
    return json_response(rule.json())


async def remove_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not resilience_of(request).faults.remove(fault_id):
        raise NotFoundError(f"Fault {fault_id} was not found")
    return Response(status_code=204)


async def add_callback_fault(request: Request) -> Response:
    rule = resilience_of(request).add_callback_fault(await read_json(request))
    logging.getLogger("meetings_emulator.faults").info("callback fault rule added: %s", rule.json())
    return json_response(rule.json(), 201)


async def list_callback_faults(request: Request) -> Response:
    rules = resilience_of(request).callback_faults.rules.all()
    return json_response({"faults": [rule.json() for rule in rules]})


async def clear_callback_faults(request: Request) -> Response:
    resilience_of(request).callback_faults.rules.clear()
    return Response(status_code=204)


async def get_callback_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    rule = resilience_of(request).callback_faults.rules.get(fault_id)
    if rule is None:
        raise NotFoundError(f"Callback fault {fault_id} was not found")
    return json_response(rule.json())


async def remove_callback_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not resilience_of(request).callback_faults.rules.remove(fault_id):
        raise NotFoundError(f"Callback fault {fault_id} was not found")
    return Response(status_code=204)


async def list_requests(request: Request) -> Response:
    """The journal, oldest first, filtered by `method`, `path` (a prefix, or a glob),
    `status` (`404`, `5xx`), `tenant`, and cut to the last `limit`."""
    query = request.query_params
    problems = [f'"{key}" is not allowed' for key in query if key not in JOURNAL_FILTERS]
    status = query.get("status")
    if status is not None and not STATUS_FILTER.match(status):
        problems.append('"status" must be a status code, such as 404, or a class, such as 5xx')
    limit = query.get("limit")
    if limit is not None and (not limit.isdigit() or not 1 <= int(limit) <= JOURNAL_SIZE):
        problems.append(f'"limit" must be an integer from 1 to {JOURNAL_SIZE}')
    if problems:
        raise InputValidationError.of(problems)
    resilience = resilience_of(request)
    # `tenant` names a tenant made in the control plane (whose journal this is), or else
    # filters the default tenant's journal by caller (`--tenancy isolated`, `--tenants`).
    by_caller = query.get("tenant") if resilience is request.app.state.resilience else None
    entries = resilience.journal.entries(
        method=query.get("method"),
        path=query.get("path"),
        status=status,
        tenant=by_caller,
        limit=int(limit) if limit is not None else None,
    )
    return json_response({"requests": [entry.json() for entry in entries]})


async def clear_requests(request: Request) -> Response:
    resilience_of(request).journal.clear()
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        method_route(
            "/_emulator/faults", {"GET": list_faults, "POST": add_fault, "DELETE": clear_faults}
        ),
        method_route("/_emulator/faults/{fault_id}", {"GET": get_fault, "DELETE": remove_fault}),
        method_route(
            "/_emulator/callbacks/faults",
            {
                "GET": list_callback_faults,
                "POST": add_callback_fault,
                "DELETE": clear_callback_faults,
            },
        ),
        method_route(
            "/_emulator/callbacks/faults/{fault_id}",
            {"GET": get_callback_fault, "DELETE": remove_callback_fault},
        ),
        method_route("/_emulator/requests", {"GET": list_requests, "DELETE": clear_requests}),
    ]


__all__ = ["routes"]
