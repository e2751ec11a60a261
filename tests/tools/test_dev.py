"""`dev.py`: `run` needs only the project, `test` its test and docs tools too; the stamp
knows which are installed (an older stamp meant the test tools); user paths are the
caller's; the docs site is built strictly."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .process import ROOT, dev_environment

HASH = "a" * 64


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stamp(extras: list[str], pyproject: str = HASH) -> str:
    return json.dumps({"pyproject": pyproject, "extras": extras})


def test_run_installs_the_project_alone_and_test_its_tools_too(dev: ModuleType) -> None:
    fresh = None  # no environment yet
    assert dev.to_install(fresh, HASH, dev.EXTRAS["run"]) == frozenset()
    assert dev.to_install(fresh, HASH, dev.EXTRAS["test"]) == {"test", "docs"}
    assert dev.install_target(frozenset()) == str(ROOT)
    assert dev.install_target(frozenset({"test", "docs"})) == f"{ROOT}[docs,test]"


def test_the_stamp_knows_which_extras_are_installed(dev: ModuleType) -> None:
    served_only = stamp([])
    assert dev.to_install(served_only, HASH, dev.EXTRAS["run"]) is None
    assert dev.to_install(served_only, HASH, dev.EXTRAS["test"]) == {"test", "docs"}
    tested = stamp(["docs", "test"])
    assert dev.to_install(tested, HASH, dev.EXTRAS["run"]) is None  # run needs no more
    assert dev.to_install(tested, HASH, dev.EXTRAS["test"]) is None
    # An environment made before the docs tools were needed gets them, with the rest.
    assert dev.to_install(stamp(["test"]), HASH, dev.EXTRAS["test"]) == {"test", "docs"}
    # pyproject.toml changed: install again what the command needs.
    assert dev.to_install(tested, "b" * 64, dev.EXTRAS["run"]) == frozenset()
    assert dev.to_install(served_only, "b" * 64, dev.EXTRAS["test"]) == {"test", "docs"}
    written = dev.write_stamp(HASH, frozenset({"test", "docs"}))
    assert dev.read_stamp(written) == (HASH, {"test", "docs"})


def test_an_older_stamp_means_the_test_tools_are_there(dev: ModuleType) -> None:
    """Environments made before the stamp named its extras had the test tools: only the
    docs tools are missing."""
    assert dev.read_stamp(HASH + "\n") == (HASH, {"test"})
    assert dev.to_install(HASH, HASH, dev.EXTRAS["test"]) == {"test", "docs"}
    assert dev.to_install(HASH, HASH, dev.EXTRAS["run"]) is None


@pytest.mark.network
def test_run_reads_paths_from_the_callers_folder(tmp_path: Path) -> None:
    environment = dev_environment(tmp_path / "venv")
    caller = tmp_path / "work"
    caller.mkdir()
    (caller / "my.json").write_text((ROOT / "examples" / "waiting-room.json").read_text())
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "run", "play", "my.json"],
        cwd=caller,
        env={"PATH": "/usr/bin:/bin", "MEETINGS_EMULATOR_VENV": str(environment)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("Passed: ")
    assert "installing" not in result.stderr  # the stamp matched: nothing installed


def test_no_command_shows_the_usage(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev.py")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "python3 dev.py run" in result.stderr
    assert "python3 dev.py test" in result.stderr


def site_copy(folder: Path) -> Path:
    """What `mkdocs build` reads, copied: the config, the pages and the files they include."""
    for name in ("mkdocs.yml", "README.md", "ARCHITECTURE.md"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "docs", folder / "docs")
    (folder / "bench").mkdir()
    shutil.copy(ROOT / "bench" / "RESULTS.md", folder / "bench" / "RESULTS.md")
    return folder


def test_the_docs_build_fails_on_a_broken_link_or_include(
    dev: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mkdocs", reason="the docs tools: pip install .[docs]")
    monkeypatch.setattr(dev, "PYTHON", Path(sys.executable))
    site = site_copy(tmp_path)
    assert dev.build_docs(site) == 0
    page = site / "docs" / "tenants.md"
    text = page.read_text()
    page.write_text(text + "\nSee [the API](api.md#no-such-heading).\n")
    assert dev.build_docs(site) != 0
    page.write_text(text)
    (site / "bench" / "RESULTS.md").unlink()  # a page includes it
    assert dev.build_docs(site) != 0
