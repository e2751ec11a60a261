"""A pytest plugin: a running emulator, its clock and a callback inbox as fixtures.

Installing the package registers it (entry point `pytest11`). Fixtures:

- `meetings_emulator`: an emulator served on a free loopback port, reset before each test
  (clock frozen at the start of the session, callbacks to `meetings_inbox`). It has
  `base_url`, `api_url` (`.../v1/meetings`), `auth_header`, an `http` client (httpx, with
  credentials), and helpers `join`, `admit`, `leave`, `start_recording`,
  `stop_recording`, `session`, `flush`, `wait_for_callbacks`.
- `meetings_base_url`: its base URL, for a client under test.
- `meetings_clock`: `advance(seconds or timedelta)`, `set(datetime)`, `now()`.
- `meetings_inbox`: the callbacks received (`events`, `payloads`, `received`), emptied
  before each test; `meetings_emulator.flush()` first, so every callback has arrived.

- `meetings_tenant`: a tenant of its own on the session's server for each test, with its own
  frozen clock and credentials, dropped after the test; no reset of the whole server, so
  tests can run at the same time (`pytest_tenant.py`).

The server lives for the whole session by default (under pytest-xdist: one per worker);
`meetings_emulator_scope = function` in the pytest ini file gives each test its own.
`meetings_emulator_url` (or `$MEETINGS_EMULATOR_URL`) names a server to use instead of
starting one: one server shared by every worker. The other options (seed, credentials,
public key, local links, tenancy, TLS, the clocks' start) are in `pytest_options.py`.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, create_receiver
from meetings_emulator.domain.clock import Clock, utc_now
from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.pytest_options import PluginConfig, add_options, read_config

# The meetings_tenant fixture, registered with this plugin (it builds on the fixtures here).
pytest_plugins = ["meetings_emulator.pytest_tenant"]

DEFAULT_AUTH = "Basic " + base64.b64encode(b"test-key:test-secret").decode()
CONFIG = pytest.StashKey[PluginConfig]()
LOOPBACK = "127.0.0.1"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    if config.option.help:  # as the command line's --help, shown whatever the environment
        return
    config.stash[CONFIG] = read_config(config)  # a bad value stops pytest here, on one line


def plugin_config(config: pytest.Config) -> PluginConfig:
    if CONFIG not in config.stash:
        config.stash[CONFIG] = read_config(config)
    return config.stash[CONFIG]


def _scope(fixture_name: str, config: pytest.Config) -> str:
    return plugin_config(config).scope


def _loopback_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    return sock


@contextlib.contextmanager
def _serve(app: Any, sock: socket.socket | None = None, **options: Any) -> Iterator[str]:
    """Serve `app` in a thread on `sock` (or a free loopback port); yield its base URL."""
    with sock or _loopback_socket() as bound:
        port = bound.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
                **options,
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [bound]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the meetings emulator did not start")
            time.sleep(0.01)
        scheme = "https" if "ssl_certfile" in options else "http"
        try:
            yield f"{scheme}://{LOOPBACK}:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@dataclass
class MeetingsInbox:
    """The callbacks the emulator sent during the current test."""

    inbox: Inbox = field(default_factory=Inbox)
    url: str = ""

    @property
    def received(self) -> list[Any]:
        return list(self.inbox.received)

    @property
    def events(self) -> list[str]:
        return self.inbox.events

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [item.payload for item in self.inbox.received]

    def clear(self) -> None:
        with self.inbox._arrived:
            self.inbox.received.clear()


@dataclass
class MeetingsClock:
    """The emulator's clock, frozen unless moved: moving it runs every due transition."""

    http: httpx.Client

    def now(self) -> datetime:
        moment = parse_iso(self.http.get("/_emulator/clock").json()["now"])
        assert moment is not None
        return moment

    def advance(self, by: float | timedelta) -> datetime:
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        return self._move({"advance_seconds": seconds})

    def set(self, moment: datetime) -> datetime:
        return self._move({"now": format_iso(moment)})

    def _move(self, body: dict[str, Any]) -> datetime:
        response = self.http.post("/_emulator/clock", json=body)
        response.raise_for_status()
        moment = parse_iso(response.json()["now"])
        assert moment is not None
        return moment


@dataclass
class MeetingsEmulator:
    """A running emulator and the people a test can play in its rooms."""

    base_url: str
    http: httpx.Client
    auth_header: str = DEFAULT_AUTH
    ca_file: str | None = None  # the CA to trust, when the server the plugin started is HTTPS

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1/meetings"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def join(self, room_id: str, name: str, *, is_host: bool = False, type: str = "Guest") -> Any:
        body = {"name": name, "is_host": is_host, "type": type}
        return self._call("POST", f"/_emulator/rooms/{room_id}/participants", json=body)

    def admit(self, room_id: str, participant_id: str) -> Any:
        return self._call("POST", f"/_emulator/rooms/{room_id}/participants/{participant_id}/admit")

    def leave(self, room_id: str, participant_id: str) -> None:
        self._call("DELETE", f"/_emulator/rooms/{room_id}/participants/{participant_id}")

    def session(self, room_id: str) -> Any:
        return self._call("GET", f"/_emulator/rooms/{room_id}/session")

    def start_recording(self, session_id: str, participant_id: str | None = None) -> Any:
        body = {} if participant_id is None else {"participant_id": participant_id}
        return self._call("POST", f"/_emulator/sessions/{session_id}/recordings", json=body)

    def stop_recording(self, recording_id: str) -> Any:
        return self._call("POST", f"/_emulator/recordings/{recording_id}/stop")

    def flush(self, timeout: float = 10) -> Any:
        """Wait until every callback that can be sent now has been."""
        return self._call("POST", "/_emulator/callbacks/flush", json={"timeout": timeout})

    def wait_for_callbacks(
        self,
        *,
        event: str | None = None,
        room_id: str | None = None,
        status: str | None = None,
        count: int = 1,
        timeout: float = 5,
    ) -> list[dict[str, Any]]:
        """The callbacks that match, once at least `count` are finished (delivered, failed
        or undelivered; or in `status`, when given): the server answers as soon as they are,
        without polling. Fails the test if they are not, after `timeout` seconds (60 at most).
        """
        filters = {"event": event, "room_id": room_id, "status": status}
        given = {key: value for key, value in filters.items() if value is not None}
        answer = self._call(
            "GET",
            "/_emulator/callbacks",
            params={**given, "count": count, "wait": timeout},
            timeout=timeout + 10,
        )
        deliveries: list[dict[str, Any]] = answer["deliveries"]
        if not answer["complete"]:
            seen = [(d["event"], d["room_id"], d["status"]) for d in deliveries]
            raise AssertionError(
                f"expected at least {count} callback(s) matching {given} within {timeout} s; "
                f"{len(deliveries)} finished: {seen}"
            )
        return deliveries

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset")


@pytest.fixture(scope="session")
def _meetings_receiver() -> Iterator[MeetingsInbox]:
    inbox = MeetingsInbox()
    with _serve(create_receiver(inbox=inbox.inbox)) as url:
        inbox.url = url + "/callbacks"
        yield inbox


@dataclass
class Served:
    """The emulator the session's tests use: one the plugin started, or one given by URL."""

    url: str
    http: httpx.Client  # with the plugin's credentials; its pool serves every tenant too
    pool: httpx.BaseTransport
    start: datetime  # where the clocks are frozen at first
    auth_header: str = DEFAULT_AUTH
    ca_file: str | None = None
    timeout: float = 30


@contextlib.contextmanager
def _client(
    url: str, auth_header: str, ca_file: str | None = None
) -> Iterator[tuple[httpx.Client, httpx.BaseTransport]]:
    """A client with the plugin's credentials, and its connection pool, to share."""
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=ca_file)
    pool = httpx.HTTPTransport(verify=verify)
    headers = {"Authorization": auth_header}
    with httpx.Client(base_url=url, headers=headers, transport=pool, timeout=30) as http:
        yield http, pool


@contextlib.contextmanager
def _started(
    options: PluginConfig, start: datetime, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str | None]]:
    """An emulator with the options' settings, in a thread: its URL and CA file (HTTPS)."""
    from meetings_emulator.http.tls import make_tls

    receiver: MeetingsInbox = request.getfixturevalue("_meetings_receiver")
    sock = _loopback_socket()
    port = sock.getsockname()[1]
    files = make_tls(LOOPBACK) if options.tls else None
    settings = options.settings(
        host=LOOPBACK,
        port=port,
        callback_url=receiver.url,
        callback_base_delay=1.0,
        tls_ca_pem=files.ca_pem if files else None,
    )
    tls: dict[str, Any] = {}
    ca_file = None
    if files is not None:
        folder = request.getfixturevalue("tmp_path_factory").mktemp("meetings-emulator-ca")
        ca_file = str(folder / "ca.pem")
        (folder / "ca.pem").write_text(files.ca_pem)
        tls = {"ssl_certfile": str(files.cert_file), "ssl_keyfile": str(files.key_file)}
    try:
        app = create_app(settings, clock=Clock.frozen_at(start))
        with _serve(app, sock, **tls) as url:
            if files is not None:
                files.remove_temporary()  # read at start
            yield url, ca_file
    finally:
        sock.close()
        if files is not None:
            files.remove_temporary()


def _check_given(url: str, http: httpx.Client) -> None:
    try:
        health = http.get("/_emulator/health", timeout=10)
    except httpx.HTTPError as problem:
        pytest.fail(f"meetings-emulator: nothing answers at {url}: {problem}", pytrace=False)
    if health.status_code != 200:
        pytest.fail(
            f"meetings-emulator: {url}/_emulator/health answered {health.status_code}",
            pytrace=False,
        )


@pytest.fixture(scope=_scope)
def _meetings_served(request: pytest.FixtureRequest) -> Iterator[Served]:
    options = plugin_config(request.config)
    start = options.start or utc_now().replace(microsecond=0)
    key, secret = options.credentials
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    with contextlib.ExitStack() as stack:
        if options.url is not None:
            url, ca_file = options.url.rstrip("/"), None
        else:
            url, ca_file = stack.enter_context(_started(options, start, request))
        http, pool = stack.enter_context(_client(url, auth, ca_file))
        if options.url is not None:
            _check_given(url, http)
        yield Served(url, http, pool, start, auth, ca_file)


@pytest.fixture(scope=_scope)
def _meetings_server(_meetings_served: Served) -> MeetingsEmulator:
    served = _meetings_served
    return MeetingsEmulator(served.url, served.http, served.auth_header, served.ca_file)


@pytest.fixture
def meetings_emulator(
    _meetings_server: MeetingsEmulator, _meetings_receiver: MeetingsInbox
) -> MeetingsEmulator:
    """A running emulator with empty state (its clock stays where the last test left it).
    The default tenant alone is reset: tests on the same server that use `meetings_tenant`
    (other xdist workers, on a shared server) keep their tenants."""
    _meetings_server._call("POST", "/_emulator/reset", params={"tenant": "default"})
    _meetings_receiver.clear()
    return _meetings_server


@pytest.fixture
def meetings_base_url(meetings_emulator: MeetingsEmulator) -> str:
    """The emulator's base URL (the API is under `/v1/meetings` and `/beta/meetings`)."""
    return meetings_emulator.base_url


@pytest.fixture
def meetings_clock(meetings_emulator: MeetingsEmulator) -> MeetingsClock:
    """The emulator's frozen clock: `advance(...)` and `set(...)` run what falls due."""
    return MeetingsClock(meetings_emulator.http)


@pytest.fixture
def meetings_inbox(
    meetings_emulator: MeetingsEmulator, _meetings_receiver: MeetingsInbox
) -> MeetingsInbox:
    """The callbacks received during this test (call `meetings_emulator.flush()` first)."""
    return _meetings_receiver
