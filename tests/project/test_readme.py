"""The README's examples run as printed (tests/project/samples.py says how each block is
claimed; the pytest example is run by tests/tools/test_pytest_plugin.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette

from ..tools.process import EMULATOR, Running
from .samples import README, ROOT, blocks_of, named

ACTION_INPUTS = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
ACTION = r"meetings-emulator/meetings-emulator@v\d+\.\d+\.\d+"


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks_of(README)[0]
    assert first.name == "commands"
    assert [line.split("#")[0].strip() for line in first.text.strip().splitlines()] == [
        "python3 dev.py run",
        "python3 dev.py test",
    ]


def test_the_readme_is_a_front_door() -> None:
    """Short enough to read at once, and every page of the site it names exists."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 210
    linked = re.findall(r"\]\((docs/[^)#]+\.md)", text)
    assert len(linked) >= 15
    missing = [link for link in linked if not (README.parent / link).is_file()]
    assert missing == []


@pytest.mark.network
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_tour_works_as_pasted(app: Starlette) -> None:
    from ..conftest import app_emulator, serving

    app_emulator(app).clock.release()
    with serving(app) as url:
        script = named("tour").text.replace("http://127.0.0.1:9010", url)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert "is_available: False" in result.stdout
    assert '"type":"long_term"' in result.stdout


def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.sdk
@pytest.mark.network
def test_the_python_sdk_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS start command, then the SDK's set-up, on a free port and a CA of this test."""
    pytest.importorskip("vonage", reason="the official SDK: pip install vonage==3.18.0")
    from ..conftest import free_port

    ca = tmp_path / "meetings-ca.pem"
    command = shlex.split(named("tls-start").text.replace("/tmp/meetings-ca.pem", str(ca)))
    assert command[:3] == ["python3", "dev.py", "run"]
    port = free_port()
    emulator = Running.start(*command[3:], "--port", str(port), command=EMULATOR)
    try:
        key = tmp_path / "private.key"
        key.write_text(_private_key_pem())
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # put back afterwards
        code = (
            named("python-sdk")
            .text.replace("/tmp/meetings-ca.pem", str(ca))
            .replace("localhost:9010", f"localhost:{port}")
        )
        namespace: dict[str, Any] = {
            "APPLICATION_ID": "4ea3ee57-7a2b-4a0c-9c5e-7c1a8e1c2b3d",
            "PRIVATE_KEY_PATH": str(key),
        }
        exec(compile(code, "README.md", "exec"), namespace)  # sets REQUESTS_CA_BUNDLE
    finally:
        stopped = emulator.stop()
    assert stopped.status == 0, stopped.stderr
    room = namespace["room"]
    assert room["display_name"] == "Standup"
    assert room["type"] == "instant"


@pytest.mark.sdk
@pytest.mark.network
def test_the_node_sdk_recipe(tmp_path: Path) -> None:
    """The Node snippet as a module of its own, with the SDK the Node suite installs."""
    from meetings_emulator.app import create_app

    from ..conftest import serving
    from ..sdk import test_sdk_node as node_suite

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Node SDK needs `node` and `npm` on PATH")
    if node_suite._needs_install():
        node_suite._install(npm)
    (tmp_path / "node_modules").symlink_to(node_suite.NODE_DIR / "node_modules")
    key = json.dumps(_private_key_pem())
    with serving(create_app()) as url:
        sample = named("node-sdk").text.replace("http://127.0.0.1:9010", url)
        script = tmp_path / "sample.mjs"
        script.write_text(
            f"const APP_ID = '4ea3ee57-7a2b-4a0c-9c5e-7c1a8e1c2b3d';\nconst KEY = {key};\n"
            f"{sample}\nconsole.log(JSON.stringify(room));\n"
        )
        result = subprocess.run(
            [node, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr
    room = json.loads(result.stdout.strip().splitlines()[-1])
    assert room["displayName"] == "Standup"
    assert room["type"] == "instant"


def action_steps(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one step that uses the action, and the steps after it, from a workflow or from
    a job's `steps:`."""
    document = yaml.safe_load(text)
    if "jobs" in document:
        [document] = document["jobs"].values()
    document = document["steps"]
    assert isinstance(document, list)
    start, stop = [
        n for n, step in enumerate(document) if re.fullmatch(ACTION, str(step.get("uses", "")))
    ]
    assert document[stop]["with"] == {"command": "stop"}
    assert document[stop]["if"] == "always()"
    return document[start], document[start + 1 : stop]


def test_the_action_step_is_well_formed() -> None:
    """Only the action's inputs are given, and a later step reads the URL it exports."""
    step, later = action_steps(named("github-action").text)
    assert set(step.get("with", {})) <= ACTION_INPUTS
    assert any("env.MEETINGS_EMULATOR_URL" in json.dumps(after) for after in later)
