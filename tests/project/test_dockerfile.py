"""The Dockerfile's recipe, replayed without a container engine so it cannot rot unnoticed.

The test reads the Dockerfile, installs the package as its `RUN pip install` does into a
clean virtual environment, starts its `ENTRYPOINT` with its `ENV`, and runs its
`HEALTHCHECK` command, which must succeed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
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
    assert "/_emulator/health" in found["HEALTHCHECK"]
    assert environment()["MEETINGS_EMULATOR_HOST"] == "0.0.0.0"
    assert json.loads(found["ENTRYPOINT"]) == ["meetings-emulator"]
    copied = [rest.split()[0] for word, rest in instructions() if word == "COPY"]
    assert {"pyproject.toml", "meetings_emulator", "openapi"} <= set(copied)


def test_the_recipe_installs_starts_and_is_healthy(tmp_path: Path) -> None:
    env_dir = tmp_path / "image"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {**os.environ, **environment(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PIP_NO_CACHE_DIR", None)  # the image keeps no cache; a test run may use one
    env["MEETINGS_EMULATOR_PORT"] = str(free_port())  # 9010 may be taken on this machine

    for word, rest in instructions():
        if word == "RUN" and "pip install" in rest:
            install = rest.split("&&")[0].strip()
            assert install == "pip install ."
            subprocess.run(
                [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "."],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=600,
            )
    entrypoint = json.loads(dict(instructions())["ENTRYPOINT"])
    server = subprocess.Popen(
        [str(bin_dir / entrypoint[0]), *entrypoint[1:]],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        check = dict(instructions())["HEALTHCHECK"].split(" CMD ", 1)[1]
        deadline = time.monotonic() + 20
        while True:
            result = subprocess.run(check, shell=True, env=env, capture_output=True, timeout=10)
            if result.returncode == 0:
                break
            assert time.monotonic() < deadline, result.stderr.decode()
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            time.sleep(0.2)
        # The installed package carries everything it serves.
        served = subprocess.run(
            [
                str(bin_dir / "python"),
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
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
