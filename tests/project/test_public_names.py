"""The names the docs tell users to import, from the package itself and from their modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

import meetings_emulator
from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings
from meetings_emulator.testing.api_faults import ConnectionDropped


def test_the_package_offers_the_names_users_need() -> None:
    offered = {name: getattr(meetings_emulator, name) for name in meetings_emulator.__all__}
    assert offered == {
        "__version__": "0.1.0",
        "create_app": create_app,
        "Clock": Clock,
        "Ids": Ids,
        "Settings": Settings,
        "Emulator": Emulator,
        "ConnectionDropped": ConnectionDropped,
    }
    assert set(meetings_emulator.__all__) <= set(dir(meetings_emulator))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Room'"):
        _ = meetings_emulator.Room  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_web_framework() -> None:
    code = "import sys, meetings_emulator; print(sorted(m for m in sys.modules if m.startswith(('starlette', 'meetings_emulator.'))))"  # noqa: E501
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.strip() == "['meetings_emulator.version']"
