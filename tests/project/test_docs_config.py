"""The options table of docs/configuration.md is the command line's own, and up to date."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from types import ModuleType

import pytest

from ..tools.process import EMULATOR, ROOT

REGENERATE = ".venv/bin/python docs/gen_config.py"
NO_VARIABLE = {"--help", "--version"}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", ROOT / "docs" / "gen_config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_what_the_options_give(generator: ModuleType) -> None:
    committed = (ROOT / "docs" / "configuration-table.md").read_text(encoding="utf-8")
    assert committed == generator.table(), (
        "docs/configuration-table.md differs from the options in meetings_emulator/config.py:"
        f" run `{REGENERATE}` and commit the result"
    )


def test_every_flag_of_help_has_one_row_with_its_variable(generator: ModuleType) -> None:
    """What `--help` prints, flags and variables in order, is what the table says."""
    shown = subprocess.run(
        [*EMULATOR, "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    flags = [f for f in re.findall(r"^  (--[a-z-]+)", shown, re.M) if f not in NO_VARIABLE]
    variables = re.findall(r"env\s+(MEETINGS_EMULATOR_\w+)\)", shown)
    rows = [line for line in generator.table().splitlines() if line.startswith("| ")][1:]
    assert len(flags) >= 30
    assert [re.findall(r"`(--[a-z-]+)", row)[0] for row in rows] == flags
    assert [re.findall(r"`(MEETINGS_EMULATOR_\w+)`", row)[0] for row in rows] == variables


def test_the_page_includes_the_table() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert '--8<-- "docs/configuration-table.md"' in page
    assert REGENERATE in page
