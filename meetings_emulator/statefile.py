"""State files: the snapshot document saved atomically, and read back at start.

A save writes a temporary file beside the target, flushes it to disk, then renames it over
the target, so a crash at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically: a temporary file, fsync, rename, fsync the folder."""
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


def load(path: str | Path) -> dict[str, Any] | None:
    """The state saved at `path`, or None if there is no file yet."""
    target = Path(path)
    if not target.exists():
        return None
    state: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return state
