"""Rooms: creation, lookup, listing, updates, deletion and expiry.

The rules, in the API's terms:
- An instant room is available for 10 minutes while nobody has joined it.
- A long-term room is available until `expires_at`, which must lie more than 10 minutes
  and at most five years ahead.
- An expired or deleted room stays readable, with `is_available: false`; its meeting code
  is free again. Once it has been gone for `retention` (emulator time), it is forgotten: it
  leaves the listings, and reading it answers 404, as for an id never given. One still in
  use then (its meeting goes on, a recording is still to be uploaded) is kept a retention
  longer, and so on.
- Only long-term rooms can be updated, and only while they are available.
- A tenant may hold `max_rooms` available rooms at once (1000 on the live service).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import (
    BadRequestError,
    ForbiddenError,
    InputValidationError,
    NotFoundError,
)
from meetings_emulator.domain.events import Event, RoomExpired
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import (
    DEFAULT_TENANT,
    AvailableFeatures,
    JoinApprovalLevel,
    MicrophoneState,
    Page,
    RecordingOptions,
    Room,
    RoomChanges,
    RoomSettings,
    RoomType,
    Unavailability,
)
from meetings_emulator.domain.pagination import SerialIndex
from meetings_emulator.domain.plain import plain
from meetings_emulator.domain.snapshot_check import saved_instant
from meetings_emulator.domain.themes import Themes
from meetings_emulator.domain.timers import Timer, Timers

INSTANT_ROOM_LIFETIME = timedelta(minutes=10)
MIN_EXPIRY_LEAD = timedelta(minutes=10)
MAX_EXPIRY_YEARS = 5
DEFAULT_MAX_ROOMS = 1000
DEFAULT_RETENTION = timedelta(days=1)
# Forgetting more rooms than this at once makes each listing anew, rather than taking each
# room out of it (each of which moves the rest of the listing).
REBUILD_AT = 256


EventSink = Callable[[Event], None]
# What a room keeps that a snapshot does not: both are made again from what it does keep.
NOT_SAVED = ("created_at_text", "host_token_second")


class Rooms:
    def __init__(
        self,
        clock: Clock,
        ids: Ids,
        timers: Timers,
        *,
        max_rooms: int = DEFAULT_MAX_ROOMS,
        on_event: EventSink | None = None,
        themes: Themes | None = None,
        retention: timedelta | None = DEFAULT_RETENTION,
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._timers = timers
        self.max_rooms = max_rooms
        self._on_event = on_event if on_event is not None else (lambda _event: None)
        self._themes = themes
        self._by_id: dict[str, Room] = {}
        self._index = SerialIndex()  # every tenant's rooms, for the control plane
        self._tenant_index: dict[str, SerialIndex] = {}
        self._codes_in_use: set[str] = set()
        self._expiry: dict[str, Timer] = {}
        self._next_serial = 1
        self._available = 0
        self._available_in: Counter[str] = Counter()
        self._expire_on_time = self.expire_now  # one bound method shared by every expiry timer
        # The latest room given each meeting code: while a room is available, no later one
        # gets its code, so this is the available room holding a code, if any.
        self._by_code: dict[str, Room] = {}
        # Gone rooms, with when they went, in that order, until they are forgotten.
        self.retention = retention
        self._gone: deque[tuple[datetime, Room]] = deque()
        self._forget_timer: Timer | None = None
        # Whether a gone room is still in use (a meeting on, a recording to upload): it is
        # kept then, and looked at again a retention later. The emulator tells.
        self.in_use: Callable[[Room], bool] = lambda _room: False
        # Told which rooms were forgotten, so what belongs to them goes too. The emulator sets it.
        self.on_forget: Callable[[list[Room]], None] = lambda _rooms: None
        # Rooms known to `_by_code` and `_gone` (all, but those a snapshot restored).
        self._tracked = 0
        # Whether a meeting code is held elsewhere (by another tenant's rooms): codes are
        # unique across every tenant, as the meeting page finds a room by its code alone.
        self.code_held_elsewhere: Callable[[str], bool] | None = None

    # -- time ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """Emulator time, after every transition due by then has happened."""
        now = self._clock.now()
        self._timers.run_until(now)
        return now

    # -- reading ------------------------------------------------------------------------

    def get(self, room_id: str, tenant: str | None = None) -> Room:
        """The room, if it exists and (with `tenant`) belongs to that tenant."""
        self.now()
        room = self._by_id.get(room_id.lower())
        if room is None or (tenant is not None and room.tenant != tenant):
            raise NotFoundError(f"Room {room_id} was not found")
        return room

    def page(
        self, start_id: int | None, end_id: int | None, page_size: int, tenant: str | None = None
    ) -> Page:
        """A page of one tenant's rooms, or (without `tenant`) of everyone's."""
        self.now()
        index = self._index if tenant is None else self._tenant_index.get(tenant, SerialIndex())
        return index.page(start_id, end_id, page_size)

    def available_in(self, tenant: str) -> int:
        return self._available_in[tenant]

    def by_code(self, code: str) -> Room | None:
        """The room a meeting code opens: the available room holding it, else the latest
        room that held it (none once that one is forgotten)."""
        self.now()
        self.catch_up()
        return self._by_code.get(code)

    def all(self) -> list[Room]:
        return self._index.rooms()

    @property
    def available_count(self) -> int:
        return self._available

    def __len__(self) -> int:
        return len(self._by_id)

    # -- writing ------------------------------------------------------------------------

    def create(self, settings: RoomSettings, tenant: str = DEFAULT_TENANT) -> Room:
        now = self.now()
        if settings.type is RoomType.LONG_TERM:
            assert settings.expires_at is not None
            self._check_expiry(settings.expires_at, now, "expires_at")
            expires_at = settings.expires_at
        else:
            expires_at = now + INSTANT_ROOM_LIFETIME
        if settings.theme_id is not None:
            self._check_theme(settings.theme_id, "create room", tenant)
        elif settings.default_theme and self._themes is not None:
            settings.theme_id = self._themes.application(tenant).default_theme_id
        if self._available_in[tenant] >= self.max_rooms:
            raise ForbiddenError(f"Maximum number of rooms for owner ({self.max_rooms}) exceeded")

        host_id = self._ids.uuid()
        room = Room(
            serial=self._next_serial,
            id=self._ids.uuid(),
            meeting_code=self._free_meeting_code(),
            created_at=now,
            expires_at=expires_at,
            settings=settings,
            host_participant_id=host_id,
            host_token=self._ids.participant_token(host_id, now),
            tenant=tenant,
        )
        room.host_token_second = int(now.timestamp())
        self._next_serial += 1
        self._by_id[room.id] = room
        self._index.add(room)
        listing = self._tenant_index.get(tenant)
        if listing is None:
            listing = self._tenant_index[tenant] = SerialIndex()
        listing.add(room)
        self._codes_in_use.add(room.meeting_code)
        self._by_code[room.meeting_code] = room
        self._tracked += 1
        self._available += 1
        self._available_in[tenant] += 1
        self._schedule_expiry(room)
        if self._themes is not None:
            self._themes.attach(room)
        return room

    def update(self, room_id: str, changes: RoomChanges, tenant: str | None = None) -> Room:
        room = self.get(room_id, tenant)
        if not room.is_available:
            raise NotFoundError(f"Room {room_id} is not available: it has {room.unavailable}")
        if room.type is RoomType.INSTANT:
            raise BadRequestError(
                f"The room with id: {room.id} could not be updated because of its type: temporary"
            )
        now = self._clock.now()
        if changes.expires_at is not None:
            self._check_expiry(changes.expires_at, now, "update_details.expires_at")
        if "theme_id" in changes.fields and changes.theme_id is not None:
            self._check_theme(changes.theme_id, "update room", room.tenant)

        settings = room.settings
        fields = changes.fields
        if changes.expires_at is not None:
            room.expires_at = changes.expires_at
            self._schedule_expiry(room)
        if "expire_after_use" in fields:
            settings.expire_after_use = changes.expire_after_use
        if "theme_id" in fields and changes.theme_id != settings.theme_id:
            if self._themes is not None:
                self._themes.detach(room, settings.theme_id)
            settings.theme_id = changes.theme_id
            if self._themes is not None:
                self._themes.attach(room)
        if "join_approval_level" in fields:
            settings.join_approval_level = changes.join_approval_level
        if changes.microphone_state is not None:
            settings.microphone_state = changes.microphone_state
        if "callback_urls" in fields:
            settings.callback_urls = {**(settings.callback_urls or {}), **changes.callback_urls}
        if changes.available_features:
            settings.available_features = replace(
                settings.available_features, **changes.available_features
            )
        return room

    def delete(self, room_id: str, tenant: str | None = None) -> None:
        """End a room's availability now (the public guide's DELETE). Deleting twice is harmless."""
        room = self.get(room_id, tenant)
        if room.is_available:
            self._end(room, self._clock.now(), Unavailability.DELETED)

    def expire_now(self, room: Room, at: datetime) -> None:
        """End a room's availability at `at` (its expiry timer, or a simulator rule)."""
        if room.is_available:
            if at < room.expires_at:  # ended early: `expires_after_use`
                room.expires_at = at
            self._end(room, at, Unavailability.EXPIRED)

    # -- saving and restoring -------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Every room, the next serial, and when each available room is due to expire."""
        return {
            "next_serial": self._next_serial,
            "rooms": [plain(room, exclude=NOT_SAVED) for room in self._index.rooms()],
            "expiry": {
                room_id: timer.due.isoformat()
                for room_id, timer in self._expiry.items()
                if not timer.cancelled
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `export` gave (checked by `snapshot_check`); expiry timers are
        armed again."""
        for data in sorted(state["rooms"], key=lambda room: room["serial"]):
            room = room_from(data)
            self._by_id[room.id] = room
            self._index.add(room)
            self._tenant_index.setdefault(room.tenant, SerialIndex()).add(room)
            if room.is_available:
                self._codes_in_use.add(room.meeting_code)
                self._available += 1
                self._available_in[room.tenant] += 1
            if self._themes is not None:
                self._themes.attach(room)
        self._next_serial = state["next_serial"]
        for room_id, due in state.get("expiry", {}).items():
            room = self._by_id[room_id]
            self._schedule(room, _saved(due))

    def host_token(self, room: Room) -> str:
        """The host link's participant token as a read shows it. The live service issued one
        at every read: the same participant, `iat` the time of the read. Within one second
        of emulator time, the token issued in it is shown again."""
        if room.host_token_second != int(self._clock.now_seconds()):
            now = self._clock.now()
            room.host_token = self._ids.participant_token(room.host_participant_id, now)
            room.host_token_second = int(now.timestamp())
        return room.host_token

    def hold_expiry(self, room: Room) -> None:
        """No expiry while the room is in use (an instant room's meeting is on)."""
        timer = self._expiry.pop(room.id, None)
        if timer is not None:
            timer.cancel()

    def expire_at(self, room: Room, at: datetime, *, show: bool) -> None:
        """Expire the room at `at` instead of when it was due; `show` makes `at` its expiry."""
        if show:
            room.expires_at = at
        self._schedule(room, at)

    # -- rules --------------------------------------------------------------------------

    def _check_expiry(self, expires_at: datetime, now: datetime, label: str) -> None:
        earliest = now + MIN_EXPIRY_LEAD
        latest = _add_years(now, MAX_EXPIRY_YEARS)
        if expires_at <= earliest:
            raise InputValidationError(
                f'"{label}" must be greater than "{format_iso(earliest)}"'
                " (more than 10 minutes from now)"
            )
        if expires_at > latest:
            raise InputValidationError(
                f'"{label}" must be less than or equal to "{format_iso(latest)}"'
                " (at most five years from now)"
            )

    def take_theme_off(self, room: Room) -> None:
        """The room's theme was deleted: it has none now."""
        room.settings.theme_id = None

    def _check_theme(self, theme_id: str, action: str, tenant: str) -> None:
        if self._themes is None or not self._themes.has(theme_id, tenant):
            raise BadRequestError(f"Failed to {action} because theme id {theme_id} not found")

    def holds_code(self, code: str) -> bool:
        """Whether an available room here holds `code`."""
        return code in self._codes_in_use

    def _free_meeting_code(self) -> str:
        elsewhere = self.code_held_elsewhere
        while True:
            code = self._ids.meeting_code()
            if code not in self._codes_in_use and (elsewhere is None or not elsewhere(code)):
                return code

    def _schedule_expiry(self, room: Room) -> None:
        self._schedule(room, room.expires_at)

    def _schedule(self, room: Room, due: datetime) -> None:
        self.hold_expiry(room)
        self._expiry[room.id] = self._timers.schedule(due, self._expire_on_time, room)

    def _end(self, room: Room, at: datetime, reason: Unavailability) -> None:
        room.unavailable = reason
        self._available -= 1
        self._available_in[room.tenant] -= 1
        self._codes_in_use.discard(room.meeting_code)
        self.hold_expiry(room)
        self._gone.append((at, room))
        if self._forget_timer is None:
            self._arm_forgetting()
        self._on_event(RoomExpired(room, at, reason))

    # -- forgetting gone rooms ------------------------------------------------------------

    def _arm_forgetting(self) -> None:
        """A timer for when the room gone longest is due to be forgotten."""
        if self._forget_timer is not None:
            self._forget_timer.cancel()
            self._forget_timer = None
        if self.retention is None or not self._gone:
            return
        due = self._gone[0][0] + self.retention
        self._forget_timer = self._timers.schedule(due, self._forget_due)

    def _forget_due(self, at: datetime) -> None:
        """Forget every room gone for `retention` by now. A clock move may run this long
        after `at`: the rooms due since go at once, not one timer each."""
        self._forget_timer = None
        if self.retention is None:
            return
        self.catch_up()
        now = max(at, self._clock.now())
        cutoff = now - self.retention
        gone, leaving, busy = self._gone, [], []
        while gone and gone[0][0] <= cutoff:
            room = gone.popleft()[1]
            if room.is_available or self._by_id.get(room.id) is not room:
                continue
            if self.in_use(room):
                busy.append((now, room))
            else:
                leaving.append(room)
        gone.extend(busy)
        if leaving:
            self._forget(leaving)
        self._arm_forgetting()

    def _forget(self, rooms: list[Room]) -> None:
        """Take gone rooms out of every lookup and listing."""
        by_id, by_code = self._by_id, self._by_code
        for room in rooms:
            del by_id[room.id]
            if by_code.get(room.meeting_code) is room:
                del by_code[room.meeting_code]
            self.hold_expiry(room)
            if self._themes is not None:
                self._themes.detach(room, room.settings.theme_id)
        self._tracked -= len(rooms)
        tenants: dict[str, list[Room]] = {}
        for room in rooms:
            tenants.setdefault(room.tenant, []).append(room)
        self._index = _without(self._index, rooms)
        for tenant, theirs in tenants.items():
            listing = _without(self._tenant_index[tenant], theirs)
            if len(listing):
                self._tenant_index[tenant] = listing
            else:
                del self._tenant_index[tenant]
                if not self._available_in[tenant]:
                    del self._available_in[tenant]
        self.on_forget(rooms)

    def catch_up(self) -> None:
        """Bring rooms restored from a snapshot under the meeting-code lookup and the
        retention rule (a deleted room's time of deletion is not saved: it counts from now).
        Costs nothing once done."""
        if self._tracked == len(self._by_id):
            return
        now = self._clock.now()
        self._by_code = {room.meeting_code: room for room in self._index.rooms()}
        gone = [
            (room.expires_at if room.unavailable is Unavailability.EXPIRED else now, room)
            for room in self._by_id.values()
            if not room.is_available
        ]
        gone.sort(key=lambda entry: (entry[0], entry[1].serial))
        self._gone = deque(gone)
        self._tracked = len(self._by_id)
        self._arm_forgetting()


# How a room's saved settings become values again; a setting left out keeps its default.
SETTINGS_READERS: dict[str, Callable[[Any], Any]] = {
    "type": RoomType,
    "expires_at": saved_instant,
    "recording_options": lambda flags: RecordingOptions(**flags),
    "join_approval_level": JoinApprovalLevel,
    "microphone_state": MicrophoneState,
    "callback_urls": lambda urls: None if urls is None else dict(urls),
    "available_features": lambda flags: AvailableFeatures(**flags),
}


def _without(index: SerialIndex, rooms: list[Room]) -> SerialIndex:
    """The listing less `rooms`: taken out one by one, or made anew for many."""
    if len(rooms) <= REBUILD_AT:
        for room in rooms:
            index.remove(room)
        return index
    leaving = {id(room) for room in rooms}
    kept = SerialIndex()
    for room in index.rooms():
        if id(room) not in leaving:
            kept.add(room)
    return kept


def room_from(data: dict[str, Any]) -> Room:
    """A room of a checked snapshot."""
    settings = {
        key: SETTINGS_READERS[key](value) if key in SETTINGS_READERS else value
        for key, value in data["settings"].items()
    }
    unavailable = data.get("unavailable")
    return Room(
        **{
            **data,
            "created_at": _saved(data["created_at"]),
            "expires_at": _saved(data["expires_at"]),
            "settings": RoomSettings(**settings),
            "unavailable": Unavailability(unavailable) if unavailable else None,
        }
    )


def _saved(value: str) -> datetime:
    moment = saved_instant(value)
    assert moment is not None
    return moment


def _add_years(instant: datetime, years: int) -> datetime:
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:  # 29 February into a year without one
        return instant.replace(year=instant.year + years, day=28)
