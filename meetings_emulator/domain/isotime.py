"""ISO-8601 timestamps in the live API's form: UTC, milliseconds, a trailing `Z`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


def format_iso_once(instant: datetime) -> str:
    """`instant` in the live form, not cached: for one written once and kept."""
    i = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - the quickest form here
        i.year,
        i.month,
        i.day,
        i.hour,
        i.minute,
        i.second,
        i.microsecond // 1000,
    )


@functools.lru_cache(maxsize=16_384)  # rooms' expiry times are written on every read of them
def format_iso(instant: datetime) -> str:
    return format_iso_once(instant)


def parse_iso(text: str) -> datetime | None:
    """A date-time string as an aware UTC datetime cut to milliseconds, or None if it is not one.

    A value without an offset is taken as UTC, as the API's "UTC format" wording asks.
    """
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or an offset past year 1 or 9999
        return None
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
