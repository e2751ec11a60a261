"""State files: the snapshot document saved atomically, and read back at start.

A save writes a temporary file beside the target (`.<name>.` and eight random characters),
flushes it to disk, then renames it over the target, so a crash at any moment leaves
either the old file or the new one; a temporary file that a killed save left behind is
removed at the next start (`remove_orphans`). Saves run on a thread of their own (`saver`),
never behind other waits in the event loop's default executor. A file that is not UTF-8
JSON is refused (`StateFileRefused`). Each load and save is logged once, at info, with
what the file holds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("meetings_emulator.state")

# The random part `tempfile.mkstemp` adds to a name: eight of these characters.
TEMPORARY_SUFFIX = "[a-z0-9_]{8}"


class StateFileRefused(ValueError):
    """A state file whose content the emulator will not take (the file is left as it is)."""


_saver: ThreadPoolExecutor | None = None
_saver_lock = threading.Lock()


def saver() -> Executor:
    """The one thread that state saves run on, made when first needed. Saves are not put
    on the event loop's default executor, where waits such as a callback flush can hold
    every thread; one thread also keeps saves in the order they were asked for."""
    global _saver
    with _saver_lock:
        if _saver is None:
            _saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-save")
        return _saver


def remove_orphans(path: str | Path) -> int:
    """Remove the temporary files that saves to `path` left behind when they were killed
    (regular files named as `save` names them, beside `path`); how many went."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    orphan = re.compile(re.escape(f".{target.name}.") + TEMPORARY_SUFFIX)
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not orphan.fullmatch(name):
            continue
        candidate = folder / name
        try:
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                candidate.unlink()
                removed += 1
        except OSError as problem:
            log.warning("could not remove %s: %s", candidate, problem.strerror or problem)
    if removed:
        log.info(
            "removed %d temporary file%s left by an interrupted save of %s",
            removed,
            "" if removed == 1 else "s",
            target,
            extra={"path": str(target), "removed": removed},
        )
    return removed


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


def load(path: str | Path) -> Any:
    """The JSON document saved at `path`, or None if there is no file yet. `OSError` if the
    file cannot be read; `StateFileRefused` if it is not UTF-8 JSON."""
    target = Path(path)
    if not target.exists():
        return None
    raw = target.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise StateFileRefused(
            f"not UTF-8 text ({problem.reason} at byte {problem.start})"
        ) from None
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise StateFileRefused("not JSON (it is nested too deeply)") from None
    except ValueError as problem:
        raise StateFileRefused(f"not JSON ({problem})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# Strict JSON: `NaN` and `Infinity`, which the standard library would read, are refused.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def log_loaded(path: str | Path, state: dict[str, Any]) -> None:
    """Say, once, what was loaded from `path` (after it was imported whole)."""
    numbers = counts(state)
    log.info(
        "state loaded from %s: %s",
        path,
        _described(numbers),
        extra={"path": str(path), **numbers},
    )
