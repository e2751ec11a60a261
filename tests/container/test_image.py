"""The real image, where podman runs: built from this checkout's Dockerfile, run, passing its
own HEALTHCHECK, serving the API and stopping cleanly; then started by
`MeetingsEmulatorContainer` through podman's Docker-compatible API, as Testcontainers does
with Docker. How the image is built without a registry: tests/container/podman.py."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.settings import Settings
from meetings_emulator.version import __version__

from ..conftest import BASIC
from .podman import IMAGE, api_service, build_image, inspect, podman, require_podman, wait_healthy

pytestmark = [pytest.mark.container, pytest.mark.network]

STOP_BOUND = 5.0 + 1.5  # the documented shutdown bound, and a loaded machine's share
ROOM = {"display_name": "Standup"}


@pytest.fixture(scope="module")
def image() -> str:
    require_podman()
    build_image()
    return IMAGE


def seeded_room(seed: int) -> dict[str, str]:
    """The id and meeting code of the first room an emulator with `seed` makes, in-process."""
    with TestClient(create_app(Settings(seed=seed)), headers={"Authorization": BASIC}) as client:
        room = client.post("/v1/meetings/rooms", json=ROOM).json()
    return {"id": room["id"], "meeting_code": room["meeting_code"]}


@contextlib.contextmanager
def running(*args: str) -> Iterator[str]:
    name = f"meetings-emulator-test-{uuid.uuid4().hex[:8]}"
    podman("run", "--detach", "--name", name, "--publish", "127.0.0.1::9010", *args, IMAGE)
    try:
        yield name
    finally:
        podman("rm", "--force", name, check=False)


def test_the_image_is_healthy_serves_the_api_and_stops_cleanly(image: str) -> None:
    with running("--env", "MEETINGS_EMULATOR_SEED=7") as name:
        wait_healthy(name)
        assert inspect(name, "{{.State.Health.Status}}") == "healthy"
        assert podman("exec", name, "id", "-u").stdout.strip() not in ("", "0")
        address = podman("port", name, "9010/tcp").stdout.strip()
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address), address
        url = f"http://{address}"

        health = httpx.get(f"{url}/_emulator/health")
        assert (health.status_code, health.json()["version"]) == (200, __version__)
        with httpx.Client(base_url=url, auth=("key", "secret")) as api:
            created = api.post("/v1/meetings/rooms", json=ROOM)
            assert created.status_code == 201, created.text
            room = created.json()
            # the seed reached the server: the same room as this checkout makes in-process
            assert {k: room[k] for k in ("id", "meeting_code")} == seeded_room(7)
            read = api.get(f"/v1/meetings/rooms/{room['id']}")
            assert (read.status_code, read.json()) == (200, room)
            assert api.get("/v1/meetings/rooms/nope").status_code == 404

        started = time.monotonic()
        podman("stop", name)  # SIGTERM, then SIGKILL after 10 s, as `docker stop`
        assert time.monotonic() - started < STOP_BOUND
        assert inspect(name, "{{.State.ExitCode}}") == "0"


class Receiver(ThreadingHTTPServer):
    """Callbacks posted to this machine, from inside a container."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        super().__init__(("0.0.0.0", 0), Handler)  # the container reaches it over the bridge

    def wait_for(self, event: str, timeout: float = 20) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.bodies:
                if body.get("event") == event:
                    return body
            time.sleep(0.1)
        raise AssertionError(f"no {event} callback; received {self.bodies}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def docker_api(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Testcontainers pointed at podman's Docker-compatible API."""
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    with api_service(tmp_path) as docker_host:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
        # No Ryuk: its image is on a registry this machine may not reach; each container
        # here is removed by its own `with` block.
        monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
        # The containers' ports are on this machine. (A /.dockerenv here would otherwise make
        # Testcontainers look for a gateway, as from inside a container.)
        monkeypatch.setattr(
            testcontainers_config, "connection_mode_override", ConnectionMode.docker_host
        )
        yield image


def test_testcontainers_starts_the_image_and_waits_for_health(docker_api: str) -> None:
    from meetings_emulator.testcontainers import MeetingsEmulatorContainer

    with MeetingsEmulatorContainer(docker_api).with_seed(7) as emulator:
        assert re.fullmatch(r"http://localhost:\d+", emulator.get_url())
        # started() returned after the wait on /_emulator/health: no retry needed here
        with emulator.get_api_client() as api:
            created = api.post("/v1/meetings/rooms", json=ROOM)
            assert created.status_code == 201, created.text
            room = created.json()
            assert {k: room[k] for k in ("id", "meeting_code")} == seeded_room(7)
        container_id = emulator.get_container_id()
    assert podman("container", "exists", container_id, check=False).returncode == 1


def test_testcontainers_with_tls_credentials_and_callbacks(
    docker_api: str, receiver: Receiver
) -> None:
    from meetings_emulator.testcontainers import MeetingsEmulatorContainer

    hooks = f"http://host.containers.internal:{receiver.server_address[1]}/hooks"
    emulator = (
        MeetingsEmulatorContainer(docker_api)
        .with_tls()
        .with_api_credentials("key-1", "s3cret")
        .with_callback_url(hooks)
    )
    with emulator:
        url = emulator.get_url()
        assert re.fullmatch(r"https://localhost:\d+", url)
        ca = emulator.get_ca_pem()
        assert ca.startswith("-----BEGIN CERTIFICATE-----")
        # the image's HEALTHCHECK reads the same variables, so it asks over https too
        check = podman("healthcheck", "run", emulator.get_container_id(), check=False)
        assert check.returncode == 0, check.stdout + check.stderr

        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/_emulator/health")  # not trusted without the emulator's CA
        with emulator.get_api_client() as api:
            created = api.post("/v1/meetings/rooms", json=ROOM)
            assert created.status_code == 201, created.text
            room_id = created.json()["id"]
            joined = api.post(f"/_emulator/rooms/{room_id}/participants", json={"name": "Avital"})
            assert joined.status_code == 201, joined.text
        trusted = ssl.create_default_context(cadata=ca)
        with httpx.Client(base_url=url, verify=trusted, auth=("key-1", "wrong")) as stranger:
            assert stranger.get(f"/v1/meetings/rooms/{room_id}").status_code == 401

        started = receiver.wait_for("session:started")
        assert started["room_id"] == room_id
