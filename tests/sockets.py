"""A bare TCP listener for tests that need a peer speaking (or not speaking) HTTP by hand."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def listening(handle: Callable[[socket.socket], None], stop: threading.Event) -> Iterator[int]:
    """A listener on a free loopback port, giving each connection to `handle` on a thread of
    its own, until `stop` is set (on leaving, at the latest); yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
