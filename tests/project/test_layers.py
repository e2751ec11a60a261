"""The import contracts in pyproject.toml hold, and they break when a layer imports upward."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = "Layers: tools > app > ui, testing aids > http > callbacks, state files > domain"
PURE_DOMAIN = "The domain knows no web framework, server, HTTP client, socket or file"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_project(tmp_path: Path) -> Path:
    tree = tmp_path / "project"
    shutil.copytree(ROOT / "meetings_emulator", tree / "meetings_emulator")
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_package_keeps_its_contracts() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{LAYERS} KEPT" in result.stdout
    assert f"{PURE_DOMAIN} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken", "shown"),
    [
        (
            "domain/rooms.py",
            "from meetings_emulator.http import render",
            LAYERS,
            "meetings_emulator.domain.rooms -> meetings_emulator.http.render",
        ),
        (
            "http/api.py",
            "from meetings_emulator.ui import pages",
            LAYERS,
            "meetings_emulator.http.api -> meetings_emulator.ui.pages",
        ),
        (
            "callbacks/sender.py",
            "from meetings_emulator.testing import journal",
            LAYERS,
            "meetings_emulator.callbacks.sender -> meetings_emulator.testing.journal",
        ),
        (
            "domain/clock.py",
            "import starlette.requests",
            PURE_DOMAIN,
            "meetings_emulator.domain.clock -> starlette",
        ),
        (
            "domain/ids.py",
            "import socket",
            PURE_DOMAIN,
            "meetings_emulator.domain.ids -> socket",
        ),
    ],
)
def test_an_upward_or_impure_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, broken: str, shown: str
) -> None:
    tree = copy_of_project(tmp_path)
    target = tree / "meetings_emulator" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout
    assert shown in result.stdout
