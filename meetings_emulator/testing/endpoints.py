"""The control plane's endpoints for faults and the journal: `/_emulator/faults`,
`/_emulator/callbacks/faults`, `/_emulator/requests` and `/_emulator/requests/count`, which
`routes()` lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from meetings_emulator.domain.errors import InputValidationError, NotFoundError
from meetings_emulator.http.requests import read_json
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import method_route
from meetings_emulator.http.waiting import WAIT_KEYS, Wait, parse_wait, whole_number
from meetings_emulator.testing.journal import (
    JOURNAL_FILTERS,
    JOURNAL_SIZE,
    STATUS_FILTER,
    Journal,
    JournalEntry,
)
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


COUNT_FILTERS = tuple(key for key in JOURNAL_FILTERS if key != "limit")


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """What a request to the journal asks: its filters, `limit` and how long to wait."""

    filters: dict[str, str | None]  # method, path, status, tenant
    limit: int | None
    wait: Wait | None


def _journal_query(request: Request, allowed: tuple[str, ...]) -> JournalQuery:
    """The query string, checked against what is `allowed`; every problem is in one 400."""
    query = request.query_params
    problems = [f'"{key}" is not allowed' for key in query if key not in allowed]
    status = query.get("status")
    if status is not None and not STATUS_FILTER.match(status):
        problems.append('"status" must be a status code, such as 404, or a class, such as 5xx')
    given = query.get("limit")
    limit = None if given is None else whole_number(given, 1, JOURNAL_SIZE)
    if given is not None and limit is None:
        problems.append(f'"limit" must be an integer from 1 to {JOURNAL_SIZE}')
    wait = parse_wait(query, problems, most=JOURNAL_SIZE)
    if problems:
        raise InputValidationError.of(problems)
    filters = {key: query.get(key) for key in ("method", "path", "status", "tenant")}
    if resilience_of(request) is not request.app.state.resilience:
        # `tenant` named a tenant made in the control plane: this is its own journal.
        # In the default tenant's, it filters by caller (`--tenancy isolated`, `--tenants`).
        filters["tenant"] = None
    return JournalQuery(filters, limit, wait)


async def list_requests(request: Request) -> Response:
    """The journal, oldest first, filtered by `method`, `path` (a prefix, or a glob),
    `status` (`404`, `5xx`), `tenant`, and cut to the last `limit`.

    With `wait` or `count`, only finished calls are listed (answered, or ended by a
    disconnect), with `complete`; the answer is held up to `wait` seconds until `count`
    of them match. `limit` cuts the list, not what is counted."""
    asked = _journal_query(request, (*JOURNAL_FILTERS, *WAIT_KEYS))
    journal = resilience_of(request).journal
    if asked.wait is None:
        entries = journal.entries(**asked.filters, limit=asked.limit)
        return json_response({"requests": [entry.json() for entry in entries]})
    entries, complete = await resilience_of(request).journal_changed.wait_for(
        lambda: finished_calls(journal, asked.filters), asked.wait, request.receive
    )
    listed = entries[-asked.limit :] if asked.limit else entries
    return json_response({"requests": [entry.json() for entry in listed], "complete": complete})


def finished_calls(journal: Journal, filters: dict[str, str | None]) -> list[JournalEntry]:
    """The calls that match `filters` and are over: what a `count` counts."""
    return [entry for entry in journal.entries(**filters) if entry.finished]


async def count_requests(request: Request) -> Response:
    """How many calls `GET /_emulator/requests` would list with the same filters."""
    asked = _journal_query(request, COUNT_FILTERS)
    return json_response({"count": len(resilience_of(request).journal.entries(**asked.filters))})


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
        method_route("/_emulator/requests/count", {"GET": count_requests}),
    ]


__all__ = ["routes"]
