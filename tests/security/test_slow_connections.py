"""Connections that hold a file descriptor without finishing a request: ones that send
nothing, half a request, or a request a byte at a time, and kept-alive ones left idle. The
served emulator closes each within its timeout, and every other client is still served."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from ..tools.process import Running

pytestmark = pytest.mark.network

TIMEOUT = 1.0  # --request-timeout in these tests
MARGIN = 3.0  # a loaded machine's share, on top of a timeout
HALF_REQUEST = (
    b"POST /v1/meetings/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YTpi\r\n"
    b'Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"display_'
)


@contextlib.contextmanager
def emulator(
    request_timeout: float, keep_alive: float | None = None, open_files: int | None = None
) -> Iterator[Running]:
    """The served emulator, as a user starts it, its timeouts set by its environment; with
    `open_files`, under that soft limit of open files (as `ulimit -n` sets it)."""
    env = {"MEETINGS_EMULATOR_REQUEST_TIMEOUT": str(request_timeout)}
    if keep_alive is not None:
        env["MEETINGS_EMULATOR_KEEP_ALIVE_TIMEOUT"] = str(keep_alive)
    command = None
    if open_files is not None:
        command = [
            sys.executable,
            "-c",
            "import resource, sys\n"
            "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, hard))\n"
            "from meetings_emulator.cli import main\n"
            "sys.exit(main())\n",
        ]
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


def health(running: Running, timeout: float = 5) -> dict[str, object]:
    with urllib.request.urlopen(running.url + "/_emulator/health", timeout=timeout) as answer:
        assert answer.status == 200
        body: dict[str, object] = json.loads(answer.read())
        return body


def test_idle_and_half_sent_connections_are_closed_and_others_still_served() -> None:
    with emulator(TIMEOUT) as running:
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


def test_a_request_sent_a_byte_at_a_time_does_not_extend_its_time() -> None:
    with emulator(TIMEOUT) as running:
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


def test_a_slow_request_within_the_timeout_is_served() -> None:
    with emulator(3) as running:
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


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() -> None:
    with emulator(30, keep_alive=1) as running:
        sock = connect(running)
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        took, _ = closed_after(sock, started, 1 + MARGIN)
        assert took >= 0.9
        sock.close()


def test_an_event_stream_outlives_the_request_timeout() -> None:
    """The timeout is for sending a request: a stream the server answers with stays open."""
    with emulator(TIMEOUT) as running:
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


def test_more_idle_connections_than_open_files_lock_no_one_out() -> None:
    """1,100 idle sockets under a limit of 1,024 open files locked every client out; here,
    200 under 128: they are closed in time, and a client is served again."""
    with emulator(TIMEOUT, open_files=128) as running:
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
