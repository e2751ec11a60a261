"""Connections that hold a file descriptor without finishing a request: ones that send
nothing, half a request, or a request a byte at a time, and kept-alive ones left idle. The
served emulator closes each within its timeout, and every other client is still served.

Each case runs on both of uvicorn's HTTP/1.1 protocols (httptools, its default, and h11, its
fallback): the guard in `http/connections.py` follows each parser its own way, and a client
must see the same either way."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from ..tools.process import PROTOCOLS, Running, emulator_command

pytestmark = pytest.mark.network

TIMEOUT = 0.5  # --request-timeout in these tests
KEEP_ALIVE = 0.5  # --keep-alive-timeout, where a test sets it
MARGIN = 3.0  # a loaded machine's share, on top of a timeout
HALF_REQUEST = (
    b"POST /v1/meetings/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YTpi\r\n"
    b'Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"display_'
)
HEALTH = b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
TOO_SLOW = (  # the whole of what a client that was too slow receives
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 47\r\nconnection: close\r\n\r\n"
    b"The request did not arrive whole in time: 408.\n"
)


@pytest.fixture(params=PROTOCOLS)
def http(request: pytest.FixtureRequest) -> str:
    """The HTTP/1.1 protocol uvicorn serves with."""
    protocol: str = request.param
    return protocol


@contextlib.contextmanager
def emulator(
    http: str,
    request_timeout: float,
    keep_alive: float | None = None,
    open_files: int | None = None,
) -> Iterator[Running]:
    """The served emulator, as a user starts it, its timeouts set by its environment; with
    `open_files`, under that soft limit of open files (as `ulimit -n` sets it)."""
    env = {"MEETINGS_EMULATOR_REQUEST_TIMEOUT": str(request_timeout)}
    if keep_alive is not None:
        env["MEETINGS_EMULATOR_KEEP_ALIVE_TIMEOUT"] = str(keep_alive)
    command = emulator_command(http=http, open_files=open_files)
    with Running.start("--port", "0", command=command, env=env) as running:
        yield running


def address(running: Running) -> tuple[str, int]:
    parts = urlsplit(running.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def connect(running: Running) -> socket.socket:
    sock = socket.create_connection(address(running), timeout=10)
    return sock


def closed_after(sock: socket.socket, started: float, limit: float) -> tuple[float, bytes]:
    """Seconds from `started` until the server closed `sock` (reading what it sent), or
    fails if it is still open at `limit` seconds."""
    received = b""
    while True:
        left = started + limit - time.monotonic()
        if left <= 0:
            pytest.fail(f"still open after {limit:g} s; received {received!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return time.monotonic() - started, received
        received += chunk


def split_answers(data: bytes) -> tuple[list[bytes], bytes]:
    """`data` cut into whole HTTP answers (each has a Content-Length here), and what follows
    the last whole one."""
    answers = []
    while True:
        head, blank, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)\r?$", head) if blank else None
        if length is None or len(rest) < int(length.group(1)):
            return answers, data
        cut = int(length.group(1))
        answers.append(head + blank + rest[:cut])
        data = rest[cut:]


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def answered(sock: socket.socket, count: int = 1) -> list[bytes]:
    """The next `count` answers on `sock`, whole, when nothing else came with them."""
    received = b""
    sock.settimeout(5)
    while len(split_answers(received)[0]) < count:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {received!r}"
        received += chunk
    answers, rest = split_answers(received)
    assert (len(answers), rest) == (count, b""), received
    return answers


def health(running: Running, timeout: float = 5) -> dict[str, object]:
    with urllib.request.urlopen(running.url + "/_emulator/health", timeout=timeout) as answer:
        assert answer.status == 200
        body: dict[str, object] = json.loads(answer.read())
        return body


def test_idle_and_half_sent_connections_are_closed_and_others_still_served(http: str) -> None:
    with emulator(http, TIMEOUT) as running:
        started = time.monotonic()
        idle = [connect(running) for _ in range(50)]
        half = connect(running)
        half.sendall(HALF_REQUEST)
        assert health(running)["status"] == "ok"  # served while they hang on

        for sock in idle:
            took, received = closed_after(sock, started, TIMEOUT + MARGIN)
            assert received == b""  # nothing was asked: nothing is answered
            assert took >= TIMEOUT * 0.9
            sock.close()
        took, received = closed_after(half, started, TIMEOUT + MARGIN)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert b"connection: close" in received.lower()
        half.close()
        assert health(running)["status"] == "ok"


def test_a_request_sent_a_byte_at_a_time_does_not_extend_its_time(http: str) -> None:
    with emulator(http, TIMEOUT) as running:
        sock = connect(running)
        started = time.monotonic()
        request = b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
        closed = False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed under us: the point
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > TIMEOUT + MARGIN:
                break
        if not closed:
            closed_after(sock, started, TIMEOUT + MARGIN)
        assert time.monotonic() - started < TIMEOUT + MARGIN
        sock.close()


CUT_SHORT = {
    "in the request line": b"GET /_emulator/heal",
    "in the headers": b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: appl",
    "in the body": HALF_REQUEST,
    "in a chunk": (
        b"POST /v1/meetings/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YTpi\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'24\r\n{"display_name'
    ),
}


def test_a_request_that_stops_anywhere_is_answered_408_and_closed(http: str) -> None:
    with emulator(http, TIMEOUT) as running:
        started = time.monotonic()
        stalled = {where: connect(running) for where in CUT_SHORT}
        for where, sock in stalled.items():
            sock.sendall(CUT_SHORT[where])
        seen = {}
        for where, sock in stalled.items():
            took, received = closed_after(sock, started, TIMEOUT + MARGIN)
            seen[where] = (received, took >= TIMEOUT * 0.9)
            sock.close()
        with httpx.Client(base_url=running.url, timeout=10) as client:
            calls = client.get("/_emulator/requests").json()["requests"]
            server_errors = client.get("/_emulator/requests", params={"status": "5xx"}).json()
        stopped = running.stop()
    assert seen == {where: (TOO_SLOW, True) for where in CUT_SHORT}
    # The API calls cut in their bodies are disconnects, not server errors: one line each.
    assert sorted((c["method"], c["status"], c["error"], c["body"]) for c in calls) == [
        ("POST", None, "client disconnected", '{"display_'),
        ("POST", None, "client disconnected", '{"display_name'),
    ]
    assert server_errors == {"requests": []}
    lines = [line for line in stopped.stderr.splitlines() if "client disconnected" in line]
    assert len(lines) == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr


def test_each_request_on_a_kept_alive_connection_has_its_own_time(http: str) -> None:
    """Whole requests on one connection, longer than the timeout in all, are each served;
    one left unfinished after them is closed a whole timeout after its first byte, the same
    whether it came alone or right behind the one before (pipelined)."""
    with emulator(http, TIMEOUT, keep_alive=30) as running, connect(running) as sock:
        for _ in range(3):
            sock.sendall(HEALTH)
            assert [status(answer) for answer in answered(sock)] == [200]
            time.sleep(TIMEOUT * 0.6)
        with connect(running) as pipelined:
            sent = time.monotonic()
            sock.sendall(b"GET /_emulator/heal")
            pipelined.sendall(HEALTH + b"GET /_emulator/heal")
            took, received = closed_after(sock, sent, TIMEOUT + MARGIN)
            assert received == TOO_SLOW
            assert took >= TIMEOUT * 0.9
            took, received = closed_after(pipelined, sent, TIMEOUT + MARGIN)
            answers, rest = split_answers(received)
            assert [status(answer) for answer in answers] == [200, 408]
            assert (answers[1], rest) == (TOO_SLOW, b"")
            assert took >= TIMEOUT * 0.9


def test_a_request_answered_before_its_body_came_leaves_the_next_its_own_time(
    http: str,
) -> None:
    """An answer can go before the request's body has all come (here, a 401 for want of
    credentials). The rest of that body, once it comes, ends the request: the next one's
    time counts from its own first byte. Until then the connection is held to the timeout,
    and closed without a second answer."""
    body = b'{"display_name": "x"}'
    unauthorized = (
        b"POST /v1/meetings/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body[:4])
    )
    rest = body[4:]
    then = {  # what follows the rest of the body
        "a request line cut short": b"GET /_emulator/heal",
        "a request cut in its body": HALF_REQUEST,
        "nothing": None,
    }
    with emulator(http, TIMEOUT, keep_alive=30) as running:
        started = time.monotonic()
        socks = {case: connect(running) for case in then}
        for sock in socks.values():
            sock.sendall(unauthorized)
        for sock in socks.values():
            assert [status(answer) for answer in answered(sock)] == [401]
        time.sleep(TIMEOUT * 0.6)
        sent = time.monotonic()
        for case, sock in socks.items():
            following = then[case]
            if following is not None:
                sock.sendall(rest + following)
        seen = {}
        for case, sock in socks.items():
            if then[case] is None:
                took, received = closed_after(sock, started, TIMEOUT + MARGIN)
                seen[case] = (received, took >= TIMEOUT * 0.9)
            else:
                took, received = closed_after(sock, sent, TIMEOUT + MARGIN)
                seen[case] = (received, took >= TIMEOUT * 0.9)
            sock.close()
    assert seen == {
        "a request line cut short": (TOO_SLOW, True),
        "a request cut in its body": (TOO_SLOW, True),
        "nothing": (b"", True),
    }


def test_a_slow_request_within_the_timeout_is_served(http: str) -> None:
    with emulator(http, 3) as running:
        sock = connect(running)
        body = b'{"display_name": "slow but in time"}'
        sock.sendall(
            b"POST /v1/meetings/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YTpi\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        time.sleep(0.5)
        sock.sendall(body[:10])
        time.sleep(0.5)
        sock.sendall(body[10:])
        sock.settimeout(5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 201 ")
        sock.close()


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(http: str) -> None:
    with emulator(http, 30, keep_alive=KEEP_ALIVE) as running:
        sock = connect(running)
        sock.sendall(HEALTH)
        assert [status(answer) for answer in answered(sock)] == [200]
        started = time.monotonic()
        took, received = closed_after(sock, started, KEEP_ALIVE + MARGIN)
        assert received == b""
        assert took >= KEEP_ALIVE * 0.9
        sock.close()


def test_an_event_stream_outlives_the_request_timeout(http: str) -> None:
    """The timeout is for sending a request: a stream the server answers with stays open."""
    with emulator(http, TIMEOUT) as running:
        sock = connect(running)
        sock.sendall(b"GET /_emulator/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT * 2.5)
        request = urllib.request.Request(
            running.url + "/_emulator/clock",
            data=json.dumps({"advance_seconds": 60}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
        received = b""
        deadline = time.monotonic() + 5
        while b"event: state" not in received and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            assert chunk, "the stream was closed"
            received += chunk
        assert b"event: state" in received
        sock.close()


def test_more_idle_connections_than_open_files_lock_no_one_out(http: str) -> None:
    """1,100 idle sockets under a limit of 1,024 open files locked every client out; here,
    200 under 128: they are closed in time, and a client is served again."""
    with emulator(http, TIMEOUT, open_files=128) as running:
        started = time.monotonic()
        idle = []
        for _ in range(200):
            with contextlib.suppress(OSError):
                idle.append(connect(running))
        for sock in idle:
            closed_after(sock, started, 2 * TIMEOUT + 2 * MARGIN)
            sock.close()
        assert health(running)["status"] == "ok"
        assert time.monotonic() - started < 2 * TIMEOUT + 2 * MARGIN
