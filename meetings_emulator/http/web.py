"""What every endpoint shares: JSON bodies in and out, and errors as the API wrote them."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetings_emulator.domain.auth import Authenticator, Principal
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InputValidationError,
    InternalServerError,
    MeetingsError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
)
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH

# The one table from domain errors to HTTP statuses.
ERROR_STATUS: dict[type[MeetingsError], int] = {
    InputValidationError: 400,
    BadRequestError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    MethodNotAllowedError: 405,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    InternalServerError: 500,
}

Endpoint = Callable[[Request], Awaitable[Response]]

# Nineteen digits in a row: perhaps an integer past 64 bits, which orjson reads as a float.
LONG_NUMBER = re.compile(rb"[0-9]{19}")
# A `\uD800`-`\uDFFF` escape: the body may hold a lone surrogate, which is no text at all.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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
        handler = self.handlers["GET" if method == "HEAD" else method]
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)


def method_route(path: str, handlers: dict[str, Endpoint]) -> Route:
    """One route for a path, dispatching on the method, so a 405 can list every allowed one."""
    return Route(path, _ByMethod(handlers), methods=list(handlers))


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
        if method == "HEAD":
            method = "GET"
        for template, pattern, handlers in self._paths:
            if pattern is None:
                if rest != template:
                    continue
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
        found = None if scope.get("root_path") else self.find(scope["path"], scope["method"])
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


# Where a middleware may put a function that is given each chunk of the body as it is read.
BODY_SEEN = "meetings_emulator.body_seen"


def header_of(scope: Scope, name: bytes) -> str | None:
    """A request header (the first of that name, as Starlette reads it), or None; `name` in
    lower case, as servers give them."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def authorization_of(scope: Scope) -> str | None:
    return header_of(scope, b"authorization")


# Where a request keeps its caller once the credentials have been checked (or refused).
CALLER = "meetings_emulator.caller"


def caller_of(scope: Scope, auth: Authenticator) -> Principal:
    """The request's caller, its credentials checked once however many layers ask;
    raises `AuthenticationError` when they are refused."""
    known = scope.get(CALLER)
    if known is None:
        try:
            known = auth.authenticate(authorization_of(scope))
        except AuthenticationError as refused:
            known = refused
        scope[CALLER] = known
    if isinstance(known, AuthenticationError):
        raise known
    principal: Principal = known
    return principal


# Where the app's middleware puts the emulator, so endpoints find it with one lookup.
EMULATOR = "meetings_emulator.emulator"


def emulator_of(request: Request) -> Emulator:
    emulator: Emulator | None = request.scope.get(EMULATOR)
    if emulator is None:
        emulator = request.app.state.emulator
    return emulator


def recording_url(request: Request, recording_id: str) -> str:
    """Where a recording's file is served, by the emulator itself (the live one was on S3)."""
    base = str(request.base_url).rstrip("/")
    return base + RECORDING_DOWNLOAD_PATH.format(recording_id=recording_id)


class JSONBody(JSONResponse):
    """A JSON response as Starlette's (compact, UTF-8, same headers), encoded by orjson.

    A body orjson refuses (an integer past 64 bits, a key that is not a string) falls back
    to the standard library, so every body Starlette could write is still written."""

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        if headers is not None or not 200 <= status_code < 600 or status_code in (204, 304):
            super().__init__(content, status_code, headers)
            return
        # Starlette's headers for a JSON body with content, without its general checks.
        self.status_code = status_code
        self.background = None
        self.body = body = self.render(content)
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONBody(body, status_code=status_code, headers=headers)


async def read_json(request: Request) -> Any:
    """The request body as JSON; an empty body reads as `{}` (as the live API's parser did)."""
    limit = emulator_of(request).settings.max_body_bytes
    declared = header_of(request.scope, b"content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    seen = request.scope.get(BODY_SEEN)  # the journal's note of what the call sent
    chunks: list[bytes] = []
    size = 0
    # Read from `receive` rather than through `request.stream()`, an async generator that
    # the one read of every API body need not pay for.
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            if seen is not None:
                seen(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    if not LONG_NUMBER.search(raw):
        try:  # the fast parser takes what is plainly valid; anything else gets the full checks
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        body = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        if SURROGATE_ESCAPE.search(raw):
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError(
            "Request body is not valid JSON: a string holds an unpaired surrogate escape"
        ) from None
    except RecursionError:
        raise BadRequestError("Request body is not valid JSON: it is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as problem:
        raise BadRequestError(f"Request body is not valid JSON: {problem}") from None
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# `json.loads(raw, parse_constant=...)` builds a decoder per call; this is the same, once.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request entity too large: the limit is {limit} bytes")


def error_body(error: MeetingsError) -> dict[str, Any]:
    if isinstance(error, AuthenticationError):
        return {"title": error.title, "detail": error.detail}
    body: dict[str, Any] = {
        "message": error.message,
        "name": error.name,
        "status": ERROR_STATUS[type(error)],
    }
    if error.errors:
        body["errors"] = error.errors
    return body


async def on_meetings_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, MeetingsError)
    headers = None
    if isinstance(error, MethodNotAllowedError):
        headers = {"Allow": ", ".join(error.allowed)}
    return json_response(error_body(error), ERROR_STATUS[type(error)], headers=headers)


async def on_http_error(request: Request, error: Exception) -> Response:
    """Routing misses: unknown paths and methods get the API's error body too."""
    assert isinstance(error, HTTPException)
    target = f"{request.method} {request.url.path}"
    if error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        return await on_meetings_error(
            request,
            MethodNotAllowedError(
                f"Method {request.method} is not allowed on {request.url.path}",
                sorted(method.strip() for method in allowed.split(",") if method.strip()),
            ),
        )
    if error.status_code == 404:
        return await on_meetings_error(request, NotFoundError(f"Not Found: {target}"))
    return JSONResponse(
        {"message": str(error.detail), "name": "Error", "status": error.status_code},
        error.status_code,
        headers=error.headers,
    )


async def on_unexpected_error(_request: Request, _error: Exception) -> Response:
    return JSONResponse(
        {
            "message": "The emulator failed to handle this request",
            "name": "InternalServerError",
            "status": 500,
        },
        500,
    )
