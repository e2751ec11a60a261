"""API faults (`/_emulator/faults`): rules that make matching API calls slow, answer an
error status (with the live error body), answer 429 with `Retry-After`, or drop the
connection without an answer; for the next N calls, with a probability, or until removed.

`ResilienceMiddleware` (in `middleware.py`) applies them; this module holds the rules, their
parsing and the answers they give. A rule's `path_regex` runs on RE2 (the `google-re2`
package), whose matching takes time linear in the path, whatever the pattern: a pattern that
would backtrack catastrophically in Python's `re` (`(a+)+$`) cannot stall the server.
RE2 has no backreferences and no lookaround; such a pattern is refused when the rule is added.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import re2
from starlette.responses import Response

from meetings_emulator.domain.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InternalServerError,
    MeetingsError,
    NotFoundError,
)
from meetings_emulator.http.errors import error_body
from meetings_emulator.http.responses import json_response
from meetings_emulator.testing.rules import Check, Rule, is_int

FAULT_HEADER = "X-Meetings-Emulator-Fault"

METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_RETRY_AFTER = 86_400
# The error each status effect answers with: the live API's class where it had one.
STATUS_ERRORS: dict[int, type[MeetingsError] | tuple[str, str]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: ("TooManyRequestsError", "Too Many Requests"),
    500: InternalServerError,
    502: ("BadGatewayError", "Bad Gateway"),
    503: ("ServiceUnavailableError", "Service Unavailable"),
    504: ("GatewayTimeoutError", "Gateway Timeout"),
}
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}
DEFAULT_RETRY_AFTER = 1
RETRY_AFTER_STATUSES = (429, 503)
API_FAULT_KEYS = ("method", "path", "path_regex", "tenant", "effect", "times", "probability")
API_EFFECT_KEYS = ("latency_ms", "status", "retry_after", "drop")
# RE2 reports a refused pattern in the exception; its own log line on stderr is not wanted.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


class ConnectionDropped(Exception):
    """A fault dropped the connection, on a server whose connection we cannot reach (the
    in-process TestClient, say): the exception is the nearest thing to no answer at all."""


@dataclass(slots=True)
class ApiFault(Rule):
    method: str = "*"
    path: str | None = None
    path_regex: str | None = None
    tenant: str | None = None
    _pattern: Any = field(default=None, repr=False)  # a compiled RE2 pattern

    def matches(self, method: str, path: str, tenant: str | None) -> bool:
        if self.method != "*" and self.method != method:
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        if self._pattern is not None and not self._pattern.search(path):
            return False
        return self.tenant is None or self.tenant == tenant

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "path_regex": self.path_regex,
            "tenant": self.tenant,
            **self._common_json(),
        }


def parse_api_fault(body: Any, rule_id: str) -> ApiFault:
    """`{"method"?, "path"? | "path_regex"?, "tenant"?, "effect", "times"?, "probability"?}`."""
    check = Check()
    fields = check.object(body, "value", API_FAULT_KEYS)
    method = fields.get("method", "*")
    if not isinstance(method, str) or method.upper() not in METHODS:
        check.fail(f'"method" must be one of [{", ".join(METHODS)}]')
        method = "*"
    path = check.text(fields, "path")
    path_regex = check.text(fields, "path_regex")
    pattern = None
    if path is not None and path_regex is not None:
        check.fail('"path" and "path_regex" cannot be used together')
    elif path_regex is not None:
        try:
            pattern = re2.compile(path_regex, RE2_OPTIONS)
        except re2.error as problem:
            reason = problem.args[0] if problem.args else problem
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            check.fail(f'"path_regex" must be a valid regular expression in RE2 syntax: {reason}')
    tenant = check.text(fields, "tenant")
    effect = _api_effect(check, fields)
    times, probability = check.times_and_probability(fields)
    check.raise_if_any()
    return ApiFault(
        rule_id,
        effect,
        times,
        probability,
        method=method.upper(),
        path=path,
        path_regex=path_regex,
        tenant=tenant,
        _pattern=pattern,
    )


def _api_effect(check: Check, fields: Mapping[str, Any]) -> dict[str, Any]:
    value = check.effect(fields, API_EFFECT_KEYS)
    effect: dict[str, Any] = {}
    if "latency_ms" in value:
        effect["latency_ms"] = check.latency(value["latency_ms"])
    status = value.get("status")
    if "status" in value:
        if not is_int(status) or status not in STATUS_ERRORS:
            check.fail(f'"effect.status" must be one of [{", ".join(map(str, STATUS_ERRORS))}]')
        else:
            effect["status"] = status
    if "retry_after" in value:
        retry_after = value["retry_after"]
        if not is_int(retry_after) or not 0 <= retry_after <= MAX_RETRY_AFTER:
            check.fail(f'"effect.retry_after" must be an integer from 0 to {MAX_RETRY_AFTER}')
        elif status not in RETRY_AFTER_STATUSES:
            check.fail('"effect.retry_after" is only allowed with "effect.status" 429 or 503')
        else:
            effect["retry_after"] = retry_after
    elif status == 429:
        effect["retry_after"] = DEFAULT_RETRY_AFTER
    if "drop" in value:
        if value["drop"] is not True:
            check.fail('"effect.drop" must be [true]')
        elif "status" in value:
            check.fail('"effect.status" and "effect.drop" cannot be used together')
        else:
            effect["drop"] = True
    return effect


def fault_response(rule: ApiFault) -> Response:
    """What a status effect answers: the live API's error body for that status."""
    status = rule.effect["status"]
    error = STATUS_ERRORS[status]
    if error is AuthenticationError:
        body = error_body(AuthenticationError.invalid())
    elif isinstance(error, tuple):
        name, message = error
        body = {"message": message, "name": name, "status": status}
    else:
        body = error_body(error(REASONS[status]))
    headers = {FAULT_HEADER: rule.id}
    if "retry_after" in rule.effect:
        headers["Retry-After"] = str(rule.effect["retry_after"])
    return json_response(body, status, headers=headers)


__all__ = ["ApiFault", "ConnectionDropped", "fault_response", "parse_api_fault"]
