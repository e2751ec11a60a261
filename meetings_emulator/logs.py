"""The process's logging: one handler on stderr, as text lines or as JSON lines.

`setup` gives the emulator's loggers (`meetings_emulator.*`) and uvicorn's one handler and
one format. Text lines read `2025-06-30T10:02:13.250Z WARNING callback given up: ...`;
JSON lines are objects with `time`, `level`, `logger` and `message`, plus the fields a
log call passes as `extra` (`event`, `url`, `attempts`, ...), for log collectors.

At `info` a line stands for something that happened once (state loaded or saved, a
callback given up, a fault rule added, the clock moved); each request is logged only at
`debug`. uvicorn's own start and stop lines show at `debug` only: `announce` says what a
person needs at start, whatever the level.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,  # uvicorn's TRACE: every ASGI message
}
FORMATS = ("text", "json")
# The loggers `setup` sends through its handler.
OWN = "meetings_emulator"
SERVER = "uvicorn"
# The attributes every LogRecord has; any other one came from a call's `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of its message
}


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed as `extra`."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class TextFormatter(logging.Formatter):
    """`<UTC time> <LEVEL> <message>`, then the traceback of a logged exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the call's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _State:
    handler: logging.Handler | None = None
    format: str = "text"


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send the emulator's and uvicorn's records, from `level` up, to `stream` (stderr)."""
    if fmt not in FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(FORMATS)}")
    number = LEVELS[level]
    logging.addLevelName(LEVELS["trace"], "TRACE")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in (OWN, SERVER):
        logger = logging.getLogger(name)
        if _State.handler is not None:
            logger.removeHandler(_State.handler)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(number)
    # uvicorn's start and stop lines repeat what `announce` says: shown when debugging.
    quiet = number if number <= logging.DEBUG else max(number, logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(quiet)
    # Each request is logged by the emulator itself (with its latency), at debug.
    logging.getLogger("uvicorn.access").setLevel(logging.CRITICAL + 1)
    _State.handler, _State.format = handler, fmt


def announce(message: str, lines: list[str] | None = None, **fields: Any) -> None:
    """What a person needs at start, shown at every log level.

    As text: `message` and the indented `lines` on stdout. As JSON: one record at `info`
    on the log stream, with `fields`, so every line a collector reads is JSON."""
    handler = _State.handler
    if handler is None or _State.format == "text":
        print("\n".join([message, *(f"  {line}" for line in lines or [])]), flush=True)
        return
    record = logging.getLogger(OWN).makeRecord(
        OWN, logging.INFO, __file__, 0, message, None, None, extra=fields
    )
    handler.handle(record)
