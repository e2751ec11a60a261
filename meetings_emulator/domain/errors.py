"""Domain errors, named as the live API names them in its error bodies.

Every error the emulator reports to a caller is one of these. Each carries the API's
`name` and `message` (and `errors` when there are several); `ERROR_STATUS` in
`http/errors.py` is the one table that gives each its HTTP status.

    MeetingsError
    ├── InputValidationError   a request field has the wrong type, value or length
    ├── BadRequestError        a well-formed request the rules refuse
    ├── NotFoundError          no such resource (or no longer available, for updates)
    ├── ForbiddenError         a limit is reached (1000 rooms)
    ├── ConflictError          a unique name is taken
    ├── PayloadTooLargeError   a body over the size limit
    ├── MethodNotAllowedError  a path that exists, with a method it does not serve
    ├── InternalServerError    where the live API itself answered 500 (deleting a recording
    │                          that is not uploaded yet, as its reference documents)
    └── AuthenticationError    missing or wrong credentials (body {title, detail})
"""

from __future__ import annotations

from typing import Any


class MeetingsError(Exception):
    name = "Error"

    def __init__(self, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class InputValidationError(MeetingsError):
    name = "InputValidationError"

    @classmethod
    def of(cls, problems: list[str]) -> InputValidationError:
        """One error for every problem found; `errors` lists them when there are several."""
        return cls(". ".join(problems), problems if len(problems) > 1 else None)


class BadRequestError(MeetingsError):
    name = "BadRequestError"


class NotFoundError(MeetingsError):
    name = "NotFoundError"


class ForbiddenError(MeetingsError):
    name = "ForbiddenError"


class ConflictError(MeetingsError):
    name = "ConflictError"


class PayloadTooLargeError(MeetingsError):
    name = "PayloadTooLargeError"


class MethodNotAllowedError(MeetingsError):
    name = "MethodNotAllowedError"

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class InternalServerError(MeetingsError):
    name = "InternalServerError"


class AuthenticationError(MeetingsError):
    """401, which the live API answered with `{title, detail}`, not `{message, name, status}`."""

    name = "AuthenticationError"

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail

    @classmethod
    def missing(cls) -> AuthenticationError:
        return cls("Missing Auth", "Auth header is required")

    @classmethod
    def invalid(cls) -> AuthenticationError:
        return cls("Unauthorized", "You did not provide correct credentials")
