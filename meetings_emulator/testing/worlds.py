"""Each tenant's world as the app serves it: its emulator, its testing aids (fault rules,
callback faults, the request journal) and the sender that posts its callbacks.

`Worlds` finds the world a request is for: an API call by its credentials (a tenant's
Basic api key, or a JWT naming a tenant's application), a control-plane call by its
`?tenant=NAME`; anything else is the default tenant's. With no tenants made, that is one
comparison a request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import jwt
from starlette.types import Scope

from meetings_emulator.callbacks.sender import Sender
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import NotFoundError
from meetings_emulator.domain.models import DEFAULT_TENANT
from meetings_emulator.domain.tenancy import Tenancy, Tenant, TenantRequest
from meetings_emulator.http.requests import authorization_of

if TYPE_CHECKING:
    import httpx

    from meetings_emulator.testing.middleware import Resilience

# Where a request's world is kept in its scope, once found.
WORLD = "meetings_emulator.world"
TENANT_QUERY = b"tenant="
# The journal's own `tenant` filter (a caller of the default tenant) came first: there, a
# name that is no tenant filters the default journal as it always did.
JOURNAL_PATH = "/_emulator/requests"


@dataclass(eq=False)
class World:
    """One tenant's emulator, testing aids and callback sender."""

    name: str
    emulator: Emulator
    resilience: Resilience
    sender: Sender
    tenant: Tenant | None = None  # None: the default tenant
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Worlds:
    def __init__(
        self,
        tenancy: Tenancy,
        default: World,
        make_resilience: type[Resilience],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tenancy = tenancy
        self.default = default
        self._make_resilience = make_resilience
        self._transport = transport
        self._worlds: dict[str, World] = {}
        self.tenants_made = False  # whether any tenant exists (read on every API call)
        # Told when any tenant's delivery log changes (answers waiting on it are woken).
        self.on_outbox_change: Callable[[], None] | None = None

    def __iter__(self) -> Iterator[World]:
        yield self.default
        yield from list(self._worlds.values())

    def tenants(self) -> list[World]:
        return list(self._worlds.values())

    # -- finding a request's world -------------------------------------------------------

    def for_api_call(self, scope: Scope) -> World:
        """The world an API call's credentials reach (checked later, by its emulator)."""
        if not self._worlds:
            return self.default
        kind, identity = _claimed(authorization_of(scope))
        tenant: Tenant | None = None
        if kind == "basic":
            tenant = self.tenancy.by_api_key(identity)
        elif kind == "bearer":
            tenant = self.tenancy.by_application(identity)
        if tenant is None:
            return self.default
        return self._worlds.get(tenant.name, self.default)

    def for_control_call(self, scope: Scope) -> World:
        """The world `?tenant=NAME` names (none: the default); raises `NotFoundError`."""
        query: bytes = scope.get("query_string", b"")
        if TENANT_QUERY not in query:
            return self.default
        names = parse_qs(query.decode("latin-1")).get("tenant")
        if not names:
            return self.default
        if scope["path"].startswith(JOURNAL_PATH) and names[-1] not in self._worlds:
            return self.default
        return self.named(names[-1])

    def named(self, name: str) -> World:
        if name == DEFAULT_TENANT:
            return self.default
        world = self._worlds.get(name)
        if world is None:
            raise NotFoundError(f"No tenant named {name}")
        return world

    # -- making and dropping tenants -----------------------------------------------------

    def create(self, request: TenantRequest) -> World:
        """A new tenant, its sender started in the running loop (if any)."""
        tenant = self.tenancy.create(request)
        emulator = tenant.emulator
        sender = Sender(lambda: emulator.callbacks, emulator.clock, transport=self._transport)
        resilience = self._make_resilience(emulator, tenant.name)
        sender.faults = resilience.callback_faults.attempt
        world = World(tenant.name, emulator, resilience, sender, tenant)
        self._worlds[tenant.name] = world
        self.tenants_made = True
        with contextlib.suppress(RuntimeError):  # no running loop: started with the app
            loop = asyncio.get_running_loop()
            self._start(world, loop)
        return world

    def start_all(self) -> None:
        """Start the senders of tenants made before the loop ran."""
        loop = asyncio.get_running_loop()
        for world in self._worlds.values():
            if world.task is None:
                self._start(world, loop)

    async def drop(self, name: str) -> World:
        world = self.named(name)
        if world is self.default:
            raise NotFoundError(f"No tenant named {name}")
        self.tenancy.drop(name)
        del self._worlds[name]
        self.tenants_made = bool(self._worlds)
        await _stop(world, grace=0)
        return world

    async def close(self, grace: float) -> None:
        """Stop every tenant's sender (the default's is the app's to stop)."""
        await asyncio.gather(*(_stop(world, grace) for world in list(self._worlds.values())))

    def reset_all(self) -> None:
        """Every tenant's state and testing aids forgotten; the tenants stay."""
        for world in self._worlds.values():
            world.emulator.reset()
            world.resilience.reset()

    def _start(self, world: World, loop: asyncio.AbstractEventLoop) -> None:
        sender, told = world.sender, self.on_outbox_change

        def changed() -> None:
            sender.wake()
            if told is not None:
                told()

        world.emulator.callbacks.notify = changed
        world.task = loop.create_task(sender.run())


async def _stop(world: World, grace: float) -> None:
    task, world.task = world.task, None
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await world.sender.close(grace)


@functools.lru_cache(maxsize=1024)
def _claimed(header: str | None) -> tuple[str, str]:
    """Who a credential says it is, unchecked: ("basic", api key), ("bearer", application
    id), or ("", "") for anything else. Its tenant's emulator checks it afterwards."""
    if not header:
        return "", ""
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return "", ""
        return "basic", decoded.partition(":")[0]
    if scheme.lower() == "bearer":
        options = {"verify_signature": False, "verify_exp": False, "verify_iat": False}
        try:
            claims = jwt.decode(credential, options=options)
        except (jwt.PyJWTError, ValueError):
            return "", ""
        application_id = claims.get("application_id")
        return ("bearer", application_id) if isinstance(application_id, str) else ("", "")
    return "", ""
