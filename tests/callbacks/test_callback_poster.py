"""The callback poster over real sockets: keep-alive, answers of every framing, peers that
close, hang or answer garbage, refused connections and https; on asyncio and on uvloop
(the event loop the emulator's own server runs)."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
import uvloop

from meetings_emulator.callbacks.poster import (
    ConnectError,
    Poster,
    RemoteProtocolError,
    UnsupportedProtocol,
)

from ..conftest import free_port
from ..sockets import listening

pytestmark = pytest.mark.network

HEADERS = {"Content-Type": "application/json", "X-Meetings-Event": "room:expired"}
BODY = b'{"event":"room:expired"}'
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


@dataclass
class Request:
    connection: int  # which connection it came on, in the order they were accepted
    head: bytes
    body: bytes


# What the server does with a request: bytes to send, then whether to keep the connection.
# `None` sends nothing and closes; `HANG` sends nothing and waits until the test ends.
Answer = tuple[bytes, bool] | None
HANG: Answer = (b"", True)


@dataclass
class RawServer:
    """A TCP server that reads HTTP requests and answers with whatever bytes a test scripts."""

    url: str
    answer: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    connections: int = 0


@pytest.fixture
def server() -> Iterator[RawServer]:
    stop = threading.Event()
    raw = RawServer("", lambda _request: (NO_CONTENT, True))
    lock = threading.Lock()

    def serve(conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                request = Request(number, head, buffer[:length])
                buffer = buffer[length:]
                with lock:
                    raw.requests.append(request)
                reply = raw.answer(request)
                if reply is None:
                    return
                data, keep = reply
                if reply is HANG:
                    stop.wait(10)
                    return
                for piece in data if isinstance(data, list) else [data]:
                    conn.sendall(piece)
                    time.sleep(0.005)  # so the pieces arrive apart
                if not keep:
                    return

    def numbered(conn: socket.socket) -> None:
        with lock:
            raw.connections += 1
            number = raw.connections
        serve(conn, number)

    with listening(numbered, stop) as port:
        raw.url = f"http://127.0.0.1:{port}"
        yield raw


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return asyncio.run if request.param == "asyncio" else uvloop.run


async def post_all(poster: Poster, url: str, times: int = 1, timeout: float = 5) -> list[Any]:
    """Post `times` times one after the other; each outcome is a status or the exception."""
    outcomes: list[Any] = []
    for _ in range(times):
        try:
            outcomes.append(await poster.post(url, HEADERS, BODY, timeout))
        except Exception as problem:
            outcomes.append(problem)
    await poster.aclose()
    return outcomes


def test_a_kept_connection_carries_every_post(run: Any, server: RawServer) -> None:
    assert run(post_all(Poster(), server.url + "/hooks?kind=rooms", 5)) == [204] * 5
    assert server.connections == 1
    first = server.requests[0]
    lines = first.head.decode().split("\r\n")
    assert lines[0] == "POST /hooks?kind=rooms HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == server.url.removeprefix("http://")
    assert headers["Content-Length"] == str(len(BODY))
    assert headers["X-Meetings-Event"] == "room:expired"
    assert first.body == BODY


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        [b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 11\r\n\r\nhello", b" world"],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["content-length", "chunked", "in-pieces", "after-100-continue"],
)
def test_answers_are_read_to_their_end_and_the_connection_kept(
    run: Any, server: RawServer, answer: Any
) -> None:
    server.answer = lambda _request: (answer, True)
    assert run(post_all(Poster(), server.url, 3)) == [200] * 3
    assert server.connections == 1


@pytest.mark.parametrize(
    ("answer", "keep"),
    [
        (b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", True),
        (b"HTTP/1.0 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\n\r\nthe body ends with the connection", False),
        (NO_CONTENT, False),  # the server just closes after answering
    ],
    ids=["connection-close", "http-1.0", "read-until-close", "peer-closes"],
)
def test_a_connection_the_answer_ends_is_not_used_again(
    run: Any, server: RawServer, answer: bytes, keep: bool
) -> None:
    status = int(answer.split(b" ")[1])
    server.answer = lambda _request: (answer, keep)
    assert run(post_all(Poster(), server.url, 3)) == [status] * 3
    assert server.connections == 3
    assert len(server.requests) == 3  # none sent twice


def test_a_kept_connection_closed_by_the_server_is_replaced_without_losing_the_post(
    run: Any, server: RawServer
) -> None:
    # The second request arrives on a connection the server has given up on: it closes it
    # unanswered (as a server whose keep-alive timer ran out does); the post goes on a new one.
    server.answer = lambda request: (
        None if request.connection == 1 and len(server.requests) == 2 else (NO_CONTENT, True)
    )
    assert run(post_all(Poster(), server.url, 3)) == [204] * 3
    assert server.connections == 2
    assert [request.connection for request in server.requests] == [1, 1, 2, 2]


def test_a_connection_idle_too_long_is_not_used_again(run: Any, server: RawServer) -> None:
    async def posts() -> list[Any]:
        poster = Poster(keepalive=0.05)
        first = await poster.post(server.url, HEADERS, BODY, 5)
        await asyncio.sleep(0.1)
        second = await poster.post(server.url, HEADERS, BODY, 5)
        await poster.aclose()
        return [first, second]

    assert run(posts()) == [204, 204]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "Server disconnected without sending a response."),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", False), "before the answer"),
        ((b"hello, this is not HTTP\r\n\r\n", True), "malformed answer"),
    ],
    ids=["closed-unanswered", "closed-mid-answer", "garbage"],
)
def test_a_broken_answer_is_an_error_and_a_new_connection_follows(
    run: Any, server: RawServer, answer: Answer, message: str
) -> None:
    server.answer = lambda _request: answer
    first, second = run(post_all(Poster(), server.url, 2))
    assert isinstance(first, RemoteProtocolError)
    assert message in str(first)
    assert isinstance(second, RemoteProtocolError)
    assert len(server.requests) == server.connections == 2  # no post sent twice


def test_redirects_are_answers_not_followed(run: Any, server: RawServer) -> None:
    moved = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    server.answer = lambda _request: (moved, True)
    assert run(post_all(Poster(), server.url + "/here")) == [302]
    assert len(server.requests) == 1


def test_a_peer_that_never_answers_times_out_and_its_connection_is_dropped(
    run: Any, server: RawServer
) -> None:
    server.answer = lambda request: HANG if len(server.requests) == 1 else (NO_CONTENT, True)
    first, second = run(post_all(Poster(), server.url, 2, timeout=0.2))
    assert isinstance(first, TimeoutError)
    assert second == 204
    assert server.connections == 2


def test_a_refused_connection_is_a_connect_error(run: Any) -> None:
    [outcome] = run(post_all(Poster(), f"http://127.0.0.1:{free_port()}/"))
    assert isinstance(outcome, ConnectError)


def test_a_url_with_a_user_sends_basic_credentials(run: Any, server: RawServer) -> None:
    url = server.url.replace("http://", "http://hook:p%40ss@") + "/in"
    assert run(post_all(Poster(), url)) == [204]
    head = server.requests[0].head.decode()
    assert f"Authorization: Basic {base64.b64encode(b'hook:p@ss').decode()}" in head
    assert "hook" not in head.split("\r\n")[1]  # the Host line


def test_only_http_and_https_are_posted_to(run: Any) -> None:
    [outcome] = run(post_all(Poster(), "ftp://127.0.0.1/x"))
    assert isinstance(outcome, UnsupportedProtocol)


def test_https_is_checked_against_the_trusted_cas(
    run: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    port = free_port()
    served: list[bytes] = []

    async def serve_and_post() -> list[Any]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                served.append(head + await reader.readexactly(len(BODY)))
                writer.write(NO_CONTENT)
                await writer.drain()

        async def quietly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handle(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                writer.close()

        listener = await asyncio.start_server(quietly, "127.0.0.1", port, ssl=server_context)
        try:
            return await post_all(Poster(), f"https://localhost:{port}/tls", 2)
        finally:
            listener.close()

    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    assert run(serve_and_post()) == [204, 204]
    assert len(served) == 2

    monkeypatch.delenv("SSL_CERT_FILE")  # certifi's CAs do not know this one
    [refused, _] = run(serve_and_post())
    assert isinstance(refused, ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused)
    assert len(served) == 2


def test_posts_at_once_open_connections_that_later_posts_reuse(run: Any, server: RawServer) -> None:
    async def bursts() -> list[Any]:
        poster = Poster()
        outcomes: list[Any] = []
        for _ in range(3):
            posts = (poster.post(server.url, HEADERS, BODY, 5) for _ in range(20))
            outcomes += await asyncio.gather(*posts)
        await poster.aclose()
        return outcomes

    assert run(bursts()) == [204] * 60
    assert server.connections == 20
