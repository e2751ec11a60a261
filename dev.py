#!/usr/bin/env python3
"""Run the emulator or its tests from a fresh checkout; only Python 3.11+ is needed.

    python3 dev.py run [emulator options]   serve the API on http://127.0.0.1:9010
    python3 dev.py test [pytest options]    ruff, the import contracts, then the whole test suite

On first use (and whenever pyproject.toml changes) this makes `.venv/` beside it and
installs the project with its test extras there. MEETINGS_EMULATOR_VENV names another
folder for it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MEETINGS_EMULATOR_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed-from"


def ensure_environment() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"dev.py: creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing the project and its test tools", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an older Python
        print("dev.py: Python 3.11 or newer is needed", file=sys.stderr)
        return 2
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "run":
        return subprocess.call([str(PYTHON), "-m", "meetings_emulator", *rest], cwd=ROOT)
    checks = ([str(PYTHON), "-m", "ruff", "check", "."], [str(BIN / "lint-imports")])
    for check in checks:
        failed = subprocess.call(check, cwd=ROOT)
        if failed:
            return failed
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
