"""The README's examples run as printed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.applications import Starlette

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks("sh")[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first] == [
        "python3 dev.py run",
        "python3 dev.py test",
    ]


@pytest.mark.network
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_session_works_as_pasted(app: Starlette) -> None:
    from ..conftest import app_emulator, serving

    app_emulator(app).clock.release()
    session = blocks("sh")[1]
    with serving(app) as url:
        script = session.replace("http://127.0.0.1:9010", url)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert "is_available: False" in result.stdout
    assert '"type":"long_term"' in result.stdout


def test_python_example_runs() -> None:
    namespace: dict[str, object] = {}
    [example] = [block for block in blocks("python") if "create_app" in block]
    exec(compile(example, "README.md", "exec"), namespace)
    room = namespace["room"]
    assert isinstance(room, dict)
    assert room["display_name"] == "Demo"
    emulator = namespace["emulator"]
    assert emulator.rooms.get(room["id"]).is_available is False  # type: ignore[attr-defined]
    assert [event.name for event in emulator.events] == [  # type: ignore[attr-defined]
        "session:started",
        "session:participant:joined",
        "recording:started",
        "session:participant:left",
        "recording:ended",
        "session:ended",
        "recording:uploaded",
        "room:expired",
    ]


@pytest.mark.network
def test_play_and_receiver_show_a_whole_meeting() -> None:
    """The two commands of the callbacks section, with a free port and this Python."""
    import os
    import sys

    from ..conftest import free_port

    [receiver_cmd] = [b for b in blocks("sh") if "receiver --port 9020" in b]
    [play_cmd] = [b for b in blocks("sh") if "--callback-url http://127.0.0.1:9020" in b]
    port = str(free_port())
    launcher = f"{sys.executable} -m meetings_emulator"

    def command(block: str) -> str:
        return block.strip().replace("python3 dev.py run", launcher).replace("9020", port)

    root = Path(__file__).resolve().parents[2]
    receiver = subprocess.Popen(
        command(receiver_cmd),
        shell=True,
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert receiver.stdout is not None
        assert "listening" in receiver.stdout.readline()
        played = subprocess.run(
            command(play_cmd), shell=True, cwd=root, capture_output=True, text=True, timeout=60
        )
        assert played.returncode == 0, played.stderr
    finally:
        os.killpg(receiver.pid, 15)
        printed, _ = receiver.communicate(timeout=10)
    events = [line.split()[1] for line in printed.splitlines() if line[:2].isdigit()]
    assert events == [
        "session:started",
        "session:participant:joined",
        "recording:started",
        "session:participant:joined",
        "session:participant:left",
        "session:participant:left",
        "recording:ended",
        "session:ended",
        "recording:uploaded",
        "room:expired",
    ]
    log = played.stdout.split("Callbacks (10):\n")[1].splitlines()[:10]
    assert all("delivered, 1 attempt: 204" in line for line in log)


def test_signature_recipe_verifies_what_the_emulator_signs() -> None:
    from meetings_emulator.domain.signing import signature

    [recipe] = [block for block in blocks("python") if "def verified" in block]
    namespace: dict[str, object] = {}
    exec(compile(recipe, "README.md", "exec"), namespace)
    verified = namespace["verified"]
    body = b'{"event":"session:started"}'
    assert verified(body, signature("k", body), "k")  # type: ignore[operator]
    assert not verified(body + b" ", signature("k", body), "k")  # type: ignore[operator]
