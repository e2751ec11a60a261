"""podman for the container tests: whether it can run here, the image built from the
checkout's Dockerfile on a local base, and podman's Docker-compatible API for Testcontainers.

No image registry is reached: `.ci/podman-setup` builds a base image from Debian's packages,
and the Dockerfile's `FROM` images are that base, tagged with their names for the build
(`--pull=never`), so a Dockerfile with several stages, or a pinned `python:X.Y.Z-slim-...`,
builds the same way. Without podman, or without that base, the tests skip, saying why;
when `MEETINGS_EMULATOR_CONTAINER_TESTS=required` (set by .ci/run once the setup worked),
they fail instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(
    os.environ.get("MEETINGS_EMULATOR_PODMAN_DIR", "/var/cache/meetings-emulator/podman")
)
BASE = os.environ.get("MEETINGS_EMULATOR_BASE_IMAGE", "localhost/meetings-emulator-base:bookworm")
# One tag per checkout, so two checkouts on one machine do not build over each other.
IMAGE = "localhost/meetings-emulator:test-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
SETUP = "run .ci/podman-setup (as root) to install podman and make the base image"


def unusable(reason: str) -> None:
    if os.environ.get("MEETINGS_EMULATOR_CONTAINER_TESTS") == "required":
        pytest.fail(f"{reason}; .ci/podman-setup succeeded, so this is a failure")
    pytest.skip(reason)


def environment() -> dict[str, str]:
    """This process's environment, with the containers.conf .ci/podman-setup wrote."""
    env = dict(os.environ)
    conf = STATE_DIR / "containers.conf"
    if "CONTAINERS_CONF" not in env and conf.is_file():
        env["CONTAINERS_CONF"] = str(conf)
    return env


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {shlex.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


def require_podman() -> None:
    """Skip (or fail, under .ci/run) unless podman runs a container of the base image."""
    if shutil.which("podman") is None:
        unusable(f"podman is not installed: {SETUP}")
    if podman("image", "exists", BASE, check=False).returncode != 0:
        unusable(f"no base image {BASE}: {SETUP}")
    probe = podman("run", "--rm", BASE, "python", "-c", "pass", check=False)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        unusable(f"podman cannot run a container here: {last}")


# --- the Dockerfile's base images ------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def from_args(text: str) -> list[str]:
    """The `ARG`s declared before the first `FROM` that a `FROM` line uses: the build sets
    them to the local base (`--build-arg`), as a base pinned by digest cannot be tagged."""
    declared: list[str] = []
    used: list[str] = []
    for word, rest in instructions(text):
        if word == "ARG" and not used:
            declared.append(rest.partition("=")[0].strip())
        elif word == "FROM":
            names = re.findall(r"\$\{(\w+)\}|\$(\w+)", rest)
            used += [a or b for a, b in names if (a or b) in declared and (a or b) not in used]
    return used


def base_images(text: str, overrides: dict[str, str] | None = None) -> list[str]:
    """The images the Dockerfile's stages start from: not `scratch`, not its own stages;
    `ARG` defaults given before the first `FROM` are filled in (or `overrides`)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    for word, rest in instructions(text):
        if word == "ARG" and not stages and not images:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip("\"'")
            args.update(overrides or {})
        elif word == "FROM":
            parts = [part for part in rest.split() if not part.startswith("--")]
            image = re.sub(
                r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), parts[0]
            )
            if image.lower() not in stages and image != "scratch" and image not in images:
                images.append(image)
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages.add(parts[2].lower())
    return images


def qualified(image: str) -> str:
    """The full name a short one stands for, as Docker reads it: `python:3.12-slim` is
    `docker.io/library/python:3.12-slim`."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if rest else f"docker.io/library/{image}"


def build_image() -> float:
    """Build the checkout's Dockerfile as IMAGE, its base images standing for the local
    base; the seconds it took. The image is kept, so a later build reuses its layers."""
    text = (ROOT / "Dockerfile").read_text()
    overrides = {name: BASE for name in from_args(text)}
    tags = [qualified(image) for image in base_images(text, overrides) if image != BASE]
    build_args = [f"--build-arg={name}={value}" for name, value in overrides.items()]
    started = time.monotonic()
    try:
        for tag in tags:
            podman("tag", BASE, tag)
        # --format docker keeps HEALTHCHECK, which the OCI image format has no field for.
        podman(
            "build",
            "--format",
            "docker",
            "--pull=never",
            *build_args,
            "--tag",
            IMAGE,
            str(ROOT),
            timeout=900,
        )
    finally:
        for tag in tags:
            podman("untag", BASE, tag, check=False)
    return time.monotonic() - started


# --- running containers ----------------------------------------------------------------------


def inspect(name: str, template: str) -> str:
    return podman("inspect", "--format", template, name).stdout.strip()


def wait_healthy(name: str, timeout: float = 60) -> float:
    """Run the image's HEALTHCHECK (podman runs it on demand: no systemd timer here) until
    it passes; the seconds it took."""
    started = time.monotonic()
    while True:
        check = podman("healthcheck", "run", name, check=False)
        if check.returncode == 0:
            return time.monotonic() - started
        assert podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true", (
            podman("logs", name, check=False).stderr
        )
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not healthy within {timeout} s: {check.stdout}{check.stderr}")
        time.sleep(0.5)


def answers_ping(path: Path) -> bool:
    """Whether the API on the socket at `path` answers `GET /_ping` with OK."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and answer.endswith(b"\r\n\r\nOK")


@contextlib.contextmanager
def api_service(folder: Path) -> Iterator[str]:
    """`podman system service` on a socket in `folder`; yields its DOCKER_HOST."""
    path = folder / "podman.sock"
    log = (folder / "service.log").open("w")
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{path}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment(),
    )
    try:
        deadline = time.monotonic() + 30
        while not answers_ping(path):
            assert service.poll() is None, (folder / "service.log").read_text()
            assert time.monotonic() < deadline, "podman system service did not answer"
            time.sleep(0.2)
        yield f"unix://{path}"
    finally:
        service.terminate()
        try:
            service.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=10)
        log.close()
