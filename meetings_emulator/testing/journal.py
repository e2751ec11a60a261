"""The request journal (`/_emulator/requests`): the last 1,000 API calls, with the
credentials redacted and bodies cut at 8 KiB, filtered by method, path, status and tenant."""

from __future__ import annotations

import fnmatch
import itertools
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.types import Scope

from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.http.requests import authorization_of
from meetings_emulator.testing.identity import redact_authorization

JOURNAL_SIZE = 1000
JOURNAL_BODY_BYTES = 8 * 1024
JOURNAL_FILTERS = ("method", "path", "status", "tenant", "limit")
STATUS_FILTER = re.compile(r"^[1-5]([0-9]{2}|xx)$")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(slots=True, eq=False)
class JournalEntry:
    """One API call. Its time and credential fingerprint are written when it is read."""

    id: int
    arrived: datetime
    method: str
    path: str
    query: str
    authorization: str | None  # the raw header: only its fingerprint is ever shown
    tenant: str | None
    body: bytes | None = None  # the first JOURNAL_BODY_BYTES (the request's own bytes)
    body_size: int = 0
    status: int | None = None
    latency_ms: float | None = None
    fault: str | None = None
    error: str | None = None

    def answered(self, status: int) -> None:
        self.status = status

    @property
    def finished(self) -> bool:
        """Answered in full, or ended otherwise (a disconnect, a dropped connection)."""
        return self.latency_ms is not None

    def received(self, chunk: bytes) -> None:
        if type(chunk) is not bytes:  # a server's own buffer: copied, it may be reused
            chunk = bytes(chunk)
        self.body_size += len(chunk)
        kept = self.body
        if kept is None:  # usually the whole body: kept as it is, not copied
            self.body = chunk if len(chunk) <= JOURNAL_BODY_BYTES else chunk[:JOURNAL_BODY_BYTES]
        elif len(kept) < JOURNAL_BODY_BYTES:
            self.body = kept + chunk[: JOURNAL_BODY_BYTES - len(kept)]

    @property
    def at(self) -> str:
        return format_iso(self.arrived)

    @property
    def auth(self) -> str | None:
        return redact_authorization(self.authorization)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "auth": self.auth,
            "tenant": self.tenant,
            "body": self.body.decode("utf-8", "replace") if self.body else None,
            "body_size": self.body_size,
            "body_truncated": self.body_size > len(self.body or b""),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "fault": self.fault,
            "error": self.error,
        }


class Journal:
    """The last `keep` API calls, oldest first; each is listed from the moment it arrives."""

    def __init__(self, keep: int = JOURNAL_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: deque[JournalEntry] = deque(maxlen=keep)
        self._serial = itertools.count(1)
        # Told whenever an entry is finished (the answers waiting on the journal listen).
        self.notify: Callable[[], None] = lambda: None

    def open(self, scope: Scope, at: datetime, tenant: str | None) -> JournalEntry:
        entry = JournalEntry(
            next(self._serial),
            at,
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            authorization_of(scope),
            tenant,
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def finish(self, entry: JournalEntry, latency_ms: float) -> None:
        """The call is over: its time taken is written, and whoever waits is told."""
        if entry.latency_ms is None:
            entry.latency_ms = latency_ms
        self.notify()

    def entries(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: str | None = None,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        with self._lock:
            entries = list(self._entries)
        found = [
            entry
            for entry in entries
            if (method is None or entry.method == method.upper())
            and (path is None or _path_fits(entry.path, path))
            and (status is None or _status_fits(entry.status, status))
            and (tenant is None or entry.tenant == tenant)
        ]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _path_fits(path: str, wanted: str) -> bool:
    if GLOB_CHARACTERS & set(wanted):
        return fnmatch.fnmatchcase(path, wanted)
    return path.startswith(wanted)


def _status_fits(status: int | None, wanted: str) -> bool:
    if status is None:
        return False
    if wanted.endswith("xx"):
        return str(status)[0] == wanted[0]
    return status == int(wanted)


__all__ = ["JOURNAL_BODY_BYTES", "JOURNAL_SIZE", "Journal", "JournalEntry"]
