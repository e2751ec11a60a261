"""The code blocks of README.md and of the docs pages, and how each one is checked.

Every fenced block is exactly one of:

- run as it stands, by its language: ```python is executed, ```sh runs in bash against an
  emulator served for it (`http://127.0.0.1:9010` becomes its address, `python3 dev.py run`
  and `meetings-emulator` this Python's `-m meetings_emulator`), ```json and ```yaml are
  parsed;
- claimed by name, with `<!-- sample: NAME -->` on the line before it: the test that
  `CLAIMED` names finds it with `named(NAME)` and runs it the way it needs (a server that
  never ends, two processes, a TLS emulator, an official SDK, a structure to check);
- not run, with `<!-- sample: skip: why -->` on the line before it (what needs a container
  engine, for one): Python is still compiled and shell still read by `bash -n`.

A block of any other language with neither marker fails `test_every_block_is_run_or_marked`.
Blocks included into pages from other files (ARCHITECTURE.md, bench/RESULTS.md, README.md
sections) are checked where they are written.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
NOT_PAGES = {DOCS / "configuration-table.md"}  # generated, included by configuration.md

RUN_AS_IS = frozenset({"python", "sh", "json", "yaml"})
FENCE = re.compile(r"^[ \t]*```([\w-]*)[ \t]*$")  # in a list item too
MARKER = re.compile(r"^<!-- sample: (.+?) -->$")

# Each name a page may claim a block with, and the test (under tests/) that runs that block.
CLAIMED = {
    "commands": "project/test_readme.py::test_readme_starts_with_the_two_commands",
    "tour": "project/test_readme.py::test_the_tour_works_as_pasted",
    "pytest": "tools/test_pytest_plugin.py::test_the_readme_example_passes",
    "pytest-tenant": "tools/test_pytest_tenant.py::test_the_docs_tenant_example_passes",
    "pytest-wait": "tools/test_pytest_plugin.py::test_the_waiting_example_passes_without_a_sleep",
    "tls-start": "project/test_readme.py::test_the_python_sdk_recipe",
    "python-sdk": "project/test_readme.py::test_the_python_sdk_recipe",
    "node-sdk": "project/test_readme.py::test_the_node_sdk_recipe",
    "github-action": "project/test_readme.py::test_the_action_step_is_well_formed",
    "receiver": "project/test_docs_samples.py::test_play_and_receiver_show_a_meeting",
    "play-to-receiver": "project/test_docs_samples.py::test_play_and_receiver_show_a_meeting",
    "verify-signature": "project/test_docs_samples.py::test_the_signature_recipe",
    "events": "project/test_docs_samples.py::test_the_event_stream_sample",
    "local-links": "project/test_docs_samples.py::test_local_links_sample",
    "github-action-state": "project/test_docs_samples.py::test_the_action_with_state",
    "compose": "project/test_docs_samples.py::test_the_compose_sample",
    "gitlab-ci": "project/test_docs_samples.py::test_the_gitlab_sample_names_its_service",
}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, from 1
    language: str
    text: str
    marker: str | None  # what `<!-- sample: ... -->` before it says, if anything

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def skipped(self) -> bool:
        return self.marker is not None and self.marker.startswith("skip:")

    @property
    def name(self) -> str | None:
        return None if self.marker is None or self.skipped else self.marker

    @property
    def run_as_is(self) -> bool:
        return self.marker is None and self.language in RUN_AS_IS


def pages() -> list[Path]:
    """Every markdown page of the site, and README.md."""
    found = sorted(path for path in DOCS.rglob("*.md") if path not in NOT_PAGES)
    return [README, *found]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    n = 0
    while n < len(lines):
        opening = FENCE.match(lines[n])
        if opening is None:
            n += 1
            continue
        before = next((line for line in reversed(lines[:n]) if line.strip()), "")
        marker = MARKER.match(before.strip())
        end = next((m for m in range(n + 1, len(lines)) if lines[m].strip() == "```"), None)
        assert end is not None, f"{path.relative_to(ROOT)}:{n + 1}: a block is never closed"
        indent = len(lines[n]) - len(lines[n].lstrip())
        text = "\n".join(line[indent:] for line in lines[n + 1 : end]) + "\n"
        found.append(Block(path, n + 1, opening.group(1), text, marker and marker.group(1)))
        n = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks_of(path)]


def named(name: str) -> Block:
    """The one block claimed with `<!-- sample: NAME -->`."""
    assert name in CLAIMED, f"{name!r} is not in samples.CLAIMED"
    found = [block for block in all_blocks() if block.name == name]
    assert len(found) == 1, f"one block is marked `sample: {name}`, not {len(found)}"
    return found[0]


def run_shell(block: Block, url: str, launcher: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell sample against the emulator at `url`, `launcher` standing for `python3
    dev.py run`, in `cwd` (which sees the checkout's examples/, as samples run from the root)."""
    (cwd / "examples").symlink_to(ROOT / "examples")
    script = block.text.replace("http://127.0.0.1:9010", url).replace(
        "python3 dev.py run", launcher
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
