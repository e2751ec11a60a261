"""The API's resources as plain data. Rules live in the services, not here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from meetings_emulator.domain.isotime import format_iso_once


class RoomType(StrEnum):
    INSTANT = "instant"
    LONG_TERM = "long_term"


class JoinApprovalLevel(StrEnum):
    NONE = "none"
    AFTER_OWNER_ONLY = "after_owner_only"
    EXPLICIT_APPROVAL = "explicit_approval"


class MicrophoneState(StrEnum):
    ON = "on"
    OFF = "off"
    DEFAULT = "default"


class ParticipantState(StrEnum):
    WAITING = "waiting"
    JOINED = "joined"
    LEFT = "left"


class WaitingFor(StrEnum):
    """Why a participant is in the waiting room."""

    HOST = "host"  # after_owner_only, or a long-term room whose meeting has ended
    APPROVAL = "approval"  # explicit_approval


class RecordingStatus(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"
    PAUSED = "paused"
    UPLOADED = "uploaded"


class Unavailability(StrEnum):
    """Why a room reads `is_available: false`."""

    EXPIRED = "expired"
    DELETED = "deleted"


# The UI languages the API took: the published enum, the "default" the live service
# answered with, and Node's `pt`. Compared case-insensitively, as Java sent `EN`.
UI_LANGUAGES = (
    "default",
    "ar",
    "ca",
    "de",
    "en",
    "es",
    "fr",
    "he",
    "it",
    "pt",
    "pt-br",
    "zh-tw",
    "zh-cn",
)

CALLBACK_URL_KINDS = ("rooms_callback_url", "sessions_callback_url", "recordings_callback_url")


# The two option groups are values: a change makes a new one (`dataclasses.replace`), so
# every room left with the defaults shares one object, and holds no object of its own
# for the collector to scan.
@dataclass(slots=True, frozen=True)
class RecordingOptions:
    auto_record: bool = False
    record_only_owner: bool = False


@dataclass(slots=True, frozen=True)
class AvailableFeatures:
    # Defaults as the live service answered (SDK fixtures), not as the spec's `default:` says.
    is_recording_available: bool = True
    is_chat_available: bool = True
    is_whiteboard_available: bool = True
    is_locale_switcher_available: bool = False
    is_captions_available: bool = False


@dataclass(slots=True)
class RoomSettings:
    """What a caller may choose about a room at creation; several parts can change later."""

    display_name: str
    type: RoomType = RoomType.INSTANT
    metadata: str | None = None
    expires_at: datetime | None = None
    expire_after_use: bool = False
    recording_options: RecordingOptions = RecordingOptions()
    theme_id: str | None = None
    join_approval_level: JoinApprovalLevel = JoinApprovalLevel.NONE
    microphone_state: MicrophoneState = MicrophoneState.DEFAULT
    callback_urls: dict[str, str] | None = None
    available_features: AvailableFeatures = AvailableFeatures()
    language: str = "default"
    # No `theme_id` given at all (not even null): the application's default theme applies.
    default_theme: bool = True


@dataclass(slots=True)
class RoomChanges:
    """A partial update: only the keys present in `update_details` are set (`fields` names them)."""

    fields: frozenset[str]
    expires_at: datetime | None = None
    expire_after_use: bool = False
    theme_id: str | None = None
    join_approval_level: JoinApprovalLevel = JoinApprovalLevel.NONE
    microphone_state: MicrophoneState | None = None
    callback_urls: dict[str, str] = field(default_factory=dict)
    available_features: dict[str, bool] = field(default_factory=dict)


DEFAULT_TENANT = "default"


@dataclass(slots=True, eq=False)
class Room:
    serial: int
    id: str
    meeting_code: str
    created_at: datetime
    expires_at: datetime
    settings: RoomSettings
    host_participant_id: str
    host_token: str
    unavailable: Unavailability | None = None
    tenant: str = DEFAULT_TENANT
    # `created_at` as the API writes it: it never changes, and every read of the room
    # writes it, so it is written once (formatting it again for each room of a listing
    # would cost more, the more rooms there are, as no cache holds them all; and kept
    # here, it need not take a place in the timestamp cache either).
    created_at_text: str = field(init=False, repr=False)
    # The second of emulator time `host_token` was issued in (-1: not known, issue anew).
    host_token_second: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.created_at_text = format_iso_once(self.created_at)
        self.host_token_second = -1

    @property
    def is_available(self) -> bool:
        return self.unavailable is None

    @property
    def type(self) -> RoomType:
        return self.settings.type


@dataclass(slots=True, eq=False)
class Participant:
    id: str
    room_id: str
    name: str
    type: str
    is_host: bool
    state: ParticipantState
    arrived_at: datetime
    waiting_for: WaitingFor | None = None
    session_id: str | None = None
    joined_at: datetime | None = None
    left_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Recording:
    id: str
    session_id: str
    room_id: str
    started_at: datetime
    status: RecordingStatus = RecordingStatus.STARTED
    ended_at: datetime | None = None
    uploaded_at: datetime | None = None
    started_by: str | None = None
    upload_due: datetime | None = None  # when a stopped recording will be uploaded
    paused_at: datetime | None = None  # since when a paused recording is paused
    paused_seconds: int = 0  # whole seconds spent paused, in pauses that ended

    @property
    def duration(self) -> int | None:
        """Whole seconds recorded, as the live callbacks gave it: from start to end, less
        the time spent paused. None until the recording ends."""
        if self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds()) - self.paused_seconds


@dataclass(slots=True, eq=False)
class Session:
    id: str
    room_id: str
    started_at: datetime
    ended_at: datetime | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    host_has_joined: bool = False
    recordings: list[Recording] = field(default_factory=list)

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    @property
    def joined(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.state is ParticipantState.JOINED]


@dataclass(slots=True, frozen=True)
class Page:
    """One page of a serial-ordered listing, with the cursors its links need."""

    items: list[Room]
    total_items: int
    next_start_id: int | None
    prev_start_id: int | None
    prev_end_id: int | None
