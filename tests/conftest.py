from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.tls import TlsFiles

pytest_plugins = ["pytester"]

START = datetime(2026, 3, 2, 9, 30, 0, 125000, tzinfo=UTC)
BASIC = "Basic " + base64.b64encode(b"aaa012:abc123456789").decode()
# Responses captured from the live API (the Python SDK's test data), kept in the project:
# tests/fixtures/live/SOURCES.md says where they come from.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "live" / "python"


@pytest.fixture
def clock() -> Clock:
    return Clock.frozen_at(START)


@pytest.fixture
def emulator(clock: Clock) -> Emulator:
    return Emulator(Settings(seed=1), clock=clock, ids=Ids(1))


@pytest.fixture
def app(clock: Clock) -> Starlette:
    return create_app(Settings(seed=1), clock=clock, ids=Ids(1))


def make_app(**settings: Any) -> Starlette:
    """An app from `Settings(seed=1, **settings)`, its clock frozen at START, that runs no
    timer in real time: what falls due happens at the latest on the next request. A test
    module whose tests want it for `client` overrides `app` with it."""
    return create_app(
        Settings(seed=1, **settings), clock=Clock.frozen_at(START), ids=Ids(1), run_timers=False
    )


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": BASIC}) as test_client:
        yield test_client


def app_emulator(app: Starlette) -> Emulator:
    return app.state.emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(app: Starlette, *, tls: TlsFiles | None = None, port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its base URL.

    With `tls`, it serves HTTPS with those files, and the URL names `localhost`."""
    port = port or free_port()
    options = {}
    if tls is not None:
        options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **options,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"https://localhost:{port}" if tls is not None else f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_url(app: Starlette) -> Iterator[str]:
    with serving(app) as url:
        yield url
