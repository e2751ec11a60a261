"""The shell every page shares, the paths the pages are served at, and their static assets.

Every asset is served from `static/` beside this module: no build step, nothing from
elsewhere. The pages build their content with DOM text nodes only, never markup from data,
and the Content-Security-Policy lets them load only what the emulator serves.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import NotFoundError
from meetings_emulator.domain.models import DEFAULT_TENANT
from meetings_emulator.domain.tenancy import Tenancy

# Where the UI is served: the dashboard, its stream, the assets, the meeting page's join.
UI_PATH = "/_emulator/ui"
EVENTS_PATH = "/_emulator/events"
STATIC_PATH = "/_emulator/static"
MEET_JOIN_PATH = "/_emulator/meet/{meeting_code}/participants"

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css)$")
# The pages load only what the emulator serves, and run no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def tenant_name(request: Request, emulator: Emulator) -> str | None:
    """The name of the tenant whose emulator this is (`DEFAULT_TENANT` for the shared one),
    or None if it has been dropped."""
    if emulator is request.app.state.emulator:
        return DEFAULT_TENANT
    tenancy: Tenancy = request.app.state.tenancy
    return next((tenant.name for tenant in tenancy if tenant.emulator is emulator), None)


@cache
def _asset(name: str) -> bytes | None:
    resource = files("meetings_emulator.ui") / "static" / name
    return resource.read_bytes() if resource.is_file() else None


async def static_asset(request: Request) -> Response:
    name = request.path_params["name"]
    body = _asset(name) if STATIC_NAME.match(name) else None
    if body is None:
        raise NotFoundError(f"Not Found: {request.method} {request.url.path}")
    media_type = STATIC_TYPES[name[name.rindex(".") :]]
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def page_html(title: str, body: str, script: str, data: dict[str, str] | None = None) -> str:
    attributes = "".join(
        f' data-{name}="{html.escape(value, quote=True)}"' for name, value in (data or {}).items()
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_PATH}/emulator.css">
<script type="module" src="{STATIC_PATH}/{script}"></script>
</head>
<body{attributes}>
{body}
</body>
</html>
"""
