"""What a browser can be tricked into sending: DNS rebinding and cross-site writes.

- Host, on every request: the name it gives must be one the emulator serves
  (`HostCheck`): `localhost`, any IP address, the address it listens on (`--host`), its
  public URL's host, the names in `Settings.allowed_hosts` (`*.domain` matches the names
  below that domain, `*` any name), and the name the server itself reports it was reached
  at (an in-process client's, such as Starlette's TestClient's `testserver`). A name an
  attacker's DNS points at 127.0.0.1 is none of these; an IP address cannot be rebound.
- Origin, on what the control token guards (the control plane and the pages): a request
  that carries one must come from the emulator's own pages (`foreign_origin`).
- Content-Type, on control-plane writes: a body must be labelled JSON, which a page of
  another origin cannot send without the browser asking first (`wrong_content_type`); a
  write without a body may carry no label.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import Scope

from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.responses import json_response

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = frozenset({"application/json", "text/json"})
# How many distinct Host values keep their verdict (the ones a server sees are few).
VERDICTS_KEPT = 1024
DEFAULT_PORTS = {"http": 80, "https": 443}


def host_name(value: str) -> str:
    """The name a Host header gives: no port, no brackets, lower case, no final dot."""
    text = value.strip().lower()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser writes a page's origin (no default port)."""
    parts = urlsplit(url.strip().lower())
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    port = parts.port
    if port is None or port == DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class HostCheck:
    """Whether a request names a host the emulator serves; verdicts are kept per value."""

    __slots__ = ("_any", "_names", "_suffixes", "_verdicts")

    def __init__(self, settings: Settings) -> None:
        names = {*LOOPBACK_NAMES, host_name(settings.host)}
        if settings.public_url:
            names.add(host_name(urlsplit(settings.public_url).hostname or ""))
        suffixes = []
        for entry in settings.allowed_hosts:
            entry = entry.strip().lower().rstrip(".")
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif entry != "*":
                names.add(host_name(entry))
        self._any = "*" in settings.allowed_hosts
        self._names = frozenset(names)
        self._suffixes = tuple(suffixes)
        self._verdicts: dict[bytes, bool] = {}

    def serves(self, name: str) -> bool:
        return not name or name in self._names or name.endswith(self._suffixes) or _is_address(name)

    def refused(self, scope: Scope) -> str | None:
        """The request's Host when the emulator does not serve that name, else None (no
        Host at all, as an HTTP/1.0 client may send, is no rebinding)."""
        if self._any:
            return None
        for key, value in scope["headers"]:
            if key == b"host":
                verdict = self._verdicts.get(value)
                if verdict is None:
                    verdict = self.serves(host_name(value.decode("latin-1")))
                    if len(self._verdicts) < VERDICTS_KEPT:
                        self._verdicts[value] = verdict
                if verdict:
                    return None
                given = value.decode("latin-1")
                server = scope.get("server")
                if server and host_name(given) == str(server[0]).lower():
                    return None  # the name the server itself was reached at
                return given
        return None


def refuse_host(host: str) -> Response:
    return _forbidden(f"Host {host} is not a name this emulator serves: add it with --allowed-host")


class RequestHeaders:
    """The few headers the control plane's checks read, found in one pass."""

    __slots__ = ("content_length", "content_type", "host", "origin", "transfer_encoding")

    def __init__(self, scope: Scope) -> None:
        self.host = self.origin = self.content_type = None
        self.content_length = self.transfer_encoding = None
        for key, value in scope["headers"]:
            name = _READ.get(key)
            if name is not None and getattr(self, name) is None:
                setattr(self, name, value.decode("latin-1"))

    @property
    def has_body(self) -> bool:
        return self.transfer_encoding is not None or (
            self.content_length is not None and self.content_length.strip() not in ("", "0")
        )


_READ = {
    b"host": "host",
    b"origin": "origin",
    b"content-type": "content_type",
    b"content-length": "content_length",
    b"transfer-encoding": "transfer_encoding",
}


def foreign_origin(headers: RequestHeaders, own_origin: str | None) -> str | None:
    """The request's Origin when it is not the emulator's own, else None (no Origin: not
    sent by a browser page of another origin). Its own: the origin that names the host and
    port the request was sent to (its Host), or the public URL's origin."""
    origin = headers.origin
    if origin is None:
        return None
    given = origin.strip().lower()
    if own_origin is not None and given == own_origin:
        return None
    scheme, separator, netloc = given.partition("://")
    host = headers.host
    if scheme in DEFAULT_PORTS and separator and host and netloc == host.strip().lower():
        return None
    return origin


def own_origin(settings: Settings) -> str | None:
    return _origin_of(settings.public_url) if settings.public_url else None


def refuse_origin(origin: str) -> Response:
    return _forbidden(
        f"Origin {origin} is not this emulator's: the control plane answers its own pages only"
    )


def wrong_content_type(method: str, headers: RequestHeaders) -> str | None:
    """Why a control-plane write's body is refused (its Content-Type is not JSON, or it has
    a body and no Content-Type), else None."""
    if method not in WRITE_METHODS:
        return None
    content_type = headers.content_type
    if content_type is None:
        return "this request has a body and no Content-Type" if headers.has_body else None
    media = content_type.partition(";")[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return None
    return f"not {content_type}"


def refuse_content_type(why: str) -> Response:
    separator = ", " if why.startswith("not ") else ": "
    return json_response(
        {
            "message": f"Content-Type must be application/json{separator}{why}",
            "name": "UnsupportedMediaTypeError",
            "status": 415,
        },
        415,
    )


def _forbidden(message: str) -> Response:
    return json_response({"message": message, "name": "ForbiddenError", "status": 403}, 403)


__all__ = [
    "HostCheck",
    "RequestHeaders",
    "foreign_origin",
    "own_origin",
    "refuse_content_type",
    "refuse_host",
    "refuse_origin",
    "wrong_content_type",
]
