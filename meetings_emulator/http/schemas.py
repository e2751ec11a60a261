"""Request bodies and queries checked field by field, with the live API's (Joi-style) messages.

Each `parse_*` takes decoded JSON (or query strings) and returns typed settings, or raises
one `InputValidationError` that lists every problem found, each naming its field:
`"display_name" is required`, `"type" must be one of [instant, long_term]`, ...
Rules that depend on time or state (expiry bounds, limits) are the services' business.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from meetings_emulator.domain.errors import InputValidationError
from meetings_emulator.domain.models import (
    CALLBACK_URL_KINDS,
    UI_LANGUAGES,
    AvailableFeatures,
    JoinApprovalLevel,
    MicrophoneState,
    RecordingOptions,
    RoomChanges,
    RoomSettings,
    RoomType,
)
from meetings_emulator.domain.outbox import CallbackConfig
from meetings_emulator.domain.signing import Signing, profile_of, secret_problem
from meetings_emulator.domain.themes import ThemeSettings

DISPLAY_NAME_MAX = 200
METADATA_MAX = 500
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
CALLBACK_URL_PATTERN = re.compile(r"^https?://.*$")
# What no URL may hold: white space and control characters.
NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f]")
DIGITS = re.compile(r"^-?[0-9]+$")
# Joi's `number()` refuses what a JavaScript number cannot hold exactly ("must be a safe number").
MAX_SAFE_INTEGER = 2**53 - 1
E = TypeVar("E")


@functools.cache
def _members(enum: type[E]) -> dict[Any, E]:
    """An enum's members by value: what `enum(value)` finds, without its slower lookup."""
    return {member.value: member for member in enum}  # type: ignore[attr-defined]


CREATE_ROOM_KEYS = (
    "display_name",
    "metadata",
    "type",
    "expires_at",
    "expire_after_use",
    "recording_options",
    "theme_id",
    "join_approval_level",
    "initial_join_options",
    "callback_urls",
    "available_features",
    "ui_settings",
)
UPDATE_ROOM_KEYS = (
    "expires_at",
    "expire_after_use",
    "theme_id",
    "join_approval_level",
    "initial_join_options",
    "callback_urls",
    "available_features",
)
FEATURE_KEYS = tuple(AvailableFeatures.__dataclass_fields__)


def valid_url(url: str) -> bool:
    """An http(s) URL with a host and nothing a request line could not carry."""
    if NOT_IN_URLS.search(url):
        return False
    try:
        parsed = urlsplit(url)
        _ = parsed.port  # a port out of range raises ValueError
    except ValueError:
        return False
    return bool(parsed.hostname)


# A string Joi's `date()` read as a timestamp: digits, perhaps signed, perhaps a fraction.
EPOCH_MILLISECONDS = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*$")
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_date(value: Any) -> datetime | None:
    """A date as the live service's validator (Joi's `date()`) took one, or None.

    It took what a JavaScript `Date` reads: ISO-8601 with `T` or a space between date and
    time (the .NET SDK sends `yyyy-MM-dd HH:mm:ss`), with or without an offset (none: UTC
    here), a date alone (midnight UTC), and epoch milliseconds, as a number or a string of
    digits (a fraction is cut, as `Date` cuts it). The result is cut to milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and not EPOCH_MILLISECONDS.match(value):
        text = value.strip()
        if len(text) < 10 or not text[:4].isdigit() or "W" in text.upper():
            return None  # not a calendar date first (ISO week dates are Python's, not Date's)
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    if not isinstance(value, int | float | str):
        return None
    try:
        milliseconds = int(float(value)) if isinstance(value, str) else int(value)
        return UNIX_EPOCH + timedelta(milliseconds=milliseconds)
    except (ValueError, OverflowError):
        return None


class Checker:
    """Collects problems while reading one JSON object."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputValidationError.of(self.problems)

    def object(self, value: Any, label: str, allowed: tuple[str, ...]) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(f'"{label}" must be of type object')
            return None
        prefix = "" if label == "value" else f"{label}."
        for key in value:
            if key not in allowed:
                self.fail(f'"{prefix}{key}" is not allowed')
        return value

    def string(self, value: Any, label: str, *, max_length: int, nullable: bool = False) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self.fail(f'"{label}" must be a string')
        elif value == "":
            self.fail(f'"{label}" is not allowed to be empty')
        elif len(value) > max_length:
            self.fail(
                f'"{label}" length must be less than or equal to {max_length} characters long'
            )
        else:
            return value
        return None

    def boolean(self, value: Any, label: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.fail(f'"{label}" must be a boolean')
        return None

    def choice(self, value: Any, label: str, enum: type[E]) -> E | None:
        try:
            member = _members(enum).get(value)
        except TypeError:  # unhashable: a list or an object is no member's value
            member = None
        if member is None:
            names = ", ".join(str(option) for option in _members(enum).values())
            self.fail(f'"{label}" must be one of [{names}]')
        return member

    def date(self, value: Any, label: str) -> datetime | None:
        parsed = parse_date(value)
        if parsed is None:
            self.fail(f'"{label}" must be a valid date')
        return parsed

    def guid(self, value: Any, label: str, *, nullable: bool) -> str | None:
        if value is None and nullable:
            return None
        if isinstance(value, str):
            try:
                uuid.UUID(value)
            except ValueError:
                pass
            else:
                if len(value) == 36:
                    return value.lower()
        self.fail(f'"{label}" must be a valid GUID')
        return None

    def language(self, value: Any, label: str) -> str | None:
        if isinstance(value, str) and value.lower() in UI_LANGUAGES:
            return value.lower()
        self.fail(f'"{label}" must be one of [{", ".join(UI_LANGUAGES)}]')
        return None

    def callback_urls(self, value: Any, label: str) -> dict[str, str]:
        urls: dict[str, str] = {}
        body = self.object(value, label, CALLBACK_URL_KINDS)
        for kind, url in (body or {}).items():
            if kind not in CALLBACK_URL_KINDS:
                continue
            name = f"{label}.{kind}"
            if not isinstance(url, str):
                self.fail(f'"{name}" must be a string')
            elif not CALLBACK_URL_PATTERN.match(url):
                self.fail(
                    f'"{name}" with value "{url}" fails to match the required pattern: '
                    f"{CALLBACK_URL_PATTERN.pattern}"
                )
            elif not valid_url(url):
                self.fail(f'"{name}" must be a valid uri')
            else:
                urls[kind] = url
        return urls

    def features(self, value: Any, label: str) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        body = self.object(value, label, FEATURE_KEYS)
        for key, flag in (body or {}).items():
            if key in FEATURE_KEYS and self.boolean(flag, f"{label}.{key}") is not None:
                flags[key] = flag
        return flags

    def microphone(self, value: Any, label: str) -> MicrophoneState | None:
        body = self.object(value, label, ("microphone_state",))
        if body is None or "microphone_state" not in body:
            return None
        return self.choice(body["microphone_state"], f"{label}.microphone_state", MicrophoneState)


def parse_create_room(body: Any) -> RoomSettings:
    check = Checker()
    fields = check.object(body, "value", CREATE_ROOM_KEYS)
    if fields is None:
        raise InputValidationError.of(check.problems)
    settings = RoomSettings(display_name="")

    if "display_name" not in fields:
        check.fail('"display_name" is required')
    else:
        settings.display_name = (
            check.string(fields["display_name"], "display_name", max_length=DISPLAY_NAME_MAX) or ""
        )
    if "metadata" in fields:
        settings.metadata = check.string(
            fields["metadata"], "metadata", max_length=METADATA_MAX, nullable=True
        )
    if "type" in fields:
        settings.type = check.choice(fields["type"], "type", RoomType) or RoomType.INSTANT
    if "expires_at" in fields:
        if settings.type is RoomType.INSTANT:
            check.fail('"expires_at" is not allowed for an instant room')
        else:
            settings.expires_at = check.date(fields["expires_at"], "expires_at")
    elif settings.type is RoomType.LONG_TERM:
        check.fail('"expires_at" is required for a long_term room')
    if "expire_after_use" in fields:
        settings.expire_after_use = bool(
            check.boolean(fields["expire_after_use"], "expire_after_use")
        )
    if "recording_options" in fields:
        settings.recording_options = _recording_options(check, fields["recording_options"])
    if "theme_id" in fields:
        settings.theme_id = check.guid(fields["theme_id"], "theme_id", nullable=True)
        settings.default_theme = False
    if "join_approval_level" in fields:
        settings.join_approval_level = (
            check.choice(fields["join_approval_level"], "join_approval_level", JoinApprovalLevel)
            or JoinApprovalLevel.NONE
        )
    if "initial_join_options" in fields:
        settings.microphone_state = (
            check.microphone(fields["initial_join_options"], "initial_join_options")
            or MicrophoneState.DEFAULT
        )
    if "callback_urls" in fields:
        settings.callback_urls = check.callback_urls(fields["callback_urls"], "callback_urls")
    if "available_features" in fields:
        flags = check.features(fields["available_features"], "available_features")
        settings.available_features = AvailableFeatures(**flags)
    if "ui_settings" in fields:
        ui = check.object(fields["ui_settings"], "ui_settings", ("language",))
        if ui is not None and "language" in ui:
            settings.language = check.language(ui["language"], "ui_settings.language") or "default"

    check.raise_if_any()
    return settings


def _recording_options(check: Checker, value: Any) -> RecordingOptions:
    body = check.object(value, "recording_options", ("auto_record", "record_only_owner"))
    chosen = {
        key: bool(check.boolean(body[key], f"recording_options.{key}"))
        for key in ("auto_record", "record_only_owner")
        if body is not None and key in body
    }
    return RecordingOptions(**chosen)


def parse_update_room(body: Any) -> RoomChanges:
    check = Checker()
    details = _update_details(check, body, UPDATE_ROOM_KEYS)

    changes = RoomChanges(fields=frozenset(details))
    label = "update_details."
    if "expires_at" in details:
        changes.expires_at = check.date(details["expires_at"], label + "expires_at")
    if "expire_after_use" in details:
        changes.expire_after_use = bool(
            check.boolean(details["expire_after_use"], label + "expire_after_use")
        )
    if "theme_id" in details:
        changes.theme_id = check.guid(details["theme_id"], label + "theme_id", nullable=True)
    if "join_approval_level" in details:
        changes.join_approval_level = (
            check.choice(
                details["join_approval_level"], label + "join_approval_level", JoinApprovalLevel
            )
            or JoinApprovalLevel.NONE
        )
    if "initial_join_options" in details:
        changes.microphone_state = check.microphone(
            details["initial_join_options"], label + "initial_join_options"
        )
    if "callback_urls" in details:
        changes.callback_urls = check.callback_urls(
            details["callback_urls"], label + "callback_urls"
        )
    if "available_features" in details:
        changes.available_features = check.features(
            details["available_features"], label + "available_features"
        )
    check.raise_if_any()
    return changes


def parse_page_query(query: Mapping[str, str]) -> tuple[int | None, int | None, int]:
    """`start_id`, `end_id` and `page_size` from a listing's query string."""
    check = Checker()
    start_id = _query_int(check, query, "start_id", minimum=0)
    end_id = _query_int(check, query, "end_id", minimum=0)
    page_size = _query_int(check, query, "page_size", minimum=1, maximum=MAX_PAGE_SIZE)
    check.raise_if_any()
    return start_id, end_id, DEFAULT_PAGE_SIZE if page_size is None else page_size


def _query_int(
    check: Checker,
    query: Mapping[str, str],
    name: str,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not DIGITS.match(raw):
        check.fail(f'"{name}" must be a number')
        return None
    # Past 16 digits a number is beyond the safe range: `int` is not asked to read thousands.
    value = int(raw) if len(raw.lstrip("-").lstrip("0")) <= 16 else None
    if value is None or abs(value) > MAX_SAFE_INTEGER:
        check.fail(f'"{name}" must be a safe number')
        return None
    if value < minimum:
        check.fail(f'"{name}" must be greater than or equal to {minimum}')
    elif maximum is not None and value > maximum:
        check.fail(f'"{name}" must be less than or equal to {maximum}')
    else:
        return value
    return None


PARTICIPANT_NAME_MAX = 200
PARTICIPANT_TYPE_MAX = 50


def parse_participant(body: Any) -> tuple[str, bool, str]:
    """`{"name", "is_host"?, "type"?}` for someone joining through the control plane."""
    check = Checker()
    fields = check.object(body, "value", ("name", "is_host", "type"))
    if fields is None:
        raise InputValidationError.of(check.problems)
    name = ""
    if "name" not in fields:
        check.fail('"name" is required')
    else:
        name = check.string(fields["name"], "name", max_length=PARTICIPANT_NAME_MAX) or ""
    is_host = bool(check.boolean(fields["is_host"], "is_host")) if "is_host" in fields else False
    kind = "Guest"
    if "type" in fields:
        kind = check.string(fields["type"], "type", max_length=PARTICIPANT_TYPE_MAX) or kind
    check.raise_if_any()
    return name, is_host, kind


def parse_recording_start(body: Any) -> str | None:
    """`{"participant_id"?}`: who starts the recording (a host, where the room says so)."""
    check = Checker()
    fields = check.object(body, "value", ("participant_id",))
    if fields is None:
        raise InputValidationError.of(check.problems)
    participant_id = None
    if "participant_id" in fields:
        participant_id = check.string(fields["participant_id"], "participant_id", max_length=64)
    check.raise_if_any()
    return participant_id


CALLBACK_CONFIG_URLS = ("url", "rooms_url", "sessions_url", "recordings_url")


CALLBACK_CONFIG_KEYS = (
    *CALLBACK_CONFIG_URLS,
    "secret",
    "signing",
    "max_attempts",
    "base_delay",
    "timeout",
)


def parse_callback_config(body: Any, current: CallbackConfig) -> dict[str, Any]:
    """Changes to the callback configuration: URLs (or null to clear), `secret` (or null),
    `signing` (a profile, or null: hmac with a secret, else none), `max_attempts` (1-20),
    `base_delay` and `timeout` (seconds, 0-3600 and 0.1-60). The secret must suit the
    profile the change leaves in force."""
    check = Checker()
    fields = check.object(body, "value", CALLBACK_CONFIG_KEYS)
    if fields is None:
        raise InputValidationError.of(check.problems)
    changes: dict[str, Any] = {}
    for name in CALLBACK_CONFIG_URLS:
        if name in fields:
            url = fields[name]
            if url is not None and not (
                isinstance(url, str) and CALLBACK_URL_PATTERN.match(url) and valid_url(url)
            ):
                check.fail(f'"{name}" must be null or a URL starting with http:// or https://')
            changes[name] = url
    if "secret" in fields:
        changes["secret"] = check.string(fields["secret"], "secret", max_length=500, nullable=True)
    if fields.get("signing") is not None:
        profile = check.choice(fields["signing"], "signing", Signing)
        changes["signing"] = None if profile is None else str(profile)
    elif "signing" in fields:
        changes["signing"] = None
    if not check.problems and {"secret", "signing"} & changes.keys():
        secret = changes.get("secret", current.secret)
        in_force = profile_of(changes.get("signing", current.signing), secret)
        problem = secret_problem(in_force, secret)
        if problem is not None:
            check.fail(f'"secret" {problem}')
    for name, low, high in (("max_attempts", 1, 20), ("base_delay", 0, 3600), ("timeout", 0.1, 60)):
        if name not in fields:
            continue
        value = fields[name]
        whole = name == "max_attempts"
        if (
            isinstance(value, bool)
            or not isinstance(value, int if whole else int | float)
            or not low <= value <= high
        ):
            kind = "an integer" if whole else "a number"
            check.fail(f'"{name}" must be {kind} from {low} to {high}')
        else:
            changes[name] = value
    check.raise_if_any()
    return changes


THEME_NAME_MAX = 200
BRAND_TEXT_MAX = 200
SHORT_URL_MAX = 128
# The published patterns, as Joi applied them: a search (JavaScript's `test`), where `$` is
# the very end of the text (Python's `\Z`; Python's own `$` also matches before a newline).
MAIN_COLOR_PATTERN = r"#([a-fA-F0-9]{6}|[a-fA-F0-9]{3})$"
SHORT_URL_PATTERN = r"^(?=.*[a-zA-Z_~-])([a-zA-Z0-9_~-]+)$"
MAIN_COLOR = re.compile(MAIN_COLOR_PATTERN.replace("$", r"\Z"))
SHORT_URL = re.compile(SHORT_URL_PATTERN.replace("$", r"\Z"))
THEME_KEYS = ("theme_name", "main_color", "brand_text", "short_company_url")


def _theme_fields(check: Checker, fields: Mapping[str, Any], label: str) -> ThemeSettings:
    settings = ThemeSettings(fields=frozenset(k for k in fields if k in THEME_KEYS))
    if "theme_name" in fields:
        settings.theme_name = check.string(
            fields["theme_name"], label + "theme_name", max_length=THEME_NAME_MAX, nullable=True
        )
    if "main_color" in fields:
        color = check.string(fields["main_color"], label + "main_color", max_length=7)
        if color is not None and not MAIN_COLOR.search(color):
            check.fail(
                f'"{label}main_color" with value "{color}" fails to match the required pattern:'
                f" {MAIN_COLOR_PATTERN}"
            )
        settings.main_color = color
    if "brand_text" in fields:
        settings.brand_text = check.string(
            fields["brand_text"], label + "brand_text", max_length=BRAND_TEXT_MAX
        )
    if "short_company_url" in fields:
        short = check.string(
            fields["short_company_url"],
            label + "short_company_url",
            max_length=SHORT_URL_MAX,
            nullable=True,
        )
        if short is not None and not SHORT_URL.search(short):
            check.fail(
                f'"{label}short_company_url" with value "{short}" fails to match the required'
                f" pattern: {SHORT_URL_PATTERN}"
            )
            short = None
        settings.short_company_url = short
    return settings


def parse_create_theme(body: Any) -> ThemeSettings:
    check = Checker()
    fields = check.object(body, "value", THEME_KEYS)
    if fields is None:
        raise InputValidationError.of(check.problems)
    for required in ("main_color", "brand_text"):
        if required not in fields:
            check.fail(f'"{required}" is required')
    settings = _theme_fields(check, fields, "")
    check.raise_if_any()
    return settings


def parse_update_theme(body: Any) -> ThemeSettings:
    check = Checker()
    details = _update_details(check, body, THEME_KEYS)
    settings = _theme_fields(check, details, "update_details.")
    check.raise_if_any()
    return settings


def _update_details(check: Checker, body: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """The non-empty `update_details` object of an update body, or the problems found."""
    outer = check.object(body, "value", ("update_details",))
    if outer is not None and "update_details" not in outer:
        check.fail('"update_details" is required')
    details = (
        check.object(outer["update_details"], "update_details", allowed)
        if outer is not None and "update_details" in outer
        else None
    )
    if details is not None and not details:
        check.fail('"update_details" must have at least 1 key')
    check.raise_if_any()
    assert details is not None
    return details


def parse_application_update(body: Any) -> str:
    """`{"update_details": {"default_theme_id": id}}` (the bare form of the early spec too).

    Any id string is taken: the live service looked it up, and answered one that is not a
    theme, a UUID or not, with 400 `BadRequestError` ("... theme id X not found")."""
    check = Checker()
    if isinstance(body, dict) and "default_theme_id" in body and "update_details" not in body:
        body = {"update_details": body}
    details = _update_details(check, body, ("default_theme_id",))
    if "default_theme_id" not in details:
        check.fail('"update_details.default_theme_id" is required')
    theme_id = check.string(
        details.get("default_theme_id"), "update_details.default_theme_id", max_length=200
    )
    check.raise_if_any()
    assert theme_id is not None
    return theme_id


def parse_force(query: Mapping[str, str]) -> bool:
    """`force` as the SDKs send it: `true`/`false`, or Python's `True`/`False`."""
    raw = query.get("force")
    if raw is None:
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InputValidationError('"force" must be a boolean')


def parse_logo_keys(body: Any) -> list[str]:
    """`{"keys": [...]}`: plain strings (as the SDKs send) or `{"key": ...}` (as the spec says)."""
    check = Checker()
    fields = check.object(body, "value", ("keys",))
    if fields is None:
        raise InputValidationError.of(check.problems)
    raw = fields.get("keys")
    keys: list[str] = []
    if "keys" not in fields:
        check.fail('"keys" is required')
    elif not isinstance(raw, list) or not raw:
        check.fail('"keys" must be an array with at least 1 item')
    else:
        for n, item in enumerate(raw):
            key = item.get("key") if isinstance(item, dict) and set(item) == {"key"} else item
            if isinstance(key, str) and key:
                keys.append(key)
            elif key == "":
                check.fail(f'"keys[{n}]" is not allowed to be empty')
            else:
                check.fail(f'"keys[{n}]" must be a string')
    check.raise_if_any()
    return keys
