"""Connections that hold a file descriptor without finishing a request are closed in time.

uvicorn closes a kept-alive connection left idle after an answer (`timeout_keep_alive`),
but not one that never sends a request, nor one that sends part of a request and stops,
nor one that sends it a byte at a time: each holds a file descriptor for as long as its
peer likes, and enough of them (1,100 under a limit of 1,024 open files) lock every client
out. `guarded` makes uvicorn's HTTP protocol class close such a connection once it has had
`request_timeout` seconds to send a whole request:

- from the moment it is opened, for its first request;
- from the first byte of each later request (a kept-alive connection idle between requests
  is uvicorn's own `timeout_keep_alive`, as before);
- bytes trickling in do not extend the time: it counts from the request's start.

A request that arrived whole is never cut off, however long its answer takes (a flush, an
event stream). A connection closed with part of a request in is answered `408 Request
Timeout` first, when no answer has begun; one that sent nothing is just closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("meetings_emulator.connections")

REQUEST_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 47\r\nconnection: close\r\n\r\n"
    b"The request did not arrive whole in time: 408.\n"
)


class _Guard:
    """What both parsers' protocols share: the timer, and what happens when it fires."""

    request_timeout: float
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    client: tuple[str, int] | None
    timeout_keep_alive_task: asyncio.TimerHandle | None
    _request_timer: asyncio.TimerHandle | None = None
    _began = False  # part of a request has arrived
    _head_done = False  # ... and its head was whole (an answer may have begun)

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]  # the protocol's, after this
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        if self._request_timer is None and not self.transport.is_closing():
            self._request_timer = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _waiting_for_nothing(self) -> bool:
        """No request under way, none being answered, and no keep-alive timer: bytes that
        begin no request (blank lines) must not keep the connection for ever."""
        cycle = self.cycle
        return (
            self._request_timer is None
            and self.timeout_keep_alive_task is None
            and (cycle is None or cycle.response_complete)
        )

    def _too_slow(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answering = self._head_done and cycle is not None and cycle.response_started
        if self._head_done and cycle is not None:
            cycle.disconnected = True  # the app reading the body is told the client left
            cycle.message_event.set()
        if self._began and not answering:
            self.transport.write(REQUEST_TIMEOUT_ANSWER)
        log.debug(
            "closed a connection from %s: no whole request within %g s",
            f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown client",
            self.request_timeout,
            extra={"began": self._began},
        )
        self.transport.close()


def guarded(base: type[asyncio.Protocol], request_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class `base` (httptools or h11), closing connections that do
    not send a whole request within `request_timeout` seconds."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    mixin: type
    if issubclass(base, H11Protocol):
        mixin = _h11_guard()
    else:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        if not issubclass(base, HttpToolsProtocol):
            raise TypeError(f"no guard for {base.__name__}: only httptools and h11")
        mixin = _HttpToolsGuard
    return type(f"Guarded{base.__name__}", (mixin, base), {"request_timeout": request_timeout})


def guarded_protocol(request_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's default HTTP protocol, guarded: httptools, which the project installs (its
    callback poster parses with it too), or h11 where uvicorn cannot import httptools."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return guarded(AutoHTTPProtocol, request_timeout)


class _HttpToolsGuard(_Guard):
    """For `HttpToolsProtocol`: llhttp tells where each request begins and ends."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_nothing():
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began, self._head_done = True, False
        self._arm()

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._began = self._head_done = False
        self._disarm()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()


def _h11_guard() -> type:
    import h11

    whole = (h11.DONE, h11.MUST_CLOSE)

    class _H11Guard(_Guard):
        """For `H11Protocol`: the state h11 has the client in tells where it stands."""

        conn: Any

        def handle_events(self) -> None:
            under_way = self.cycle if self._head_done else None
            super().handle_events()
            if self.transport.is_closing():
                return
            state = self.conn.their_state
            if under_way is not None and (self.cycle is not under_way or state is h11.IDLE):
                # The request under way ended in that call, the client never seen at DONE:
                # it was answered before its body had all come, and uvicorn read the rest
                # past and began the next cycle (and maybe the next request) at once.
                self._began = self._head_done = False
                self._disarm()
            if state in whole:
                self._began = self._head_done = False
                self._disarm()
            elif state is h11.SEND_BODY:
                self._began = self._head_done = True
                self._arm()
            elif state is h11.IDLE and self.conn.trailing_data[0]:
                self._began, self._head_done = True, False
                self._arm()
            elif self._waiting_for_nothing():
                self._arm()

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

    return _H11Guard
