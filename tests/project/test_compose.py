"""examples/compose: the file's structure, and its services replayed without a container
engine.

The replay starts each service of compose.yaml as a local process from the replayed image
(image.py): the image's `ENTRYPOINT` with the service's `command`, the image's `ENV` with the
service's `environment`. Each container's port becomes a free local port, and another
service's name with its port becomes 127.0.0.1 with that service's local port; a service's
own name stays as written (it is how the others call it). Services start in `depends_on`
order, each once those it depends on pass their healthchecks, which run as written. Then
the README's commands run against the emulator, and the receiver must print the lines the
README shows, times aside.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from ..tools.process import Running
from .image import ROOT, Dockerfile, Replayed

FOLDER = ROOT / "examples/compose"
COMPOSE = yaml.safe_load((FOLDER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
README = (FOLDER / "README.md").read_text()
TIMES = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def block(language: str, containing: str) -> str:
    [found] = [
        b
        for b in re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)
        if containing in b
    ]
    return found


def environment(name: str) -> dict[str, str]:
    return {**Dockerfile.read().final.env(), **SERVICES[name].get("environment", {})}


def container_port(name: str) -> int:
    command = SERVICES[name].get("command", [])
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    return int(environment(name)["MEETINGS_EMULATOR_PORT"])


def test_both_services_come_from_this_repository_s_image() -> None:
    assert set(SERVICES) == {"meetings", "receiver"}
    for service in SERVICES.values():
        assert (FOLDER / service["build"]["context"]).resolve() == ROOT
        assert service["image"] == "meetings-emulator:local"
    assert SERVICES["receiver"]["command"][:1] == ["receiver"]
    assert "command" not in SERVICES["meetings"]  # the image's own: serve


def test_healthchecks_and_start_order() -> None:
    for service in SERVICES.values():
        assert service["healthcheck"]["test"][0] == "CMD"
    assert SERVICES["meetings"]["healthcheck"]["test"] == ["CMD", "meetings-emulator", "health"]
    assert SERVICES["meetings"]["depends_on"] == {"receiver": {"condition": "service_healthy"}}
    assert "depends_on" not in SERVICES["receiver"]


def test_the_emulator_calls_the_receiver_by_its_service_name() -> None:
    env = environment("meetings")
    callback = urlsplit(env["MEETINGS_EMULATOR_CALLBACK_URL"])
    assert (callback.hostname, callback.port) == ("receiver", container_port("receiver"))
    command = SERVICES["receiver"]["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from other containers
    assert command[command.index("--secret") + 1] == env["MEETINGS_EMULATOR_CALLBACK_SECRET"]
    assert f"{container_port('receiver')})" in " ".join(SERVICES["receiver"]["healthcheck"]["test"])
    # The published port is the one the emulator listens on, and others name it `meetings`.
    assert SERVICES["meetings"]["ports"] == [f"9010:{container_port('meetings')}"]
    assert env["MEETINGS_EMULATOR_PUBLIC_URL"] == f"http://meetings:{container_port('meetings')}"


def start_order() -> list[str]:
    order: list[str] = []
    while len(order) < len(SERVICES):
        for name, service in SERVICES.items():
            if name not in order and set(service.get("depends_on", {})) <= set(order):
                order.append(name)
    return order


class Replay:
    """The compose project's services as local processes."""

    def __init__(self, image: Replayed, cwd: Path) -> None:
        from ..conftest import free_port

        self.image = image
        self.cwd = cwd
        self.ports = {name: free_port() for name in SERVICES}
        self.running: dict[str, Running] = {}

    def localise(self, name: str, text: str, *, own_port: bool) -> str:
        for other in SERVICES:
            if other != name:
                text = text.replace(
                    f"{other}:{container_port(other)}", f"127.0.0.1:{self.ports[other]}"
                )
        if own_port:
            text = re.sub(rf"\b{container_port(name)}\b", str(self.ports[name]), text)
        return text

    def env(self, name: str) -> dict[str, str]:
        env = {k: self.localise(name, v, own_port=False) for k, v in environment(name).items()}
        if "--port" not in SERVICES[name].get("command", []):
            env["MEETINGS_EMULATOR_PORT"] = str(self.ports[name])
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR_")},
            **env,
            "PATH": f"{self.image.bin}{os.pathsep}{os.environ['PATH']}",
        }

    def start(self, name: str) -> Running:
        entrypoint = json.loads(Dockerfile.read().final.one("ENTRYPOINT"))
        command = [self.localise(name, w, own_port=True) for w in SERVICES[name].get("command", [])]
        banner = re.compile(r"(?:serving|listening on) (https?://[^\s/]+)")
        running = Running.start(
            command=[str(self.image.bin / entrypoint[0]), *entrypoint[1:], *command],
            env=self.env(name),
            cwd=self.cwd,
            banner=banner,
        )
        self.running[name] = running
        return running

    def health_check(self, name: str) -> subprocess.CompletedProcess[str]:
        test = SERVICES[name]["healthcheck"]["test"]
        args = [self.localise(name, word, own_port=True) for word in test[1:]]
        return subprocess.run(
            args, env=self.env(name), cwd=self.cwd, capture_output=True, text=True, timeout=10
        )

    def wait_healthy(self, name: str) -> None:
        deadline = time.monotonic() + 20
        while (result := self.health_check(name)).returncode != 0:
            assert time.monotonic() < deadline, f"{name} unhealthy: {result.stderr}"
            assert self.running[name].process.poll() is None, "".join(self.running[name].stderr)
            time.sleep(0.2)


@pytest.mark.network
def test_the_services_start_pass_their_healthchecks_and_callbacks_arrive(
    image: Replayed, tmp_path: Path
) -> None:
    replay = Replay(image, tmp_path)
    try:
        for name in start_order():
            replay.start(name)
            replay.wait_healthy(name)
        api = f"http://127.0.0.1:{replay.ports['meetings']}"
        # The compose name passes the Host check; a name the emulator was not given does not.
        for host, status in (("meetings:9010", 200), ("elsewhere:9010", 403)):
            answer = httpx.get(f"{api}/_emulator/health", headers={"Host": host}, timeout=10)
            assert answer.status_code == status, answer.text
        script = block("sh", "API=http://localhost:9010").replace("http://localhost:9010", api)
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr
        assert '"delivered":5' in ran.stdout
        receiver = replay.running["receiver"]
        receiver.wait_for_log("room:expired", stream="stdout")
        printed = [line.rstrip("\n") for line in receiver.stdout[1:]]
        shown = block("text", "session:started").splitlines()
        assert [TIMES.sub("T", line) for line in printed] == [TIMES.sub("T", s) for s in shown]
        assert receiver.stdout[0].startswith("receiver listening on http://0.0.0.0:")
        for name in reversed(start_order()):
            stopped = replay.running[name].stop()
            assert stopped.status == 0, stopped.stderr
            assert "Traceback" not in stopped.stderr
    finally:
        for running in replay.running.values():
            running.__exit__(None, None, None)
