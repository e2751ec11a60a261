"""Posting callbacks: a small HTTP/1.1 client on asyncio with keep-alive connections.

A callback is one POST with a JSON body, and most go to one local receiver, many at once.
`Poster` keeps the idle connections of each (scheme, host, port) for the next post, writes
each request in one piece and reads the answer with httptools (llhttp, the parser uvicorn
serves with). It follows no redirects (a 3xx is the answer), reads every answer to its end
or drops the connection, and keeps a connection only while both sides may keep it: an
answer with `Connection: close`, an HTTP/1.0 answer without keep-alive, an answer whose
body ends where the connection does, a peer that closed, an error or a timeout all end it.
A connection idle for `KEEPALIVE_SECONDS` is not used again (servers close theirs after a
few seconds; uvicorn's after 5), and a post on a kept connection that the server closed
before any byte of an answer (it had timed the connection out) is made once more on a new
connection, as browsers do.

URLs are read with `httpx.URL` (IDNA hosts, percent-encoded paths; user and password in
the URL become a Basic `Authorization`, as httpx sent them), and `https` is checked with
httpx's default SSL context: certifi's CAs, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set.
Failures are raised as `ConnectError`, `ReadError`, `RemoteProtocolError` or
`UnsupportedProtocol` (httpx's names for the same failures), a timeout as `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from dataclasses import dataclass
from typing import cast

import httptools
import httpx

KEEPALIVE_SECONDS = 4.0
MAX_IDLE_PER_ORIGIN = 32
DEFAULT_PORTS = {"http": 80, "https": 443}


class PostError(Exception):
    """A post that got no answer."""


class UnsupportedProtocol(PostError):
    """The URL is not http or https."""


class ConnectError(PostError):
    """No connection: refused, unreachable, the name did not resolve, TLS failed."""


class ReadError(PostError):
    """The connection failed (reset) while the answer was awaited."""


class RemoteProtocolError(PostError):
    """The peer closed before answering in full, or answered with something not HTTP."""


Origin = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as a request needs it: where to connect, and the request's first lines."""

    origin: Origin  # (scheme, host to connect to, port)
    head: bytes  # request line, Host and, for a URL with a user, Authorization

    @property
    def tls(self) -> bool:
        return self.origin[0] == "https"


@functools.lru_cache(maxsize=1024)
def target(url: str) -> Target:
    parsed = httpx.URL(url)
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS:
        raise UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsupportedProtocol(f"Request URL is missing a host: {url!r}")
    head = b"POST " + parsed.raw_path + b" HTTP/1.1\r\nHost: " + parsed.netloc + b"\r\n"
    if parsed.userinfo:
        userpass = f"{parsed.username}:{parsed.password}".encode()
        head += b"Authorization: Basic " + base64.b64encode(userpass) + b"\r\n"
    return Target((scheme, host, parsed.port or DEFAULT_PORTS[scheme]), head)


def request_bytes(head: bytes, headers: dict[str, str], body: bytes) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return b"%sContent-Length: %d\r\n%s\r\n%s" % (head, len(body), lines.encode("ascii"), body)


class _Unexpected(Exception):
    """Bytes from the server when no answer was awaited."""


class Connection(asyncio.Protocol):
    """One connection: sends a request, and resolves with the answer's status once the whole
    answer has been read."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[int] | None = None
        self._headers_done = False
        self._framed = False  # the answer says where its body ends (length or chunks)
        self.answered = False  # some byte of the current answer arrived
        self.keep_alive = False
        self.closed = False
        self.idle_since = 0.0
        self.lost: asyncio.Future[None] = loop.create_future()  # done when the socket is

    # -- what the pool calls ----------------------------------------------------------

    async def request(self, data: bytes) -> int:
        assert self.transport is not None
        self._waiter = waiter = self._loop.create_future()
        self._headers_done = self._framed = self.answered = self.keep_alive = False
        self.transport.write(data)
        return await waiter

    @property
    def open(self) -> bool:
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    # -- asyncio ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # after a 101 (its answer), nothing is HTTP
            self.keep_alive = False
            self._fail(RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as problem:
            self.keep_alive = False
            reason = problem.__context__ if isinstance(problem.__context__, _Unexpected) else None
            self._fail(RemoteProtocolError(str(reason or f"malformed answer: {problem}")))

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost settles what is awaited

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed:  # its body ended with the connection
            self.keep_alive = False
            waiter.set_result(self._parser.get_status_code())
        elif exc is not None:
            waiter.set_exception(ReadError(str(exc) or type(exc).__name__))
        elif not self.answered:
            waiter.set_exception(
                RemoteProtocolError("Server disconnected without sending a response.")
            )
        else:
            waiter.set_exception(
                RemoteProtocolError("Server disconnected before the answer was complete.")
            )

    # -- httptools --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            raise _Unexpected("the server answered a request it was not sent")
        self._headers_done = self._framed = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or name == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # 100 Continue, 103: the answer follows
            self._headers_done = False
            return
        self.keep_alive = self._parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _fail(self, problem: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(problem)
        self.close()


class Poster:
    """Keep-alive connections per origin, for one event loop."""

    def __init__(
        self,
        *,
        keepalive: float = KEEPALIVE_SECONDS,
        max_idle: int = MAX_IDLE_PER_ORIGIN,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._keepalive = keepalive
        self._max_idle = max_idle
        self._ssl = ssl_context
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()  # every connection not yet lost, idle or in use
        self._closed = False

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        """POST `body` to `url` and read the whole answer: its status code."""
        where = target(url)
        data = request_bytes(where.head, headers, body)
        async with asyncio.timeout(timeout):
            connection = self._take_idle(where.origin)
            if connection is not None:
                try:
                    return await self._exchange(where.origin, connection, data)
                except (ReadError, RemoteProtocolError):
                    if connection.answered:
                        raise
                    # closed by the server while idle, before it read this request: once more
            connection = await self._connect(where)
            return await self._exchange(where.origin, connection, data)

    def connections(self) -> int:
        """How many idle connections are kept (open or not yet noticed closed)."""
        return sum(len(idle) for idle in self._idle.values())

    def close(self) -> None:
        """Close the idle connections; those in use close when their answer is read."""
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()

    async def aclose(self, wait: float = 1.0) -> None:
        """Close every connection, in use or not, and wait (at most `wait` seconds) until
        their sockets are closed; those still open then (a TLS peer slow to say goodbye)
        are aborted."""
        self.close()
        connections = [c for c in self._open if not c.lost.done()]
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait([c.lost for c in connections], timeout=wait)
        for connection in connections:
            if not connection.lost.done() and connection.transport is not None:
                connection.transport.abort()
        self._open.clear()

    async def _exchange(self, origin: Origin, connection: Connection, data: bytes) -> int:
        try:
            status = await connection.request(data)
        except BaseException:  # an error, a timeout or a cancellation: the connection is spent
            connection.close()
            raise
        if connection.keep_alive and connection.open and not self._closed:
            self._put_idle(origin, connection)
        else:
            connection.close()
        return status

    async def _connect(self, where: Target) -> Connection:
        loop = asyncio.get_running_loop()
        _, host, port = where.origin
        context = self._ssl_context() if where.tls else None
        try:
            _, connection = await loop.create_connection(
                lambda: Connection(loop),
                host,
                port,
                ssl=context,
                server_hostname=host if context is not None else None,
            )
        except OSError as problem:  # refused, unreachable, unresolved, TLS (SSLError)
            raise ConnectError(str(problem) or type(problem).__name__) from problem
        opened = self._open
        opened.add(connection)
        connection.lost.add_done_callback(lambda _lost: opened.discard(connection))
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context
        return self._ssl

    def _take_idle(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()  # the most recently used
            if connection.open and now - connection.idle_since < self._keepalive:
                return connection
            connection.close()
        return None

    def _put_idle(self, origin: Origin, connection: Connection) -> None:
        now = asyncio.get_running_loop().time()
        connection.idle_since = now
        idle = self._idle.setdefault(origin, [])
        while idle and (not idle[0].open or now - idle[0].idle_since >= self._keepalive):
            idle.pop(0).close()
        if len(idle) >= self._max_idle:
            connection.close()
        else:
            idle.append(connection)
