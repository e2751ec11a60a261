"""The scenario runner: a YAML meeting story played against the emulator.

    errors     ScenarioError, InvalidScenario (nothing sent), ScenarioFailed (while playing)
    durations  `90`, `10m`, `1h30m` to seconds and back
    validate   loading a scenario file and checking it whole (the step format is there)
    player     playing checked steps over HTTP
    bundled    the scenarios shipped in `examples/` here, found by name (`play --list`)
    runner     run_scenario, and `meetings-emulator play` with its embedded emulator

`main_play` and `run_scenario` load `runner` on first use: it brings uvicorn and the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meetings_emulator.play.durations import format_duration, parse_duration
from meetings_emulator.play.errors import InvalidScenario, ScenarioError, ScenarioFailed
from meetings_emulator.play.validate import load_scenario, validate_scenario

if TYPE_CHECKING:
    from meetings_emulator.play.runner import main_play, run_scenario

__all__ = [
    "InvalidScenario",
    "ScenarioError",
    "ScenarioFailed",
    "format_duration",
    "load_scenario",
    "main_play",
    "parse_duration",
    "run_scenario",
    "validate_scenario",
]


def __getattr__(name: str) -> Any:
    if name in ("main_play", "run_scenario"):
        from meetings_emulator.play import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
