"""A short soak (the full one is `python bench/soak.py`): no 5xx, no lost room."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_short_soak_has_no_server_error_and_loses_no_room() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--clients", "20", "--seconds", "6", "--max-growth-mib", "256"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server_errors: []" in result.stdout
    assert "lost_rooms: []" in result.stdout
    assert result.stdout.strip().endswith("PASS")
