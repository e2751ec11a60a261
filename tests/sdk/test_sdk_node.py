"""The official Node SDK, `@vonage/meetings@1.12.1`, against the emulator over real sockets.

The Node suite is `tests/sdk/node/meetings.test.mjs` (`node --test`), with its packages pinned
by `tests/sdk/node/package-lock.json`. This test installs them with `npm ci` when they are
missing, serves the emulator on a free loopback port and runs the suite against it.

Skipped when `node` or `npm` is not on PATH, and when the npm registry cannot be reached for
the install (but under `CI` that fails instead). Deselect with `-m "not sdk"`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from meetings_emulator.app import create_app

from ..conftest import serving

pytestmark = [pytest.mark.sdk, pytest.mark.network]

NODE_DIR = Path(__file__).resolve().parent / "node"
SUITE = "meetings.test.mjs"
INSTALL_TIMEOUT = 180  # seconds, for `npm ci`
RUN_TIMEOUT = 120  # seconds, for `node --test`
MIN_NODE_MAJOR = 20
# What npm prints when it cannot reach the registry at all.
UNREACHABLE = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH"
    r"|ERR_SOCKET_TIMEOUT|network request to .* failed)\b"
)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _no_registry(reason: str) -> None:
    """Skip offline, but not in CI, where the SDK suite must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Node SDK suite: {reason}")
    pytest.skip(reason)


def _needs_install() -> bool:
    """No packages yet, or older than the lock (npm ci writes node_modules/.package-lock.json)."""
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.is_file():
        return True
    return installed.stat().st_mtime < (NODE_DIR / "package-lock.json").stat().st_mtime


def _install(npm: str) -> None:
    command = [npm, "ci", "--no-audit", "--no-fund"]
    try:
        result = subprocess.run(
            command,
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _no_registry(f"`npm ci` in {NODE_DIR} took more than {INSTALL_TIMEOUT} s")
        return
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    if UNREACHABLE.search(output):
        _no_registry(f"the npm registry cannot be reached for `npm ci`:\n{_tail(output, 15)}")
    pytest.fail(f"`npm ci` in {NODE_DIR} failed ({result.returncode}):\n{_tail(output)}")


def _node_major(node: str) -> int:
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    assert match, f"unexpected `node --version`: {version!r}"
    return int(match.group(1))


def _count(summary: str, output: str) -> int:
    """A count from node's TAP summary, e.g. `# pass 21`."""
    match = re.search(rf"^# {summary} (\d+)$", output, re.MULTILINE)
    assert match, f"node printed no `# {summary} N` line:\n{_tail(output)}"
    return int(match.group(1))


def test_node_sdk_suite_passes_against_the_emulator() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Node SDK suite needs `node` and `npm` on PATH (Node.js 20 or newer)")
    if _node_major(node) < MIN_NODE_MAJOR:
        pytest.skip(f"the Node SDK suite needs Node.js {MIN_NODE_MAJOR} or newer")
    if _needs_install():
        _install(npm)

    with serving(create_app()) as url:
        env = {**os.environ, "MEETINGS_EMULATOR_URL": url, "NO_COLOR": "1"}
        command = [node, "--test", "--test-reporter=tap", SUITE]
        try:
            result = subprocess.run(
                command,
                cwd=NODE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            partial = expired.stdout or ""
            if isinstance(partial, bytes):
                partial = partial.decode(errors="replace")
            pytest.fail(f"`node --test` took more than {RUN_TIMEOUT} s:\n{_tail(partial)}")

    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`node --test` exited {result.returncode}:\n{output}"
    passed, failed = _count("pass", output), _count("fail", output)
    assert passed > 0, f"node ran no passing test:\n{output}"
    assert failed == 0, f"node reported {failed} failing tests:\n{output}"
    assert _count("cancelled", output) == 0, f"node cancelled tests:\n{output}"
