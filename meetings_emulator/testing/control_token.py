"""The control token: with `Settings.control_token`, the control plane needs it.

It comes as `Authorization: Bearer <token>`, or, on the browser pages, as `?token=`, which
sets a cookie (derived from the token, not the token) for the pages' own later requests.
The health check and the stand-ins for S3's presigned URLs stay open.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Message, Scope, Send

from meetings_emulator.domain.logos import LOGO_PATH, UPLOAD_PATH
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH
from meetings_emulator.domain.settings import LOCAL_MEETING_PATH

CONTROL_PREFIX = "/_emulator"
UI_PREFIX = "/_emulator/ui"
HEALTH_PATH = "/_emulator/health"
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


def setting_cookie(send: Send, token: str, scope: Scope) -> Send:
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


__all__ = ["needs_token", "setting_cookie", "token_source"]
