"""Testing how a caller copes when things go wrong, and seeing what it sent: the whole.

`Resilience` holds one app's API fault rules, callback fault rules and request journal;
`install` puts them into an app `create_app` made. All of it runs in one pure ASGI
middleware, `ResilienceMiddleware`, which `install` puts outside Starlette's own error
middleware: it sees the response the caller gets (500s included), never buffers one
(streams pass through untouched), and can hand a dropped connection to the server itself.
It refuses a Host the emulator does not serve (on every request), then, on what the control
token guards, another origin, the token's absence and writes whose body is not JSON (see
`guards.py`); hands API calls to the API's `MethodTable`, which calls their endpoints
without Starlette's middleware stack and router (and leaves what it does not find to them),
and tells the journal each answer's status. A client that hangs up before its request is
read is logged in one line and journaled as a disconnect, never as a 500. Durations are
read with `Clock.elapsed()`. A `POST /_emulator/reset` also forgets the rules and the
journal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetings_emulator.callbacks.sender import Sender
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import NotFoundError
from meetings_emulator.domain.models import DEFAULT_TENANT
from meetings_emulator.domain.tenancy import Tenancy
from meetings_emulator.http.api import PREFIXES as API_PREFIXES
from meetings_emulator.http.api import RESOURCES
from meetings_emulator.http.errors import error_body
from meetings_emulator.http.requests import BODY_SEEN, EMULATOR
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import MethodTable, status_noted
from meetings_emulator.http.waiting import Changes
from meetings_emulator.testing.api_faults import (
    ApiFault,
    ConnectionDropped,
    fault_response,
    parse_api_fault,
)
from meetings_emulator.testing.callback_faults import (
    CallbackFault,
    CallbackFaults,
    parse_callback_fault,
)
from meetings_emulator.testing.control_token import (
    UNAUTHORIZED,
    needs_token,
    setting_cookie,
    token_source,
)
from meetings_emulator.testing.guards import (
    HostCheck,
    RequestHeaders,
    foreign_origin,
    own_origin,
    refuse_content_type,
    refuse_host,
    refuse_origin,
    wrong_content_type,
)
from meetings_emulator.testing.identity import scope_tenant
from meetings_emulator.testing.journal import Journal
from meetings_emulator.testing.rules import Rules
from meetings_emulator.testing.worlds import TENANT_QUERY, World, Worlds

if TYPE_CHECKING:
    import httpx

RESET_PATH = "/_emulator/reset"
RESILIENCE = "meetings_emulator.resilience"  # the request's tenant's testing aids, in its scope
DISCONNECTED = "client disconnected"
log = logging.getLogger("meetings_emulator.requests")


class Resilience:
    """API fault rules, callback fault rules and the journal of one app."""

    def __init__(self, emulator: Emulator, tenant: str | None = None) -> None:
        self.emulator = emulator
        self.faults: Rules[ApiFault] = Rules(lambda: emulator.ids, "fault")
        self.callback_faults = CallbackFaults(lambda: emulator.ids)
        self.journal = Journal()
        # The answers waiting on the journal (`GET /_emulator/requests?wait=`).
        self.journal_changed = Changes()
        self.journal.notify = self.journal_changed.notify
        # Who a call is for, as the journal shows it and fault rules match it: in the
        # default tenant, the caller (its tenant with `--tenancy isolated` or `--tenants`);
        # in a tenant made in the control plane, that tenant's name.
        self.tenant_of: Callable[[Scope], str | None] = functools.partial(
            scope_tenant, auth=emulator.auth
        )
        if tenant is not None:
            self.tenant_of = functools.partial(_named_tenant, tenant, self.tenant_of)

    def add_fault(self, body: Any) -> ApiFault:
        """Add an API fault rule from its JSON form (as `POST /_emulator/faults` does)."""
        return self.faults.add(parse_api_fault(body, self.faults.next_id()))

    def add_callback_fault(self, body: Any) -> CallbackFault:
        rules = self.callback_faults.rules
        return rules.add(parse_callback_fault(body, rules.next_id()))

    def reset(self) -> None:
        """Forget every rule and the journal (a `POST /_emulator/reset` does this too)."""
        self.faults.clear()
        self.callback_faults.reset()
        self.journal.clear()


def install(
    app: Starlette,
    sender: Sender,
    tenancy: Tenancy,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Worlds:
    """Put faults, the journal and the control token into an app `create_app` made.

    The middleware goes outside Starlette's `ServerErrorMiddleware` (which would answer
    500 for a dropped connection, and hides the raw server `send` that closing one
    needs), so it wraps the stack Starlette builds rather than joining `user_middleware`;
    middleware added with `add_middleware` still works as usual, inside it."""
    resilience = Resilience(app.state.emulator)
    app.state.resilience = resilience
    sender.faults = resilience.callback_faults.attempt
    default = World(DEFAULT_TENANT, tenancy.default, resilience, sender)
    worlds = Worlds(tenancy, default, Resilience, transport)
    app.state.worlds = worlds
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        return ResilienceMiddleware(stack, worlds, MethodTable(API_PREFIXES, RESOURCES, stack))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return worlds


def _named_tenant(name: str, caller: Callable[[Scope], str | None], scope: Scope) -> str | None:
    return None if caller(scope) is None else name


_API_ROOTS = tuple(prefix + "/" for prefix in API_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith(_API_ROOTS) or path in API_PREFIXES


async def _drain(receive: Receive, limit: int) -> None:
    """Read the request body (a fault answering in the handler's place): to its end, or
    until `limit` bytes, past which the handler would have refused it; the server drops
    the rest."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        size += len(message.get("body", b""))
        if size > limit or not message.get("more_body", False):
            return


async def _drop_connection(send: Send) -> bool:
    """Close the connection without a byte of answer, when the server lets us reach it.

    Uvicorn answers 500 to an app that fails before answering, so an exception is not
    enough: its `send` is a bound method of the request's cycle, which holds the
    connection's transport. Closing that sends a FIN: the client sees the server hang up
    (`httpx.RemoteProtocolError: Server disconnected without sending a response`). Then
    wait for the server to notice, so it does not try to answer on the closed connection."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not callable(getattr(transport, "close", None)):
        return False
    transport.close()
    for _ in range(100):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0.001)
    return True


class ResilienceMiddleware:
    """Control token, journal and API faults, as a pure ASGI middleware (nothing buffered)."""

    def __init__(self, app: ASGIApp, worlds: Worlds, api: MethodTable) -> None:
        self.app = app
        self.worlds = worlds
        self.resilience = worlds.default.resilience
        self.api = api  # the API's endpoints, found without the app's router
        settings = self.resilience.emulator.settings
        self.hosts = HostCheck(settings)
        # Whether each API call is logged: the level is set before the app serves (`cli`).
        self.debug = log.isEnabledFor(logging.DEBUG)
        self.own_origin = own_origin(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused_host = self.hosts.refused(scope)
        if refused_host is not None:
            scope[EMULATOR] = self.resilience.emulator
            await self._refuse(refuse_host(refused_host), scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        if scope["type"] == "http" and is_api_path(path):
            worlds = self.worlds
            world = worlds.for_api_call(scope) if worlds.tenants_made else worlds.default
            scope[EMULATOR] = world.emulator
            scope[RESILIENCE] = world.resilience
            await self._api_call(world.resilience, scope, receive, send)
            return
        try:
            world = self.worlds.for_control_call(scope)
        except NotFoundError as unknown:
            scope[EMULATOR] = self.resilience.emulator
            await self._refuse(json_response(error_body(unknown), 404), scope, receive, send)
            return
        scope[EMULATOR] = world.emulator
        scope[RESILIENCE] = world.resilience
        if needs_token(method, path):
            headers = RequestHeaders(scope)
            origin = foreign_origin(headers, self.own_origin)
            if origin is not None:
                await self._refuse(refuse_origin(origin), scope, receive, send)
                return
            token = self.resilience.emulator.settings.control_token
            if token is not None:
                source = token_source(scope, token)
                if source is None:
                    await self._unauthorized(scope, receive, send)
                    return
                if source == "query":
                    send = setting_cookie(send, token, scope)
            wrong = wrong_content_type(method, headers)
            if wrong is not None:
                await self._refuse(refuse_content_type(wrong), scope, receive, send)
                return
        if scope["type"] == "http" and path == RESET_PATH and method == "POST":
            everyone = TENANT_QUERY not in scope.get("query_string", b"")
            send = self._resetting_after(send, world, everyone=everyone)
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.info("%s mid-request: %s %s", DISCONNECTED, method, path)

    async def _refuse(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = json_response(
            UNAUTHORIZED, 401, headers={"WWW-Authenticate": 'Bearer realm="meetings-emulator"'}
        )
        await self._refuse(response, scope, receive, send)

    def _resetting_after(self, send: Send, world: World, *, everyone: bool) -> Send:
        """A successful reset forgets the fault rules and the journal too; without
        `?tenant=` (`everyone`), every tenant's state and aids as well (the tenants stay);
        `?tenant=default` resets the default tenant alone."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                world.resilience.reset()
                if everyone:
                    self.worlds.reset_all()
            await send(message)

        return sending

    async def _api_call(
        self, resilience: Resilience, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = Clock.elapsed()
        tenant = resilience.tenant_of(scope)
        entry = resilience.journal.open(scope, resilience.emulator.clock.now(), tenant)
        scope[BODY_SEEN] = entry.received  # `read_json`, which reads every API body, calls it
        try:
            faults = resilience.faults
            rule = (
                faults.pick(lambda r: r.matches(scope["method"], scope["path"], tenant))
                if faults
                else None
            )
            if rule is None:
                await self.api.answer(scope, receive, send, entry.answered)
                return
            entry.fault = rule.id
            sending = status_noted(send, entry.answered)

            async def receiving() -> Message:  # a fault answers unread bodies: note them here
                message = await receive()
                if message["type"] == "http.request":
                    entry.received(message.get("body", b""))
                return message

            delay = rule.latency(resilience.emulator.ids)
            if delay:
                await asyncio.sleep(delay)
            limit = resilience.emulator.settings.max_body_bytes
            if "status" in rule.effect:
                await _drain(receiving, limit)
                await fault_response(rule)(scope, receiving, sending)
            elif rule.effect.get("drop"):
                await _drain(receiving, limit)
                entry.error = "connection dropped"
                if not await _drop_connection(send):
                    raise ConnectionDropped(f"fault {rule.id} dropped the connection")
            else:
                await self.api.answer(scope, receive, send, entry.answered)
        except ClientDisconnect:
            # Whatever was answered (a 500 for the exception) went nowhere: no status.
            entry.status = None
            entry.error = DISCONNECTED
            log.info(
                "%s mid-request: %s %s (%d bytes of its body read)",
                DISCONNECTED,
                entry.method,
                entry.path,
                entry.body_size,
            )
        except BaseException as problem:
            if entry.error is None:
                entry.error = type(problem).__name__
            raise
        finally:
            resilience.journal.finish(entry, round((Clock.elapsed() - started) * 1000, 3))
            if self.debug:
                log.debug(
                    "%s %s %s %.1f ms", entry.method, entry.path, entry.status, entry.latency_ms
                )


def resilience_of(request: Request) -> Resilience:
    """The testing aids of the tenant a request is for."""
    resilience: Resilience | None = request.scope.get(RESILIENCE)
    if resilience is None:
        resilience = request.app.state.resilience
    return resilience


def worlds_of(request: Request) -> Worlds:
    worlds: Worlds = request.app.state.worlds
    return worlds


__all__ = [
    "Resilience",
    "ResilienceMiddleware",
    "install",
    "is_api_path",
    "resilience_of",
    "worlds_of",
]
