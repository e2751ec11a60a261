#!/usr/bin/env python3
"""Run the emulator or its tests from a fresh checkout; only Python 3.11+ is needed.

    python3 dev.py run [emulator options]   serve the API on http://127.0.0.1:9010
    python3 dev.py test [pytest options]    ruff, the import contracts, the docs site, then
                                            the whole test suite

On first use this makes `.venv/` beside it and installs there what the command needs:
`run` the project alone, `test` the project with its test and docs tools. It installs again when
pyproject.toml changes, or when a command needs tools not yet installed. A stamp in the
environment records what was installed, from which pyproject.toml. MEETINGS_EMULATOR_VENV
names another folder for it.

`run` becomes the emulator (the same process on POSIX), so Ctrl-C and SIGTERM reach it
directly and it stops as it always does, saving its state file. Paths given to it are
read from the folder `dev.py` was called from.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MEETINGS_EMULATOR_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed-from"
EXTRAS = {"run": frozenset(), "test": frozenset({"test", "docs"})}


def pyproject_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def read_stamp(text: str) -> tuple[str, frozenset[str]]:
    """(the pyproject.toml hash, the extras installed) a stamp records.

    An older stamp holds the hash alone: that environment had the test tools."""
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text, frozenset({"test"})
    if not isinstance(data, dict):
        return text, frozenset({"test"})
    return str(data.get("pyproject", "")), frozenset(data.get("extras", ()))


def write_stamp(wanted: str, extras: frozenset[str]) -> str:
    return json.dumps({"pyproject": wanted, "extras": sorted(extras)})


def to_install(stamp: str | None, wanted: str, needed: frozenset[str]) -> frozenset[str] | None:
    """The extras to install now (with the project), or None when all is in place.

    Extras installed from the same pyproject.toml are installed again with the new ones, so
    the stamp still covers them; after pyproject.toml changed, only what is needed."""
    if stamp is None:
        return needed
    installed_from, installed = read_stamp(stamp)
    if installed_from != wanted:
        return needed
    if needed <= installed:
        return None
    return needed | installed


def install_target(extras: frozenset[str]) -> str:
    """What pip installs: this checkout, with `extras` (none for `run`)."""
    return f"{ROOT}[{','.join(sorted(extras))}]" if extras else str(ROOT)


def ensure_environment(command: str) -> None:
    wanted = pyproject_hash()
    stamp = STAMP.read_text() if STAMP.exists() and PYTHON.exists() else None
    extras = to_install(stamp, wanted, EXTRAS[command])
    if extras is None:
        return
    if not PYTHON.exists():
        print(f"dev.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = install_target(extras)
    print(
        "dev.py: installing the project" + (f" with {', '.join(sorted(extras))}" if extras else ""),
        file=sys.stderr,
    )
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", target], check=True)
    STAMP.write_text(write_stamp(wanted, extras))


def run_emulator(arguments: list[str]) -> int:
    """Become the emulator; where a process cannot be replaced, wait for it instead."""
    command = [str(PYTHON), "-m", "meetings_emulator", *arguments]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)  # returns only by raising
    # Elsewhere Ctrl-C reaches both processes: this one leaves the stopping to the emulator.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with subprocess.Popen(command) as emulator:
        return emulator.wait()


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an older Python
        print("dev.py: Python 3.11 or newer is needed", file=sys.stderr)
        return 2
    if not argv or argv[0] not in EXTRAS:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment(command)
    if command == "run":
        return run_emulator(rest)
    checks = ([str(PYTHON), "-m", "ruff", "check", "."], [str(BIN / "lint-imports")])
    for check in checks:
        failed = subprocess.call(check, cwd=ROOT)
        if failed:
            return failed
    failed = build_docs()
    if failed:
        return failed
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


def build_docs(root: Path = ROOT) -> int:
    """Build the docs site of `root` strictly (a warning, such as a broken link or anchor,
    fails it), into a folder thrown away afterwards; the exit status of `mkdocs build`.

    Not --quiet: mkdocs then hides its warnings, and --strict no longer counts them."""
    started = time.monotonic()
    quiet = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor
    with tempfile.TemporaryDirectory(prefix="meetings-emulator-site-") as site:
        build = [str(PYTHON), "-m", "mkdocs", "build", "--strict", "--site-dir", site]
        failed = subprocess.call(build, cwd=root, env=quiet)
    outcome = "failed" if failed else "built"
    print(f"dev.py: docs site {outcome} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
