"""The Dockerfile's recipe, replayed without a container engine so it cannot rot unnoticed.

The test reads the Dockerfile, installs the package as its `RUN pip install` does into a
clean virtual environment, starts its `ENTRYPOINT` with its `ENV`, and runs its
`HEALTHCHECK` command, which must succeed, over HTTP and with TLS on; then stops it as
`docker stop` does (SIGTERM), which must end it cleanly within the documented bound.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import venv
from pathlib import Path

import pytest

from ..conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.network


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    parsed = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            parsed.append((word.upper(), rest.strip()))
    return parsed


def environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_the_image_is_slim_non_root_and_checks_its_health() -> None:
    found = dict(instructions())
    assert re.fullmatch(r"python:3\.\d+-slim", found["FROM"])
    assert found["USER"] not in ("root", "0")
    assert found["EXPOSE"] == "9010"
    # The check reads the server's own environment (port, TLS): no URL written in the file.
    assert found["HEALTHCHECK"].split(" CMD ", 1)[1].strip() == "meetings-emulator health"
    assert environment()["MEETINGS_EMULATOR_HOST"] == "0.0.0.0"
    assert json.loads(found["ENTRYPOINT"]) == ["meetings-emulator"]
    copied = [rest.split()[0] for word, rest in instructions() if word == "COPY"]
    assert {"pyproject.toml", "meetings_emulator", "openapi"} <= set(copied)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the package installed as the `RUN` line does."""
    env_dir = tmp_path_factory.mktemp("image")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    env = {**os.environ, **environment()}
    env.pop("PIP_NO_CACHE_DIR", None)  # the image keeps no cache; a test run may use one
    installs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    assert [rest.split("&&")[0].strip() for rest in installs] == ["pip install ."]
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "."],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    return env_dir / "bin"


def start(bin_dir: Path, cwd: Path, **extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, **environment(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["MEETINGS_EMULATOR_PORT"] = str(free_port())  # 9010 may be taken on this machine
    env.update(extra)
    entrypoint = json.loads(dict(instructions())["ENTRYPOINT"])
    server = subprocess.Popen(
        [str(bin_dir / entrypoint[0]), *entrypoint[1:]],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, env


def health_check(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    check = dict(instructions())["HEALTHCHECK"].split(" CMD ", 1)[1]
    return subprocess.run(check, shell=True, env=env, capture_output=True, timeout=10)


def wait_healthy(server: subprocess.Popen[str], env: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        result = health_check(env)
        if result.returncode == 0:
            return
        assert result.returncode == 1, result.stderr.decode()  # 1: not (yet) healthy
        assert time.monotonic() < deadline, result.stderr.decode()
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        time.sleep(0.2)


def stop_as_docker_does(server: subprocess.Popen[str]) -> str:
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    output, _ = server.communicate(timeout=10)
    assert server.returncode == 0, output
    assert time.monotonic() - started < 5.0 + 1.0  # the bound, and a second for the machine
    assert "Traceback" not in output
    return output


def test_the_recipe_installs_starts_and_is_healthy(image: Path, tmp_path: Path) -> None:
    server, env = start(image, tmp_path)
    try:
        assert health_check(env).returncode in (0, 1)
        wait_healthy(server, env)
        # The installed package carries everything it serves.
        served = subprocess.run(
            [
                str(image / "python"),
                "-c",
                "import urllib.request, os; print(urllib.request.urlopen("
                "f'http://127.0.0.1:{os.environ[\"MEETINGS_EMULATOR_PORT\"]}/_emulator/openapi.json')"
                ".status)",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert served.stdout.strip() == "200"
        stop_as_docker_does(server)
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_the_health_check_works_with_tls_on(image: Path, tmp_path: Path) -> None:
    server, env = start(image, tmp_path, MEETINGS_EMULATOR_TLS="on")
    try:
        wait_healthy(server, env)
        plain = env | {"MEETINGS_EMULATOR_TLS": "0"}  # asking over http:// is not healthy
        failed = health_check(plain)
        assert failed.returncode == 1
        assert failed.stderr.decode().startswith("unhealthy: http://127.0.0.1:")
        stop_as_docker_does(server)
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
