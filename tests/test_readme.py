"""The README's examples run as printed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.applications import Starlette

README = Path(__file__).resolve().parents[1] / "README.md"


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
    from .conftest import app_emulator, serving

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
    exec(compile(blocks("python")[0], "README.md", "exec"), namespace)
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
