"""Tenants: worlds of their own, beside the shared default one.

A tenant made through the control plane is a whole `Emulator` with its own clock (frozen
or running, moved on its own), timers, rooms, sessions, recordings, themes, application,
callbacks and id sequence. Moving one tenant's clock runs that tenant's expiries only. Its
id sequence starts from a seed made of the server's seed and the tenant's name, so a run
with a seed repeats. Its Basic credentials (and a JWT naming its application) reach it and
nothing else.

Meeting codes stay unique across every tenant: the meeting page finds a room by its code
alone. Each tenant's rooms ask the others before taking a code.

The default tenant is the emulator `create_app` always had: the callers the server's own
credentials admit (and, with `--tenancy isolated` or `--tenants`, the tenants kept apart
inside it, sharing its clock).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meetings_emulator.domain.auth import Authenticator
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import ConflictError, InputValidationError, NotFoundError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import DEFAULT_TENANT

DEFAULT_MAX_TENANTS = 1000
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TENANT_KEYS = ("name", "frozen", "now", "seed")
_SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclass(eq=False)
class Tenant:
    """A tenant's world and the credentials that reach it."""

    name: str
    emulator: Emulator
    api_key: str
    api_secret: str
    application_id: str

    def describe(self) -> dict[str, Any]:
        clock = self.emulator.clock
        return {
            "name": self.name,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "application_id": self.application_id,
            "now": format_iso(self.emulator.now()),
            "frozen": clock.frozen,
        }


@dataclass(frozen=True)
class TenantRequest:
    """What `POST /_emulator/tenants` asks for, checked."""

    name: str | None = None
    frozen: bool = False
    now: datetime | None = None
    seed: int | None = None


def parse_tenant_request(
    body: Any, parse_instant: Callable[[str], datetime | None]
) -> TenantRequest:
    """`{"name"?, "frozen"?, "now"?, "seed"?}`; every problem named at once."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems = [f'"{key}" is not allowed' for key in body if key not in TENANT_KEYS]
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)):
        problems.append(
            '"name" must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter'
            " or digit"
        )
    elif name == DEFAULT_TENANT:
        problems.append(f'"name" cannot be "{DEFAULT_TENANT}": that is the shared tenant')
    frozen = body.get("frozen", False)
    if not isinstance(frozen, bool):
        problems.append('"frozen" must be a boolean')
    now = None
    if body.get("now") is not None:
        now = parse_instant(body["now"]) if isinstance(body["now"], str) else None
        if now is None:
            problems.append('"now" must be a valid date')
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append('"seed" must be an integer')
    if problems:
        raise InputValidationError.of(problems)
    return TenantRequest(name=name, frozen=frozen, now=now, seed=seed)


def tenant_seed(server_seed: int | None, name: str) -> int | None:
    """A tenant's seed, made of the server's seed and its name (None: unpredictable)."""
    if server_seed is None:
        return None
    digest = hashlib.sha256(f"{server_seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Tenancy:
    """The default emulator and every tenant made beside it."""

    def __init__(self, default: Emulator, *, max_tenants: int = DEFAULT_MAX_TENANTS) -> None:
        self.default = default
        self.max_tenants = max_tenants
        self._tenants: dict[str, Tenant] = {}
        self._by_key: dict[str, Tenant] = {}
        self._by_application: dict[str, Tenant] = {}
        self._made = 0  # names given so far, for tenants that did not name themselves

    def __len__(self) -> int:
        return len(self._tenants)

    def __iter__(self) -> Iterator[Tenant]:
        return iter(list(self._tenants.values()))

    def emulators(self) -> Iterator[Emulator]:
        """The default emulator, then each tenant's."""
        yield self.default
        for tenant in list(self._tenants.values()):
            yield tenant.emulator

    def get(self, name: str) -> Tenant:
        tenant = self._tenants.get(name)
        if tenant is None:
            raise NotFoundError(f"No tenant named {name}")
        return tenant

    def emulator(self, name: str | None) -> Emulator:
        """The emulator of a tenant by name (None or "default": the shared one)."""
        if name is None or name == DEFAULT_TENANT:
            return self.default
        return self.get(name).emulator

    def by_api_key(self, api_key: str) -> Tenant | None:
        return self._by_key.get(api_key)

    def by_application(self, application_id: str) -> Tenant | None:
        return self._by_application.get(application_id)

    def create(self, request: TenantRequest) -> Tenant:
        if len(self._tenants) >= self.max_tenants:
            raise ConflictError(
                f"There are already {self.max_tenants} tenants: delete one before making another"
            )
        name = request.name or self._next_name()
        if name in self._tenants:
            raise ConflictError(f"A tenant named {name} already exists")
        settings = self.default.settings
        seed = request.seed if request.seed is not None else tenant_seed(settings.seed, name)
        draw: random.Random = random.SystemRandom() if seed is None else random.Random(seed)
        api_key, api_secret = self._credentials(draw)
        ids = Ids(seed)
        application_id = ids.uuid()
        start = request.now if request.now is not None else self.default.clock.now()
        clock = Clock(start=start, frozen=request.frozen)
        own = dataclasses.replace(
            settings,
            api_key=api_key,
            api_secret=api_secret,
            application_id=application_id,
            seed=seed,
            tenancy="shared",
            tenants=(),
            state_file=None,
            tenant_name=name,
        )
        emulator = Emulator(own, clock=clock, ids=ids)
        emulator.auth = Authenticator(
            clock,
            api_key=api_key,
            api_secret=api_secret,
            public_key=settings.public_key,
            application_id=application_id,
        )
        tenant = Tenant(name, emulator, api_key, api_secret, application_id)
        self._tenants[name] = tenant
        self._by_key[api_key] = tenant
        self._by_application[application_id] = tenant
        self._share_codes()
        return tenant

    def drop(self, name: str) -> Tenant:
        """Forget a tenant and everything in it."""
        tenant = self.get(name)
        del self._tenants[name]
        self._by_key.pop(tenant.api_key, None)
        self._by_application.pop(tenant.application_id, None)
        self._share_codes()
        return tenant

    def drop_all(self) -> list[Tenant]:
        dropped = list(self._tenants.values())
        for tenant in dropped:
            self.drop(tenant.name)
        return dropped

    def room_by_code(self, code: str) -> tuple[Emulator, Any] | None:
        """The emulator and room a meeting code opens, looked for in every tenant: an
        available room first, else the latest that held it in any tenant."""
        found = None
        for emulator in self.emulators():
            room = emulator.rooms.by_code(code)
            if room is None:
                continue
            if room.is_available:
                return emulator, room
            if found is None or room.created_at > found[1].created_at:
                found = (emulator, room)
        return found

    def _held_elsewhere(self, here: Emulator) -> Callable[[str], bool]:
        def held(code: str) -> bool:
            return any(
                emulator is not here and emulator.rooms.holds_code(code)
                for emulator in self.emulators()
            )

        return held

    def _share_codes(self) -> None:
        """Each emulator asks the others before giving a code, while there are tenants."""
        for emulator in self.emulators():
            check = self._held_elsewhere(emulator) if self._tenants else None
            emulator.code_held_elsewhere = check
            emulator.rooms.code_held_elsewhere = check

    def _next_name(self) -> str:
        while True:
            self._made += 1
            name = f"tenant-{self._made}"
            if name not in self._tenants:
                return name

    def _credentials(self, draw: random.Random) -> tuple[str, str]:
        """An api key (8 hex digits, as Vonage's are) no other tenant nor the server uses,
        and a 16-character secret."""
        taken = {self.default.settings.api_key, *self._by_key}
        while True:
            api_key = f"{draw.getrandbits(32):08x}"
            if api_key not in taken:
                break
        api_secret = "".join(draw.choice(_SECRET_ALPHABET) for _ in range(16))
        return api_key, api_secret
