"""Finding an endpoint: routes that dispatch on the method, and the table that answers API
calls without Starlette's middleware stack and router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetings_emulator.domain.errors import MeetingsError, MethodNotAllowedError
from meetings_emulator.http.errors import on_http_error, on_meetings_error, on_unexpected_error

Endpoint = Callable[[Request], Awaitable[Response]]


class _ByMethod:
    """An ASGI endpoint calling the handler for the request's method (HEAD: GET's).

    Starlette wraps a function endpoint in a second layer of exception handling, on every
    request; the app's own `ExceptionMiddleware` answers those exceptions the same way, so
    an ASGI endpoint that leaves them to it behaves alike, for less."""

    __slots__ = ("handlers",)

    def __init__(self, handlers: dict[str, Endpoint]) -> None:
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        handler = self.handlers.get("GET" if method == "HEAD" else method)
        if handler is None:  # a fixed path's other methods come here, to answer 405
            raise MethodNotAllowedError(
                f"Method {method} is not allowed on {scope['path']}",
                allowed_methods(self.handlers),
            )
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)


def allowed_methods(handlers: dict[str, Endpoint]) -> list[str]:
    """What an `Allow` header lists for a path: its methods, and HEAD wherever GET is."""
    methods = set(handlers) | ({"HEAD"} if "GET" in handlers else set())
    return sorted(methods)


def method_route(path: str, handlers: dict[str, Endpoint]) -> Route:
    """One route for a path, dispatching on the method, so a 405 can list every allowed one.

    A fixed path (`/themes/logos-upload-urls`) is never a value of a template's parameter
    (`/themes/{theme_id}`): its route answers 405 for the methods it does not serve, where
    the router would otherwise try the template's route next."""
    kind = Route if "{" in path else _FixedRoute
    return kind(path, _ByMethod(handlers), methods=list(handlers))


class _FixedRoute(Route):
    """A route for a fixed path: its path with another method is still its own (a 405 from
    `_ByMethod`), not a reason for the router to try the routes after it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child


class MethodTable:
    """Calls the handler for a request's path and method, as the app's routes for the same
    `paths` under each of `prefixes` would, without passing through the app's middleware
    stack and router; what it does not find (a 404, a 405, a redirect) goes to `fallback`.

    The paths are tried in their order, as Starlette's router tries routes (`{name}` takes
    one segment); the first that matches both path and method wins. Errors are answered
    as the app's exception handlers answer them; any other exception gets the 500 body and
    is raised on to the server, as Starlette's `ServerErrorMiddleware` does."""

    __slots__ = ("_fallback", "_paths", "_prefixes")

    def __init__(
        self, prefixes: tuple[str, ...], paths: dict[str, dict[str, Endpoint]], fallback: ASGIApp
    ) -> None:
        self._fallback = fallback
        self._prefixes = prefixes
        self._paths = [
            (path, compile_path(path)[0] if "{" in path else None, handlers)
            for path, handlers in paths.items()
        ]

    def find(self, path: str, method: str) -> tuple[Endpoint, dict[str, str]] | None:
        for prefix in self._prefixes:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                break
        else:
            return None
        asked = method
        if method == "HEAD":
            method = "GET"
        for template, pattern, handlers in self._paths:
            if pattern is None:
                if rest != template:
                    continue
                if method not in handlers:  # a fixed path is never a value of a template's
                    raise MethodNotAllowedError(
                        f"Method {asked} is not allowed on {path}", allowed_methods(handlers)
                    )
                params: dict[str, str] = {}
            else:
                match = pattern.match(rest)
                if match is None:
                    continue
                params = match.groupdict()
            handler = handlers.get(method)
            if handler is not None:
                return handler, params
        return None

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, note_status: Callable[[int], None]
    ) -> None:
        """Answer the call, telling `note_status` the status just before it is sent."""
        try:
            found = None if scope.get("root_path") else self.find(scope["path"], scope["method"])
        except MethodNotAllowedError as refused:
            response = await on_meetings_error(Request(scope, receive, send), refused)
            note_status(response.status_code)
            await response(scope, receive, send)
            return
        if found is None:
            await self._fallback(scope, receive, status_noted(send, note_status))
            return
        handler, scope["path_params"] = found
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except MeetingsError as error:
            response = await on_meetings_error(request, error)
        except HTTPException as error:
            response = await on_http_error(request, error)
        except Exception as error:
            failed = await on_unexpected_error(request, error)
            note_status(failed.status_code)
            await failed(scope, receive, send)
            raise
        note_status(response.status_code)
        await response(scope, receive, send)


def status_noted(send: Send, note_status: Callable[[int], None]) -> Send:
    """`send`, telling `note_status` the status of the answer as it starts."""

    async def noting(message: Message) -> None:
        if message["type"] == "http.response.start":
            note_status(message["status"])
        await send(message)

    return noting
