"""The `meetings_tenant` fixture: a tenant of its own for each test, on the session's server.

A tenant is a world of its own on the server (`POST /_emulator/tenants`): its own clock,
frozen at the session's start (or `meetings_emulator_start`), its own rooms, timers,
callbacks, fault rules, journal and ids, and credentials that reach nothing else. Tests
need no reset of the whole server, so they can run at the same time, in xdist workers that
share one server (`meetings_emulator_url`). The tenant is dropped when the test ends.

The fixture's object offers what `meetings_emulator`'s does, for the tenant alone: its
`http` client calls with the tenant's Basic credentials, and adds `?tenant=NAME` to every
control-plane call (`/_emulator/...`), so `join`, `admit`, `leave`, `session`,
`start_recording`, `stop_recording`, `flush` and `reset` act on the tenant; `advance`,
`set` and `now` move and read its clock. Its callbacks are read from its own delivery log
(`deliveries`), which every server keeps, whether the plugin started it or not; the
session's `meetings_inbox` receives every tenant's callbacks when the plugin started the
server, and none from a server given by URL.

The tenant's client shares the session's connection pool: making one costs two requests
(make and drop) and no new connection.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.pytest_plugin import MeetingsClock, MeetingsEmulator, Served

TENANTS_PATH = "/_emulator/tenants"
CONTROL_PREFIX = "/_emulator/"
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class SharedPool(httpx.BaseTransport):
    """The session's connection pool, seen by one client: closing the client leaves the
    pool open, and with a tenant, every control-plane call names it."""

    def __init__(self, pool: httpx.BaseTransport, tenant: str | None = None) -> None:
        self.pool = pool
        self.tenant = tenant

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (
            self.tenant is not None
            and url.path.startswith(CONTROL_PREFIX)
            and not url.path.startswith(TENANTS_PATH)
            and "tenant" not in url.params
        ):
            request.url = url.copy_add_param("tenant", self.tenant)
        return self.pool.handle_request(request)

    def close(self) -> None:
        """The pool is the session's: it closes when the session's server stops."""


@dataclass
class MeetingsTenant(MeetingsEmulator):
    """A tenant of the session's server: its credentials, its clock, its people."""

    name: str = ""
    api_key: str = ""
    api_secret: str = ""
    application_id: str = ""

    @property
    def clock(self) -> MeetingsClock:
        return MeetingsClock(self.http)

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, by: float | timedelta) -> datetime:
        """Move the tenant's clock on; every transition of the tenant due by then happens
        before this returns."""
        return self.clock.advance(by)

    def set(self, moment: datetime) -> datetime:
        return self.clock.set(moment)

    def deliveries(
        self, *, event: str | None = None, room_id: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The tenant's callback delivery log, oldest first (`flush()` first, so what can be
        delivered now has been): each with its `event`, `room_id`, `status`, `payload`,
        `headers` and `attempts`."""
        wanted = {"event": event, "room_id": room_id, "status": status}
        params = {key: value for key, value in wanted.items() if value is not None}
        return list(self._call("GET", "/_emulator/callbacks", params=params)["deliveries"])


def tenant_name(node_name: str, node_id: str) -> str:
    """A name from the test's, the same at every run (a tenant's ids are seeded from the
    server's seed and its name): readable, then a digest of the whole test id."""
    readable = _NOT_NAME.sub("-", node_name).strip("-._")[:40] or "test"
    return f"{readable}-{hashlib.sha256(node_id.encode()).hexdigest()[:8]}"


def open_tenant(served: Served, name: str) -> MeetingsTenant:
    """Make a tenant on the served emulator, its clock frozen at the session's start."""
    body = {"name": name, "frozen": True, "now": format_iso(served.start)}
    admin = served.http
    response = admin.post(TENANTS_PATH, json=body)
    if response.status_code == 409:  # a tenant left by another run on a shared server
        body["name"] = f"{name}-{secrets.token_hex(3)}"
        response = admin.post(TENANTS_PATH, json=body)
    if response.status_code != 201:
        raise AssertionError(f"POST {TENANTS_PATH}: {response.status_code} {response.text}")
    made = response.json()
    pair = f"{made['api_key']}:{made['api_secret']}".encode()
    auth = "Basic " + base64.b64encode(pair).decode()
    http = httpx.Client(
        base_url=served.url,
        headers={"Authorization": auth},
        transport=SharedPool(served.pool, made["name"]),
        timeout=served.timeout,
    )
    return MeetingsTenant(
        served.url,
        http,
        auth,
        ca_file=served.ca_file,
        name=made["name"],
        api_key=made["api_key"],
        api_secret=made["api_secret"],
        application_id=made["application_id"],
    )


def drop_tenant(served: Served, tenant: MeetingsTenant) -> None:
    tenant.http.close()
    response = served.http.delete(f"{TENANTS_PATH}/{tenant.name}")
    if response.status_code not in (204, 404):  # 404: the test dropped it itself
        raise AssertionError(
            f"DELETE {TENANTS_PATH}/{tenant.name}: {response.status_code} {response.text}"
        )


@pytest.fixture
def meetings_tenant(
    request: pytest.FixtureRequest, _meetings_served: Served
) -> Iterator[MeetingsTenant]:
    """A tenant of its own on the session's server, dropped after the test."""
    tenant = open_tenant(_meetings_served, tenant_name(request.node.name, request.node.nodeid))
    try:
        yield tenant
    finally:
        drop_tenant(_meetings_served, tenant)


__all__ = ["MeetingsTenant", "meetings_tenant"]
