"""The image's locks ask for what pyproject.toml asks for: the same names, allowed versions,
every pin with its hashes, and every other entry there because something needs it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """A `uv pip compile --generate-hashes` file: each pin, its hashes and its `# via` lines."""
    pins: dict[str, Pin] = {}
    for entry in re.split(r"\n(?=[a-z0-9])", path.read_text()):
        head = re.match(r"([a-z0-9][a-z0-9._-]*)==(\S+)", entry)
        if head is None:
            continue
        name = canonicalize_name(head.group(1))
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
        via_text = entry.split("# via", 1)[1] if "# via" in entry else ""
        via = tuple(
            line.strip(" #")
            for line in via_text.splitlines()
            if line.strip(" #") and not line.strip(" #").startswith("via")
        )
        pins[name] = Pin(name, head.group(2), hashes, via)
    return pins


SERVE = read_lock(ROOT / "requirements/serve.lock")
BUILD = read_lock(ROOT / "requirements/build.lock")
RUNTIME = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
BUILD_REQUIRES = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
PROJECT = "meetings-emulator (pyproject.toml)"


def test_the_serving_lock_pins_exactly_the_runtime_dependencies() -> None:
    direct = {name for name, pin in SERVE.items() if PROJECT in pin.via}
    assert direct == {canonicalize_name(r.name) for r in RUNTIME}


def test_the_build_lock_pins_exactly_the_build_requirements() -> None:
    listed = [
        Requirement(line)
        for line in (ROOT / "requirements/build.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [str(r) for r in listed] == [str(r) for r in BUILD_REQUIRES]
    direct = {name for name, pin in BUILD.items() if "-r requirements/build.in" in pin.via}
    assert direct == {canonicalize_name(r.name) for r in BUILD_REQUIRES}


@pytest.mark.parametrize(
    ("lock", "wanted"), [(SERVE, RUNTIME), (BUILD, BUILD_REQUIRES)], ids=["serve", "build"]
)
def test_each_pin_is_allowed_hashed_and_needed(
    lock: dict[str, Pin], wanted: list[Requirement]
) -> None:
    for requirement in wanted:
        pin = lock[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin.version, prereleases=True), (requirement, pin)
    for pin in lock.values():
        assert pin.hashes, f"{pin.name} has no hash: pip --require-hashes would refuse the lock"
        assert pin.via, f"{pin.name} is pinned but nothing asks for it"
        for reason in pin.via:
            asker = canonicalize_name(reason.split(" ")[0])
            assert reason.startswith(("meetings-emulator", "-r ")) or asker in lock, (pin, reason)


def test_the_serving_lock_holds_no_test_or_build_tool() -> None:
    tools = {
        canonicalize_name(Requirement(t).name)
        for t in PYPROJECT["project"]["optional-dependencies"]["test"]
    }
    assert not tools & set(SERVE), tools & set(SERVE)
    assert "hatchling" not in SERVE
