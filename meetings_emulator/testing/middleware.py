"""Testing how a caller copes when things go wrong, and seeing what it sent: the whole.

`Resilience` holds one app's API fault rules, callback fault rules and request journal;
`install` puts them into an app `create_app` made. All of it runs in one pure ASGI
middleware, `ResilienceMiddleware`, which `install` puts outside Starlette's own error
middleware: it sees the response the caller gets (500s included), never buffers one
(streams pass through untouched), and can hand a dropped connection to the server itself.
It checks the control token, hands API calls to the API's `MethodTable`, which calls their
endpoints without Starlette's middleware stack and router (and leaves what it does not find
to them), and tells the journal each answer's status. Durations are read with
`Clock.elapsed()`. A `POST /_emulator/reset` also forgets the rules and the journal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetings_emulator.callbacks.sender import Sender
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.http.api import PREFIXES as API_PREFIXES
from meetings_emulator.http.api import RESOURCES
from meetings_emulator.http.requests import BODY_SEEN, EMULATOR
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import MethodTable, status_noted
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
from meetings_emulator.testing.identity import scope_tenant
from meetings_emulator.testing.journal import Journal
from meetings_emulator.testing.rules import Rules

RESET_PATH = "/_emulator/reset"
log = logging.getLogger("meetings_emulator.requests")


class Resilience:
    """API fault rules, callback fault rules and the journal of one app."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.faults: Rules[ApiFault] = Rules(lambda: emulator.ids, "fault")
        self.callback_faults = CallbackFaults(lambda: emulator.ids)
        self.journal = Journal()
        # Who a call is for; swap for the real thing when tenants exist.
        self.tenant_of: Callable[[Scope], str | None] = functools.partial(
            scope_tenant, auth=emulator.auth
        )

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


def install(app: Starlette, sender: Sender) -> Resilience:
    """Put faults, the journal and the control token into an app `create_app` made.

    The middleware goes outside Starlette's `ServerErrorMiddleware` (which would answer
    500 for a dropped connection, and hides the raw server `send` that closing one
    needs), so it wraps the stack Starlette builds rather than joining `user_middleware`;
    middleware added with `add_middleware` still works as usual, inside it."""
    resilience = Resilience(app.state.emulator)
    app.state.resilience = resilience
    sender.faults = resilience.callback_faults.attempt
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        return ResilienceMiddleware(stack, resilience, MethodTable(API_PREFIXES, RESOURCES, stack))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return resilience


_API_ROOTS = tuple(prefix + "/" for prefix in API_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith(_API_ROOTS) or path in API_PREFIXES


async def _drain(receive: Receive) -> None:
    """Read the request body to its end (a fault answering in the handler's place)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
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

    def __init__(self, app: ASGIApp, resilience: Resilience, api: MethodTable) -> None:
        self.app = app
        self.resilience = resilience
        self.api = api  # the API's endpoints, found without the app's router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[EMULATOR] = self.resilience.emulator
        path: str = scope["path"]
        method: str = scope.get("method", "GET")
        if scope["type"] == "http" and is_api_path(path):
            await self._api_call(scope, receive, send)
            return
        token = self.resilience.emulator.settings.control_token
        if token is not None and needs_token(method, path):
            source = token_source(scope, token)
            if source is None:
                await self._unauthorized(scope, receive, send)
                return
            if source == "query":
                send = setting_cookie(send, token, scope)
        if scope["type"] == "http" and path == RESET_PATH and method == "POST":
            send = self._resetting_after(send)
        await self.app(scope, receive, send)

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = json_response(
            UNAUTHORIZED, 401, headers={"WWW-Authenticate": 'Bearer realm="meetings-emulator"'}
        )
        await response(scope, receive, send)

    def _resetting_after(self, send: Send) -> Send:
        """A successful reset forgets the fault rules and the journal too."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.resilience.reset()
            await send(message)

        return sending

    async def _api_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        resilience = self.resilience
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
            if "status" in rule.effect:
                await _drain(receiving)
                await fault_response(rule)(scope, receiving, sending)
            elif rule.effect.get("drop"):
                await _drain(receiving)
                entry.error = "connection dropped"
                if not await _drop_connection(send):
                    raise ConnectionDropped(f"fault {rule.id} dropped the connection")
            else:
                await self.api.answer(scope, receive, send, entry.answered)
        except BaseException as problem:
            if entry.error is None:
                entry.error = type(problem).__name__
            raise
        finally:
            if entry.latency_ms is None:
                entry.latency_ms = round((Clock.elapsed() - started) * 1000, 3)
            log.debug("%s %s %s %.1f ms", entry.method, entry.path, entry.status, entry.latency_ms)


def resilience_of(request: Request) -> Resilience:
    resilience: Resilience = request.app.state.resilience
    return resilience


__all__ = ["Resilience", "ResilienceMiddleware", "install", "is_api_path", "resilience_of"]
