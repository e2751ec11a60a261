"""The Dockerfile's recipe, checked and replayed without a container engine so it cannot rot
unnoticed.

The structure tests read the Dockerfile and .dockerignore as an engine does (image.py): a
base pinned to a Python patch version and a digest, the locked dependencies in a layer of
their own before any source, only locked or built packages installed, a non-root user, the
OCI labels, and a build context without tests or docs. The replay builds both stages in
folders (the same `COPY` and `RUN` lines, from the same context), starts the image's
`ENTRYPOINT` with its `ENV`, runs its `HEALTHCHECK` command, which must succeed, over HTTP
and with TLS on, and stops it as `docker stop` does (SIGTERM), which must end it cleanly
within the documented bound.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from ..conftest import free_port
from .image import ROOT, Dockerfile, Replayed, context_files

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCE = ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "meetings_emulator", "openapi")


def test_the_base_is_one_python_patch_release_pinned_by_digest() -> None:
    dockerfile = Dockerfile.read()
    base = dockerfile.args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    assert [stage.base for stage in dockerfile.stages] == [base, base]
    tag = base.split("@")[0]
    assert dockerfile.final.labels()["org.opencontainers.image.base.name"].endswith(f"/{tag}")


def test_dependencies_come_from_the_lock_in_a_layer_before_the_source() -> None:
    dockerfile = Dockerfile.read()
    for stage, lock in (
        (dockerfile.stage("build"), "build.lock"),
        (dockerfile.final, "serve.lock"),
    ):
        steps = stage.steps
        copy_at = [i for i, (word, _) in enumerate(steps) if word == "COPY"]
        install_at = [i for i, (word, rest) in enumerate(steps) if word == "RUN" and "pip " in rest]
        # The lock is copied alone, installed, and only then does anything else arrive.
        assert copy_at[0] < install_at[0] < copy_at[1]
        source, destination = steps[copy_at[0]][1].split()
        assert source == f"requirements/{lock}"
        install = steps[install_at[0]][1].split(" && ")[0]
        assert install == f"pip install --no-deps --require-hashes -r {destination}"
        # Every pip install takes exactly what it is given: a lock with hashes, or the wheel.
        for i in install_at:
            for command in steps[i][1].split(" && "):
                if command.startswith(("pip install", "pip wheel")):
                    assert "--no-deps" in command.split(), command
    final_copies = dockerfile.final.all("COPY")
    assert all(not any(part in SOURCE for part in rest.split()) for rest in final_copies)
    assert final_copies[-1] == "--from=build /wheels /tmp/wheels"
    build_copies = " ".join(dockerfile.stage("build").all("COPY")).split()
    assert set(SOURCE) <= set(build_copies)


def test_the_image_is_non_root_labelled_and_checks_its_health() -> None:
    final = Dockerfile.read().final
    assert final.one("USER") not in ("root", "0")
    [useradd] = [rest for rest in final.all("RUN") if rest.startswith("useradd")]
    assert useradd.split()[-1] == final.one("USER")
    assert "--uid 10001" in useradd
    assert final.one("EXPOSE") == "9010"
    # The check reads the server's own environment (port, TLS): no URL written in the file.
    assert final.one("HEALTHCHECK").split(" CMD ", 1)[1].strip() == "meetings-emulator health"
    assert final.env()["MEETINGS_EMULATOR_HOST"] == "0.0.0.0"
    assert json.loads(final.one("ENTRYPOINT")) == ["meetings-emulator"]
    labels = final.labels()
    urls = PYPROJECT["urls"]
    assert labels == {
        "org.opencontainers.image.title": PYPROJECT["name"],
        "org.opencontainers.image.description": PYPROJECT["description"],
        "org.opencontainers.image.version": PYPROJECT["version"],
        "org.opencontainers.image.licenses": PYPROJECT["license"],
        "org.opencontainers.image.source": urls["Repository"],
        "org.opencontainers.image.url": urls["Homepage"],
        "org.opencontainers.image.documentation": urls["Documentation"],
        "org.opencontainers.image.base.name": labels["org.opencontainers.image.base.name"],
    }


def test_the_build_context_is_the_source_alone() -> None:
    sent = context_files()
    top = {path.split("/")[0] for path in sent}
    assert top == {*SOURCE, "requirements"}
    assert {p for p in sent if p.startswith("requirements/")} == {
        "requirements/build.lock",
        "requirements/serve.lock",
    }
    assert not [p for p in sent if "__pycache__" in p or p.endswith(".pyc")]
    tracked = subprocess.run(
        ["git", "ls-files", "meetings_emulator", "openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(tracked) <= sent


def start(image: Replayed, cwd: Path, **extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    final = Dockerfile.read().final
    env = {**os.environ, **image.env, "PATH": f"{image.bin}{os.pathsep}{os.environ['PATH']}"}
    env["MEETINGS_EMULATOR_PORT"] = str(free_port())  # 9010 may be taken on this machine
    env.update(extra)
    entrypoint = json.loads(final.one("ENTRYPOINT"))
    server = subprocess.Popen(
        [str(image.bin / entrypoint[0]), *entrypoint[1:]],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, env


def health_check(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    check = Dockerfile.read().final.one("HEALTHCHECK").split(" CMD ", 1)[1]
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


@pytest.mark.network
def test_the_replayed_image_holds_the_locked_set_and_nothing_else(image: Replayed) -> None:
    """What the image's Python has: the project and the locked packages, no build tools."""
    listed = subprocess.run(
        [str(image.bin / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}
    locked = {
        line.split("==")[0]
        for line in (ROOT / "requirements/serve.lock").read_text().splitlines()
        if re.match(r"[a-z0-9]", line)
    }
    assert installed - {"pip", "setuptools"} == locked | {"meetings-emulator"}
    assert not image.path("/tmp/wheels").exists()
    assert not image.path("/tmp/serve.lock").exists()


@pytest.mark.network
def test_the_recipe_installs_starts_and_is_healthy(image: Replayed, tmp_path: Path) -> None:
    server, env = start(image, tmp_path)
    try:
        assert health_check(env).returncode in (0, 1)
        wait_healthy(server, env)
        # The installed package carries everything it serves.
        served = subprocess.run(
            [
                str(image.bin / "python"),
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


@pytest.mark.network
def test_the_health_check_works_with_tls_on(image: Replayed, tmp_path: Path) -> None:
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
