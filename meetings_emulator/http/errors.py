"""Errors as the live API wrote them: the one table from domain errors to HTTP statuses,
and the handlers that answer every error with a JSON body, never a traceback."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

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
from meetings_emulator.http.responses import json_response

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
    return json_response(
        {"message": str(error.detail), "name": "Error", "status": error.status_code},
        error.status_code,
        headers=error.headers,
    )


async def on_unexpected_error(_request: Request, _error: Exception) -> Response:
    return json_response(
        {
            "message": "The emulator failed to handle this request",
            "name": "InternalServerError",
            "status": 500,
        },
        500,
    )
