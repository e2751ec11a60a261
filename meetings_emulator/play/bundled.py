"""The scenarios shipped inside the package, played by name: `play instant-standup`.

They are the files of `play/examples/` (the repository's `examples/` links to them), read
with `importlib.resources`, so an installed wheel finds them as a source checkout does.
A scenario argument is a bundled name when it is bare: no path separator, no `.yaml`,
`.yml` or `.json` ending, and no file of that name in the working directory.
"""

from __future__ import annotations

import difflib
import os
import re
import textwrap
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from meetings_emulator.play.errors import InvalidScenario
from meetings_emulator.play.validate import load_scenario, parse_scenario

SUFFIXES = (".yaml", ".yml", ".json")
SUMMARY_WIDTH = 80


def bundled_scenarios() -> dict[str, Traversable]:
    """Each bundled scenario's name (its file name without the ending) and its file."""
    folder = files("meetings_emulator.play") / "examples"
    if not folder.is_dir():
        return {}
    found: dict[str, Traversable] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        stem, dot, ending = entry.name.rpartition(".")
        if dot and f".{ending.lower()}" in SUFFIXES and entry.is_file():
            found.setdefault(stem, entry)
    return found


def is_bare_name(argument: str) -> bool:
    """Whether `argument` names a bundled scenario rather than a file."""
    separators = [sep for sep in ("/", os.sep, os.altsep) if sep]
    return (
        bool(argument)
        and not any(sep in argument for sep in separators)
        and not argument.lower().endswith(SUFFIXES)
        and not Path(argument).exists()
    )


def load_bundled(name: str) -> dict[str, Any]:
    """The bundled scenario called `name`; `InvalidScenario` says which names there are."""
    scenarios = bundled_scenarios()
    entry = scenarios.get(name)
    if entry is None:
        known = ", ".join(scenarios) or "none"
        close = difflib.get_close_matches(name, list(scenarios), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise InvalidScenario(
            f"no such file, and no bundled scenario of that name{hint}"
            f" (bundled: {known}; see play --list)"
        )
    source = f"{name} (bundled)"
    try:
        text = entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise InvalidScenario(f"cannot read {source}: {problem}") from None
    return parse_scenario(text, source, as_json=entry.name.lower().endswith(".json"))


def open_scenario(argument: str) -> dict[str, Any]:
    """A scenario from a file's path, or from a bundled name (see `is_bare_name`)."""
    if is_bare_name(argument):
        return load_bundled(argument)
    return load_scenario(argument)


def summary(scenario: dict[str, Any]) -> str:
    """One line about a scenario: its description's first sentence, else its name."""
    description = scenario.get("description")
    text = " ".join(description.split()) if isinstance(description, str) else ""
    if not text:
        return str(scenario.get("name", ""))
    first = re.match(r"(.+?[.!?])(\s|$)", text)
    return textwrap.shorten(first.group(1) if first else text, SUMMARY_WIDTH, placeholder=" …")


def listing() -> list[str]:
    """`play --list`: one line per bundled scenario, its name then its summary."""
    names = list(bundled_scenarios())
    width = max((len(name) for name in names), default=0)
    lines = []
    for name in names:
        try:
            about = summary(load_bundled(name))
        except InvalidScenario as problem:
            about = f"(not a valid scenario: {problem})"
        lines.append(f"{name:<{width}}  {about}")
    return lines
