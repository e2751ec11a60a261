"""Testing how a caller copes when things go wrong, and seeing what it sent.

- API faults (`/_emulator/faults`): rules that make matching API calls slow, answer an
  error status (with the live error body), answer 429 with `Retry-After`, or drop the
  connection without an answer; for the next N calls, with a probability, or until removed.
- Callback faults (`/_emulator/callbacks/faults`): rules that make deliveries slow,
  duplicated (same event id) or reordered (a delivery swapped with the next of its room).
  `Sender.attempt` consults `CallbackFaults` (see `callbacks.py`).
- The request journal (`/_emulator/requests`): the last 1,000 API calls, with the
  credentials redacted and bodies cut at 8 KiB.
- The control token: with `Settings.control_token`, the control plane needs it.

All of it runs in one pure ASGI middleware, `ResilienceMiddleware`, which `install` puts
outside Starlette's own error middleware: it sees the response the caller gets (500s
included), never buffers one (streams pass through untouched), and can hand a dropped
connection to the server itself. It hands API calls to the API's `MethodTable`, which
calls their endpoints without Starlette's middleware stack and router (and leaves what it
does not find to them), and tells the journal each answer's status. Randomness comes from
the emulator's `Ids` (with a seed, the same API calls meet the same draws; callback
deliveries draw when the network lets them); latency is real time, as it is about the
caller's own timeouts; durations are read with `Clock.elapsed()`. A `POST /_emulator/reset`
also forgets the rules and the journal.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import functools
import hashlib
import hmac
import itertools
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

import jwt
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetings_emulator.callbacks.sender import Post, Sender
from meetings_emulator.domain.auth import Authenticator
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InputValidationError,
    InternalServerError,
    MeetingsError,
    NotFoundError,
)
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.logos import LOGO_PATH, UPLOAD_PATH
from meetings_emulator.domain.outbox import Attempt, Delivery, DeliveryStatus
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH
from meetings_emulator.domain.settings import LOCAL_MEETING_PATH
from meetings_emulator.http.api import PREFIXES as API_PREFIXES
from meetings_emulator.http.api import RESOURCES
from meetings_emulator.http.schemas import Checker
from meetings_emulator.http.web import (
    BODY_SEEN,
    EMULATOR,
    MethodTable,
    authorization_of,
    caller_of,
    error_body,
    json_response,
    method_route,
    read_json,
    status_noted,
)

CONTROL_PREFIX = "/_emulator"
UI_PREFIX = "/_emulator/ui"
HEALTH_PATH = "/_emulator/health"
RESET_PATH = "/_emulator/reset"
# Stand-ins for S3's presigned URLs: whoever holds the link may fetch it, token or not.
OPEN_PREFIXES = (UPLOAD_PATH.rsplit("/", 1)[0], LOGO_PATH.split("{", 1)[0])
OPEN_PATTERN = re.compile(
    re.escape(RECORDING_DOWNLOAD_PATH).replace(re.escape("{recording_id}"), "[^/]+")
)
# Browser pages: the token may also come as `?token=`, which sets this cookie.
PAGE_PREFIXES = (UI_PREFIX, LOCAL_MEETING_PATH)
TOKEN_COOKIE = "meetings_emulator_control"
TOKEN_QUERY = "token"
UNAUTHORIZED = {"title": "Unauthorized", "detail": "The control plane needs its token"}

JOURNAL_SIZE = 1000
JOURNAL_BODY_BYTES = 8 * 1024
FAULT_HEADER = "X-Meetings-Emulator-Fault"

METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_LATENCY_MS = 600_000
MAX_TIMES = 1_000_000
MAX_RETRY_AFTER = 86_400
MAX_DUPLICATES = 100
MAX_TEXT = 1000
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
CALLBACK_FAULT_KEYS = ("event", "room_id", "effect", "times", "probability")
CALLBACK_EFFECT_KEYS = ("latency_ms", "duplicate", "reorder")
JOURNAL_FILTERS = ("method", "path", "status", "tenant", "limit")
STATUS_FILTER = re.compile(r"^[1-5]([0-9]{2}|xx)$")
GLOB_CHARACTERS = frozenset("*?[")


class ConnectionDropped(Exception):
    """A fault dropped the connection, on a server whose connection we cannot reach (the
    in-process TestClient, say): the exception is the nearest thing to no answer at all."""


# -- who is calling ---------------------------------------------------------------------


def tenant_of(
    scope_or_headers: Scope | Mapping[str, str], auth: Authenticator | None = None
) -> str | None:
    """The tenant a call belongs to, or None when its credentials are refused.

    For now the tenant is the authenticated caller's id (an api key, or a JWT's
    application id). `scope_or_headers` is an ASGI scope (whose app's emulator checks the
    credentials) or a mapping of headers (checked by `auth`, or as the default settings
    would). Swap this for the real notion of a tenant when there is one.
    """
    if isinstance(scope_or_headers, dict) and isinstance(scope_or_headers.get("headers"), list):
        scope: Scope = scope_or_headers
        if auth is None and "app" in scope:
            auth = scope["app"].state.emulator.auth
        if auth is not None:
            return scope_tenant(scope, auth)
        header = authorization_of(scope)
    else:
        header = Headers(headers=dict(scope_or_headers)).get("authorization")
    if auth is None:
        auth = Authenticator(Clock())
    try:
        return auth.authenticate(header).id
    except AuthenticationError:
        return None


def scope_tenant(scope: Scope, auth: Authenticator) -> str | None:
    """`tenant_of` for a call's scope, its credentials checked by `auth` (once per call)."""
    try:
        return caller_of(scope, auth).id
    except AuthenticationError:
        return None


@functools.lru_cache(maxsize=1024)  # a JWT decode per call cost a fifth of a GET
def redact_authorization(header: str | None) -> str | None:
    """The scheme and a short fingerprint: `Basic aaa0…` (the api key's first 4 characters,
    never the secret), `Bearer <application_id>` (read from the JWT, unverified)."""
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
        return f"Basic {key[:4]}…"
    if scheme.lower() == "bearer":
        application_id = None
        options = {"verify_signature": False, "verify_exp": False, "verify_iat": False}
        with contextlib.suppress(jwt.PyJWTError):
            application_id = jwt.decode(credential, options=options).get("application_id")
        if isinstance(application_id, str) and application_id:
            return f"Bearer {application_id[:64]}"
        return "Bearer …"
    if scheme.isalpha() and len(scheme) <= 16:
        return f"{scheme} …"
    return "…"


# -- rules: what they share -------------------------------------------------------------


@dataclass(slots=True)
class Rule:
    """A fault rule: when it matches, it applies (with `probability`, for `times` calls)."""

    id: str
    effect: dict[str, Any]
    times: int | None
    probability: float | None
    remaining: int | None = None
    applied: int = 0

    def __post_init__(self) -> None:
        self.remaining = self.times

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def latency(self, ids: Ids) -> float:
        """Seconds to wait: the effect's `latency_ms`, or a random pick in its range."""
        value = self.effect.get("latency_ms")
        if value is None:
            return 0.0
        if isinstance(value, list):
            low, high = value
            return (low + (high - low) * ids.fraction()) / 1000
        return float(value) / 1000

    def _common_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "times": self.times,
            "probability": self.probability,
            "remaining": self.remaining,
            "applied": self.applied,
        }


R = TypeVar("R", bound=Rule)


class Rules(Generic[R]):
    """Rules in the order they were added; the first that matches and fires applies."""

    def __init__(self, ids: Callable[[], Ids], prefix: str) -> None:
        self._ids = ids
        self._prefix = prefix
        self._lock = threading.Lock()
        self._rules: dict[str, R] = {}
        self._serial = itertools.count(1)

    def next_id(self) -> str:
        return f"{self._prefix}-{next(self._serial)}"

    def add(self, rule: R) -> R:
        with self._lock:
            self._rules[rule.id] = rule
        return rule

    def __len__(self) -> int:
        return len(self._rules)

    def all(self) -> list[R]:
        with self._lock:
            return list(self._rules.values())

    def get(self, rule_id: str) -> R | None:
        with self._lock:
            return self._rules.get(rule_id)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, matches: Callable[[R], bool]) -> R | None:
        """The rule that applies to this call, if any; it counts as applied.

        A rule with a probability draws a number for each call it matches; when the draw
        misses, the later rules get their chance."""
        with self._lock:
            for rule in self._rules.values():
                if rule.exhausted or not matches(rule):
                    continue
                if rule.probability is not None and self._ids().fraction() >= rule.probability:
                    continue
                rule.applied += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None


# -- API faults ---------------------------------------------------------------------------


@dataclass(slots=True)
class ApiFault(Rule):
    method: str = "*"
    path: str | None = None
    path_regex: str | None = None
    tenant: str | None = None
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

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
    check = _Check()
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
            pattern = re.compile(path_regex)
        except re.error as problem:
            check.fail(f'"path_regex" must be a valid regular expression: {problem}')
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


def _api_effect(check: _Check, fields: Mapping[str, Any]) -> dict[str, Any]:
    value = check.effect(fields, API_EFFECT_KEYS)
    effect: dict[str, Any] = {}
    if "latency_ms" in value:
        effect["latency_ms"] = check.latency(value["latency_ms"])
    status = value.get("status")
    if "status" in value:
        if not _is_int(status) or status not in STATUS_ERRORS:
            check.fail(f'"effect.status" must be one of [{", ".join(map(str, STATUS_ERRORS))}]')
        else:
            effect["status"] = status
    if "retry_after" in value:
        retry_after = value["retry_after"]
        if not _is_int(retry_after) or not 0 <= retry_after <= MAX_RETRY_AFTER:
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
    return JSONResponse(body, status, headers=headers)


# -- callback faults ----------------------------------------------------------------------


@dataclass(slots=True)
class CallbackFault(Rule):
    event: str | None = None
    room_id: str | None = None

    def matches(self, delivery: Delivery) -> bool:
        if self.event is not None and not fnmatch.fnmatchcase(delivery.event, self.event):
            return False
        return self.room_id is None or self.room_id == delivery.room_id

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "room_id": self.room_id, **self._common_json()}


def parse_callback_fault(body: Any, rule_id: str) -> CallbackFault:
    """`{"event"? (glob), "room_id"?, "effect", "times"?, "probability"?}`."""
    check = _Check()
    fields = check.object(body, "value", CALLBACK_FAULT_KEYS)
    event = check.text(fields, "event")
    room_id = check.text(fields, "room_id")
    value = check.effect(fields, CALLBACK_EFFECT_KEYS)
    effect: dict[str, Any] = {}
    if "latency_ms" in value:
        effect["latency_ms"] = check.latency(value["latency_ms"])
    if "duplicate" in value:
        duplicate = value["duplicate"]
        if not _is_int(duplicate) or not 1 <= duplicate <= MAX_DUPLICATES:
            check.fail(f'"effect.duplicate" must be an integer from 1 to {MAX_DUPLICATES}')
        else:
            effect["duplicate"] = duplicate
    if "reorder" in value:
        if value["reorder"] is not True:
            check.fail('"effect.reorder" must be [true]')
        else:
            effect["reorder"] = True
    times, probability = check.times_and_probability(fields)
    check.raise_if_any()
    return CallbackFault(rule_id, effect, times, probability, event=event, room_id=room_id)


class CallbackFaults:
    """The `Sender`'s fault hook: slow, duplicated and reordered deliveries.

    - `latency_ms`: wait (real time) before sending; the logged attempt's `latency_ms`
      includes the wait.
    - `duplicate: n`: after the attempt, post the same request n more times (same body,
      same event id); only the first is logged, and the copies' answers are ignored.
    - `reorder`: send the next delivery queued in the same room first, then this one. The
      next one's answer is kept and becomes its own attempt when its turn comes, so it is
      not sent twice. A reorder rule only matches a delivery that has one queued behind it.
    """

    def __init__(self, ids: Callable[[], Ids]) -> None:
        self.rules: Rules[CallbackFault] = Rules(ids, "callback-fault")
        self._ids = ids
        # Deliveries sent ahead of their turn by a reorder, with the attempt they got.
        self._sent_early: dict[Delivery, Attempt] = {}

    async def attempt(
        self,
        delivery: Delivery,
        timeout: float,
        post: Post,
        queued: Callable[[], list[Delivery]],
    ) -> Attempt:
        early = self._sent_early.pop(delivery, None)
        if early is not None:
            return early
        behind: list[Delivery | None] = []  # looked up once, only if a reorder rule asks

        def fits(rule: CallbackFault) -> bool:
            if not rule.matches(delivery):
                return False
            if rule.effect.get("reorder"):
                if not behind:
                    behind.append(self._next_in_room(delivery, queued()))
                return behind[0] is not None
            return True

        rule = self.rules.pick(fits)
        if rule is None:
            return await post(delivery, timeout)
        started = Clock.elapsed()
        delay = rule.latency(self._ids())
        if delay:
            await asyncio.sleep(delay)
        waited_ms = (Clock.elapsed() - started) * 1000
        successor = behind[0] if behind and rule.effect.get("reorder") else None
        if successor is not None:
            self._sent_early[successor] = await post(successor, timeout)
        attempt = await post(delivery, timeout)
        for _ in range(rule.effect.get("duplicate", 0)):
            await post(delivery, timeout)
        if delay:
            attempt = replace(attempt, latency_ms=round(attempt.latency_ms + waited_ms, 3))
        return attempt

    def _next_in_room(self, delivery: Delivery, queued: list[Delivery]) -> Delivery | None:
        room = [d for d in queued if d.room_id == delivery.room_id]
        for before, after in itertools.pairwise(room):
            if before is delivery:
                if after.status is DeliveryStatus.PENDING and after not in self._sent_early:
                    return after
                return None
        return None

    def reset(self) -> None:
        self.rules.clear()
        self._sent_early.clear()


# -- the journal --------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class JournalEntry:
    """One API call. Its time and credential fingerprint are written when it is read."""

    id: int
    arrived: datetime
    method: str
    path: str
    query: str
    authorization: str | None  # the raw header: only its fingerprint is ever shown
    tenant: str | None
    body: bytes | None = None  # the first JOURNAL_BODY_BYTES (the request's own bytes)
    body_size: int = 0
    status: int | None = None
    latency_ms: float | None = None
    fault: str | None = None
    error: str | None = None

    def answered(self, status: int) -> None:
        self.status = status

    def received(self, chunk: bytes) -> None:
        if type(chunk) is not bytes:  # a server's own buffer: copied, it may be reused
            chunk = bytes(chunk)
        self.body_size += len(chunk)
        kept = self.body
        if kept is None:  # usually the whole body: kept as it is, not copied
            self.body = chunk if len(chunk) <= JOURNAL_BODY_BYTES else chunk[:JOURNAL_BODY_BYTES]
        elif len(kept) < JOURNAL_BODY_BYTES:
            self.body = kept + chunk[: JOURNAL_BODY_BYTES - len(kept)]

    @property
    def at(self) -> str:
        return format_iso(self.arrived)

    @property
    def auth(self) -> str | None:
        return redact_authorization(self.authorization)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "auth": self.auth,
            "tenant": self.tenant,
            "body": self.body.decode("utf-8", "replace") if self.body else None,
            "body_size": self.body_size,
            "body_truncated": self.body_size > len(self.body or b""),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "fault": self.fault,
            "error": self.error,
        }


class Journal:
    """The last `keep` API calls, oldest first; each is listed from the moment it arrives."""

    def __init__(self, keep: int = JOURNAL_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: deque[JournalEntry] = deque(maxlen=keep)
        self._serial = itertools.count(1)

    def open(self, scope: Scope, at: datetime, tenant: str | None) -> JournalEntry:
        entry = JournalEntry(
            next(self._serial),
            at,
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            authorization_of(scope),
            tenant,
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: str | None = None,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        with self._lock:
            entries = list(self._entries)
        found = [
            entry
            for entry in entries
            if (method is None or entry.method == method.upper())
            and (path is None or _path_fits(entry.path, path))
            and (status is None or _status_fits(entry.status, status))
            and (tenant is None or entry.tenant == tenant)
        ]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _path_fits(path: str, wanted: str) -> bool:
    if GLOB_CHARACTERS & set(wanted):
        return fnmatch.fnmatchcase(path, wanted)
    return path.startswith(wanted)


def _status_fits(status: int | None, wanted: str) -> bool:
    if status is None:
        return False
    if wanted.endswith("xx"):
        return str(status)[0] == wanted[0]
    return status == int(wanted)


# -- the whole, and its middleware --------------------------------------------------------


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
    sender.faults = resilience.callback_faults
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build()
        return ResilienceMiddleware(stack, resilience, MethodTable(API_PREFIXES, RESOURCES, stack))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return resilience


_API_ROOTS = tuple(prefix + "/" for prefix in API_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith(_API_ROOTS) or path in API_PREFIXES


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def needs_token(method: str, path: str) -> bool:
    """Whether a request is one the control token guards (when one is set)."""
    if _under(path, PAGE_PREFIXES):
        return True
    if not _under(path, (CONTROL_PREFIX,)):
        return False
    if path == HEALTH_PATH and method in ("GET", "HEAD"):
        return False
    return not (_under(path, OPEN_PREFIXES) or OPEN_PATTERN.fullmatch(path))


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie is not the token."""
    return hmac.new(token.encode(), b"meetings-emulator control cookie", hashlib.sha256).hexdigest()


def token_source(scope: Scope, token: str) -> str | None:
    """How the request shows the token (`header`, `cookie`, `query`), or None."""
    headers = Headers(scope=scope)
    scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and _same(credential.strip(), token):
        return "header"
    cookies = cookie_parser(headers.get("cookie", ""))
    if _same(cookies.get(TOKEN_COOKIE), _cookie_value(token)):
        return "cookie"
    if _under(scope["path"], PAGE_PREFIXES):
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if _same(query.get(TOKEN_QUERY), token):
            return "query"
    return None


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
                send = _setting_cookie(send, token, scope)
        if scope["type"] == "http" and path == RESET_PATH and method == "POST":
            send = self._resetting_after(send)
        await self.app(scope, receive, send)

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse(
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


def _setting_cookie(send: Send, token: str, scope: Scope) -> Send:
    """Remember a page's `?token=` in a cookie, for the page's own later requests."""
    attributes = "Path=/; HttpOnly; SameSite=Strict"
    if scope.get("scheme") in ("https", "wss"):
        attributes += "; Secure"
    cookie = f"{TOKEN_COOKIE}={_cookie_value(token)}; {attributes}".encode("latin-1")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return sending


# -- the control plane's endpoints --------------------------------------------------------


def resilience_of(request: Request) -> Resilience:
    resilience: Resilience = request.app.state.resilience
    return resilience


async def add_fault(request: Request) -> Response:
    rule = resilience_of(request).add_fault(await read_json(request))
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
    entries = resilience_of(request).journal.entries(
        method=query.get("method"),
        path=query.get("path"),
        status=status,
        tenant=query.get("tenant"),
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


# -- checking rules -----------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Check(Checker):
    """The API's field checks, plus the fault rules' own (effects, latency, times)."""

    def object(self, value: Any, label: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        found = super().object(value, label, allowed)
        if found is None:  # not an object: nothing more to check
            self.raise_if_any()
        assert found is not None
        return found

    def text(self, fields: Mapping[str, Any], label: str) -> str | None:
        if fields.get(label) is None:
            return None
        found: str | None = self.string(fields[label], label, max_length=MAX_TEXT)
        return found

    def effect(self, fields: Mapping[str, Any], allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if "effect" not in fields:
            self.fail('"effect" is required')
            return {}
        value = fields["effect"]
        if not isinstance(value, dict):
            self.fail('"effect" must be of type object')
            return {}
        if not value:
            self.fail('"effect" must have at least 1 key')
        self.problems.extend(
            f'"effect.{key}" is not allowed' for key in value if key not in allowed
        )
        return value

    def latency(self, value: Any) -> float | list[float] | None:
        def fits(number: Any) -> bool:
            return _is_number(number) and 0 <= number <= MAX_LATENCY_MS

        if fits(value):
            return value  # type: ignore[no-any-return]
        if isinstance(value, list) and len(value) == 2 and all(fits(n) for n in value):
            if value[0] > value[1]:
                self.fail(
                    '"effect.latency_ms" must be [min, max] with min less than or equal to max'
                )
                return None
            return list(value)
        self.fail(
            f'"effect.latency_ms" must be a number from 0 to {MAX_LATENCY_MS}, '
            "or an array [min, max] of such numbers"
        )
        return None

    def times_and_probability(self, fields: Mapping[str, Any]) -> tuple[int | None, float | None]:
        times = fields.get("times")
        if times is not None and (not _is_int(times) or not 1 <= times <= MAX_TIMES):
            self.fail(f'"times" must be an integer from 1 to {MAX_TIMES}')
            times = None
        probability = fields.get("probability")
        if probability is not None and (not _is_number(probability) or not 0 <= probability <= 1):
            self.fail('"probability" must be a number from 0 to 1')
            probability = None
        return times, probability


__all__ = [
    "ApiFault",
    "CallbackFault",
    "CallbackFaults",
    "ConnectionDropped",
    "Journal",
    "Resilience",
    "ResilienceMiddleware",
    "install",
    "redact_authorization",
    "routes",
    "tenant_of",
]
