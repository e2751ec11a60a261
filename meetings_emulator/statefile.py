"""State files: the snapshot document saved atomically, and read back at start.

A save writes a temporary file beside the target, flushes it to disk, then renames it over
the target, so a crash at any moment leaves either the old file or the new one. Each load
and save is logged once, at info, with what the file holds.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("meetings_emulator.state")


def counts(state: dict[str, Any]) -> dict[str, int]:
    """How many rooms, themes, sessions and recordings a snapshot document holds."""

    def size(part: str, key: str) -> int:
        found = state.get(part)
        items = found.get(key) if isinstance(found, dict) else None
        return len(items) if isinstance(items, list) else 0

    return {
        "rooms": size("rooms", "rooms"),
        "themes": size("themes", "themes"),
        "sessions": size("sessions", "sessions"),
        "recordings": size("sessions", "recordings"),
    }


def _described(numbers: dict[str, int]) -> str:
    return ", ".join(
        f"{count} {name.removesuffix('s') if count == 1 else name}"
        for name, count in numbers.items()
    )


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically: a temporary file, fsync, rename, fsync the folder."""
    started = time.monotonic()
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, ensure_ascii=False, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    numbers = counts(state)
    took = round((time.monotonic() - started) * 1000, 1)
    log.info(
        "state saved to %s: %s (%.1f ms)",
        target,
        _described(numbers),
        took,
        extra={"path": str(target), **numbers, "latency_ms": took},
    )


def load(path: str | Path) -> dict[str, Any] | None:
    """The state saved at `path`, or None if there is no file yet."""
    target = Path(path)
    if not target.exists():
        return None
    state: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return state


def log_loaded(path: str | Path, state: dict[str, Any]) -> None:
    """Say, once, what was loaded from `path` (after it was imported whole)."""
    numbers = counts(state)
    log.info(
        "state loaded from %s: %s",
        path,
        _described(numbers),
        extra={"path": str(path), **numbers},
    )
