"""The emulator's state and services, wired from a clock, an id source and settings.

Nothing here knows HTTP. `create_app` puts one `Emulator` behind the routes; tests can
build one directly and drive the rules with no server at all.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from meetings_emulator.domain.auth import Authenticator, Principal
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.events import (
    Event,
    EventLog,
    RecordingEnded,
    RecordingUploaded,
    SessionEnded,
    SessionStarted,
)
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.logos import LogoStore
from meetings_emulator.domain.models import DEFAULT_TENANT, RecordingStatus, Room
from meetings_emulator.domain.outbox import CallbackConfig, Outbox
from meetings_emulator.domain.rooms import Rooms
from meetings_emulator.domain.sessions import Sessions
from meetings_emulator.domain.settings import Settings
from meetings_emulator.domain.themes import Application, Themes
from meetings_emulator.domain.timers import Timers


class Emulator:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        ids: Ids | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or Clock()
        self.ids = ids or Ids(self.settings.seed)
        self.auth = Authenticator(
            self.clock,
            api_key=self.settings.api_key,
            api_secret=self.settings.api_secret,
            public_key=self.settings.public_key,
        )
        settings = self.settings
        self.callback_config = CallbackConfig(
            url=settings.callback_url,
            rooms_url=settings.rooms_callback_url,
            sessions_url=settings.sessions_callback_url,
            recordings_url=settings.recordings_callback_url,
            secret=settings.callback_secret,
            signing=settings.callback_signing,
            max_attempts=settings.callback_max_attempts,
            base_delay=settings.callback_base_delay,
            timeout=settings.callback_timeout,
        )
        # Who the emulator is to its callers: one application of one account.
        self.application_id = self.settings.application_id or self.ids.application_id
        self.account_id = self.settings.api_key or self.ids.account_id
        # Whether another tenant's rooms hold a meeting code (`Tenancy` sets it).
        self.code_held_elsewhere: Callable[[str], bool] | None = None
        self._build_state(notify=None)
        self._busy_known = True  # nothing yet: nothing in use

    def _build_state(self, notify: Callable[[], None] | None) -> None:
        self.timers = Timers()
        self.events = EventLog()
        self.callbacks = Outbox(
            self.clock,
            self.ids,
            self.timers,
            self.callback_config,
            self.settings.own_url,
            max_pending=self.settings.max_pending_callbacks,
            tenant=self.settings.tenant_name,
        )
        if notify is not None:
            self.callbacks.notify = notify
        self.events.subscribe(self.callbacks.record)
        self.logos = LogoStore(self.clock, self.ids, self.ids.secret())
        self.themes = Themes(self.ids, self._identify, max_themes=self.settings.max_themes)
        self.rooms = Rooms(
            self.clock,
            self.ids,
            self.timers,
            max_rooms=self.settings.max_rooms,
            on_event=self.events,
            themes=self.themes,
            retention=timedelta(seconds=self.settings.room_retention),
        )
        self.rooms.code_held_elsewhere = self.code_held_elsewhere
        # Rooms in use, by id: how many live sessions and recordings awaiting upload each
        # has. A gone room in use is not forgotten (its people can still leave, its
        # recording be uploaded, and a snapshot of it be read back).
        self._busy: Counter[str] = Counter()
        self._busy_known = False  # after a reset: made from the sessions when first asked
        self.events.subscribe(self._note_use)
        self.rooms.in_use = self._in_use
        self.sessions = Sessions(
            self.clock,
            self.ids,
            self.timers,
            self.rooms,
            on_event=self.events,
            upload_delay=timedelta(seconds=self.settings.recording_upload_delay),
        )
        forget = self.sessions.forget_rooms
        self.rooms.on_forget = lambda rooms: forget({room.id for room in rooms})

    def _note_use(self, event: Event) -> None:
        kind = type(event)
        if kind is SessionStarted or kind is RecordingEnded:
            self._busy[event.room.id] += 1
        elif kind is SessionEnded or kind is RecordingUploaded:
            room_id = event.room.id
            left = self._busy[room_id] - 1
            if left > 0:
                self._busy[room_id] = left
            else:
                self._busy.pop(room_id, None)

    def _in_use(self, room: Room) -> bool:
        if not self._busy_known:  # state restored from a snapshot: its events never came
            state = self.sessions.export()
            busy: Counter[str] = Counter()
            for session in state["sessions"]:
                if session.get("ended_at") is None:
                    busy[session["room_id"]] += 1
            for recording in state["recordings"]:
                if recording["status"] == RecordingStatus.STOPPED:
                    busy[recording["room_id"]] += 1
            self._busy, self._busy_known = busy, True
        return self._busy[room.id] > 0

    # -- tenants ------------------------------------------------------------------------

    def tenant_for(self, principal: Principal) -> str:
        """Whose state a caller sees: a named tenant, the shared one, or its own."""
        for tenant in self.settings.tenants:
            if tenant.get(_TENANT_KEYS[principal.kind]) == principal.id:
                return tenant["name"]
        if self.settings.tenancy != "isolated":
            return DEFAULT_TENANT
        # The name says who the caller is: nothing is kept per caller (a flood of made-up
        # keys leaves nothing behind, and a reset has nothing of theirs to forget).
        return f"{principal.kind}{_CALLER_MARK}{principal.id}"

    def _identify(self, tenant: str) -> Application:
        """The application and account a tenant is, as themes and PATCH /applications show."""
        if tenant == DEFAULT_TENANT:
            return Application(self.application_id, self.account_id)
        named = {t["name"]: t for t in self.settings.tenants}.get(tenant)
        if named is not None:
            return Application(
                named.get("application_id") or _derived_uuid(tenant),
                named.get("api_key") or _derived_account(tenant),
            )
        kind, mark, caller = tenant.partition(_CALLER_MARK)
        if mark and kind == "application":
            return Application(caller, _derived_account(tenant))
        if mark and kind == "api_key":
            return Application(_derived_uuid(tenant), caller)
        return Application(_derived_uuid(tenant), _derived_account(tenant))

    def now(self) -> datetime:
        """Emulator time, once every transition due by then has happened (rooms restored
        from a snapshot included)."""
        now = self.clock.now()
        self.rooms.catch_up()
        self.timers.run_until(now)
        return now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward; every transition due on the way happens, in time order."""
        self.clock.advance(delta)
        return self.now()

    def move_to(self, instant: datetime, *, frozen: bool | None = None) -> datetime:
        self.clock.set(instant, frozen=frozen)
        return self.now()

    def reset(self, seed: int | None = None, *, keep_sequence: bool = False) -> None:
        """Forget every room, session, recording, event, callback and timer (the clock and
        the callback configuration stay); with a seed, start the id sequence again from it."""
        if not keep_sequence:
            self.ids.reseed(seed if seed is not None else self.settings.seed)
        self.callback_config = self.callbacks.config
        self._build_state(notify=self.callbacks.notify)


_TENANT_KEYS = {"api_key": "api_key", "application": "application_id"}
_CALLER_MARK = ":"  # an isolated tenant's name: the caller's kind, this, the caller's id


def _derived_uuid(name: str) -> str:
    """A stable application id for a tenant that did not name one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meetings-emulator:{name}"))


def _derived_account(name: str) -> str:
    return _derived_uuid(name).split("-")[0]
