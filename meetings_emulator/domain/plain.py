"""Dataclasses to JSON-ready values and back, for state files."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any


def plain(item: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's fields: times as ISO strings (microseconds kept), enums as their values,
    nested dataclasses as dicts."""
    out: dict[str, Any] = {}
    for name in item.__dataclass_fields__:
        if name in exclude:
            continue
        out[name] = _value(getattr(item, name))
    return out


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return plain(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, dict):
        return {key: _value(item) for key, item in value.items()}
    return value


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
