"""Reading a request: headers, the checked caller, the emulator behind the app, and JSON
bodies within the size limit."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

from meetings_emulator.domain.auth import Authenticator, Principal
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import (
    AuthenticationError,
    BadRequestError,
    PayloadTooLargeError,
)
from meetings_emulator.domain.payloads import download_path

# Nineteen digits in a row: perhaps an integer past 64 bits, which orjson reads as a float.
LONG_NUMBER = re.compile(rb"[0-9]{19}")


# A `\uD800`-`\uDFFF` escape: the body may hold a lone surrogate, which is no text at all.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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
    return base + download_path(recording_id, emulator_of(request).settings.tenant_name)


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
