"""HTTP/1.1 by hand over a real socket: a body sent while the answer is read, a body cut
short, and what the server's process holds in temporary files meanwhile."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_before_answer: int  # body bytes the client had sent when the answer's first byte came
    sent: int = 0  # body bytes sent in all


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def head(method: str, path: str, host: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """`pieces` as chunked transfer coding, ended by the last chunk."""
    for piece in pieces:
        if piece:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError(f"the server closed the connection after {data!r}")
        data += more
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not more:
            break
        body += more
    return int(status_line.split()[1]), headers, body


def exchange(
    url: str, request_head: bytes, body: Iterable[bytes], *, timeout: float = 60
) -> Answer:
    """Send `request_head`, then `body` piece by piece on a thread of its own, until the
    server answers (or hangs up); the answer is read as the body goes."""
    answered = threading.Event()
    sent = [0, 0]  # when answered, in all

    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(request_head)

        def send_body() -> None:
            with contextlib.suppress(OSError):
                for piece in body:
                    if answered.is_set():
                        return
                    sock.sendall(piece)
                    sent[1] += len(piece)

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        first = sock.recv(1, socket.MSG_PEEK)
        sent[0] = sent[1]
        answered.set()
        if not first:
            raise ConnectionError("the server closed the connection without an answer")
        status, headers, content = _read_answer(sock)
        sender.join(timeout)
    return Answer(status, headers, content, sent[0], sent[1])


def hang_up_mid_body(url: str, request_head: bytes, part: bytes) -> None:
    """Send the head and part of the body the head announces, then close the connection."""
    with socket.create_connection(address(url), timeout=10) as sock:
        sock.sendall(request_head + part)
        time.sleep(0.2)  # let the server start reading it


class TempFileWatch:
    """The largest size any temporary file open in this process reached while watched (the
    server runs in this process, on a thread); files open before the watch are left out."""

    def __init__(self) -> None:
        self.folder = str(Path(tempfile.gettempdir()).resolve())
        self.largest = 0
        self._before = set(self._open())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _open(self) -> Iterator[tuple[str, str]]:
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(self.folder):
                    yield fd, target

    def _watch(self) -> None:
        while not self._stop.is_set():
            for fd, target in self._open():
                if (fd, target) in self._before:
                    continue
                with contextlib.suppress(OSError):
                    self.largest = max(self.largest, os.stat(f"/proc/self/fd/{fd}").st_size)
            time.sleep(0.002)

    def __enter__(self) -> TempFileWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
