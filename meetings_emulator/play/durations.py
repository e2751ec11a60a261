"""Durations in a scenario: `90`, `30s`, `10m`, `1h30m` to seconds and back, and the `"+2h"`
expiries that count from the emulator clock."""

from __future__ import annotations

import math
import re
from types import MappingProxyType
from typing import Any

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT_SECONDS = MappingProxyType({"h": 3600, "m": 60, "s": 1})


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90"`, `"10m"`, `"1h30m"` or `"9m59s"`; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a duration is a number of seconds or a text like 10m, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "").lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(
                float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError(
                f"bad duration {value!r}: use seconds (90) or s, m and h (30s, 10m, 1h30m)"
            )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"bad duration {value!r}: it must be a finite number, not negative")
    return seconds


def format_duration(seconds: float) -> str:
    """`600` -> `10m`, `3605` -> `1h0m5s`, `1.5` -> `1.5s` (whole seconds from a minute on)."""
    if seconds >= 60:
        seconds = round(seconds)
    if seconds != int(seconds):
        return f"{round(seconds, 3):g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes or (hours and secs):
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)


def _relative(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("+")
