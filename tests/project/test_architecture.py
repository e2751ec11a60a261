"""ARCHITECTURE.md names real files, classes, functions and methods, so the map cannot rot."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "meetings_emulator"
MAP = ROOT / "ARCHITECTURE.md"

CODE = re.compile(r"`([^`]+)`")
PY_FILE = re.compile(r"^[\w/]+\.py$")
PY_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?(\(\))?$")
FILE_ENDINGS = (".py", ".md", ".toml", ".yaml", ".json")
# Words of the API in backticks, not names of code: fields and parameters.
API_WORDS = frozenset(
    {
        *("expires_at", "expire_after_use", "start_id", "end_id", "page_size", "force"),
        *("prev", "next", "duration"),
    }
)


def resolve(path: str) -> Path:
    at_root = path.startswith(("tests/", "openapi/", "meetings_emulator/"))
    return ROOT / path if at_root else PACKAGE / path


def is_code_name(token: str) -> bool:
    """A class, function, method or constant, not a file, a module, a folder or a field."""
    if not PY_NAME.match(token) or token in API_WORDS or token.endswith(FILE_ENDINGS):
        return False
    module = token.removesuffix("()")
    return module != "meetings_emulator" and not (
        (PACKAGE / module).is_dir() or (PACKAGE / f"{module}.py").is_file()
    )


@cache
def names_in(path: Path) -> frozenset[str]:
    """Top-level names, and `Class.member` for each class's members."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{member.name}")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def blocks(text: str) -> list[str]:
    """Table rows, list items and paragraphs: a name is looked up in the files of its block."""
    found: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        starts = line.startswith("|") or re.match(r"^(\d+\.|-) ", line) or not line.strip()
        if starts and current:
            found.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    if current:
        found.append(" ".join(current))
    return found


def references(text: str | None = None) -> list[tuple[tuple[str, ...], str, str]]:
    """(the block's files, a name, the block) for each code name in a block naming files."""
    found = []
    for block in blocks(MAP.read_text() if text is None else text):
        tokens = CODE.findall(block)
        files = tuple(token for token in tokens if PY_FILE.match(token))
        if not files:
            continue
        for token in tokens:
            if is_code_name(token):
                found.append((files, token.removesuffix("()"), block[:80]))
    return found


def defined(files: tuple[str, ...], name: str) -> bool:
    return any(resolve(path).is_file() and name in names_in(resolve(path)) for path in files)


def mentioned_paths() -> list[str]:
    tokens = [token for block in blocks(MAP.read_text()) for token in CODE.findall(block)]
    return sorted({t for t in tokens if PY_FILE.match(t) or re.match(r"^[\w/]+/$", t)})


def test_the_map_names_many_places() -> None:
    # The rules table alone names more than twenty; a parser that finds none is broken.
    assert len(references()) > 40
    assert len(mentioned_paths()) > 25


@pytest.mark.parametrize("path", mentioned_paths())
def test_every_file_and_folder_named_exists(path: str) -> None:
    assert resolve(path).exists(), f"ARCHITECTURE.md names {path}, which does not exist"


@pytest.mark.parametrize(("files", "name", "block"), references())
def test_every_name_exists_in_a_file_of_its_block(
    files: tuple[str, ...], name: str, block: str
) -> None:
    assert defined(files, name), f"none of {files} defines {name} ({block}...)"


def test_a_missing_name_is_caught() -> None:
    [(files, name, _)] = references("| a rule | `domain/rooms.py`, `Rooms.vanish` |")
    assert (files, name) == (("domain/rooms.py",), "Rooms.vanish")
    assert not defined(files, name)
    assert defined(files, "Rooms.create")
