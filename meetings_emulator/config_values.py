"""The values the command line takes, each read and checked: numbers in range, booleans,
URLs, host names, files and folders. A bad one raises `ConfigError`, naming it."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A value the emulator cannot start with; its message is the one line shown."""


# -- checking one value -------------------------------------------------------------------


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("must be an integer") from None


def _number(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def parse_port(text: str) -> int:
    try:
        port = _integer(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return port


def _integer_from(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = _integer(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            if high is None:
                raise ValueError(
                    "must be a positive integer" if low == 1 else f"must be an integer >= {low}"
                )
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return parse


def _number_from(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _number(text)
        if not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return value

    return parse


def parse_boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return word

    return parse


def parse_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL starting with http:// or https://")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise ValueError("has a port out of range (0-65535)") from None
    return text.strip()


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def parse_host(text: str) -> str:
    host = text.strip()
    if not host or any(char.isspace() for char in host) or "/" in host:
        raise ValueError("must be a host name or an IP address")
    return host.removeprefix("[").removesuffix("]")


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_tls_hostname(text: str) -> str:
    """A DNS name (a leading `*.` allowed) or an IP address, as a certificate names it."""
    name = text.strip().removeprefix("[").removesuffix("]")
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    labels = name.removeprefix("*.").rstrip(".").split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("must be a DNS name (such as meetings) or an IP address")
    return name.rstrip(".").lower()


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def parse_allowed_host(text: str) -> str:
    """A host name (underscores allowed, as in compose service names), `*.domain`, an IP
    address, or `*` for any host; no scheme, no port."""
    name = text.strip().removeprefix("[").removesuffix("]")
    if name == "*":
        return name
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    labels = name.removeprefix("*.").rstrip(".").split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            "must be a host name (such as meetings), *.domain, an IP address, or * for any"
        )
    return name.rstrip(".").lower()


def _readable_file(text: str) -> str:
    path = Path(text)
    if not path.is_file():
        raise ValueError("is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError("cannot be read")
    return text


def _writable_folder_of(text: str) -> str:
    """A file to be written: its folder must exist and be writable now, not at shutdown."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise ValueError("is a folder, not a file")
    if not folder.is_dir():
        raise ValueError(f"cannot be written: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot be written: the folder {folder} is not writable")
    return text


def _tls_folder(text: str) -> str:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError("is not a folder")
    if not path.exists() and not path.parent.is_dir():
        raise ValueError(f"cannot be made: the folder {path.parent} does not exist")
    return text


# -- the options ----------------------------------------------------------------------------
