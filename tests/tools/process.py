"""The emulator as a user runs it: a real process, its output read as it comes, real signals.

`Running.start` launches `python -m meetings_emulator` (or any command that becomes it, such
as `dev.py run`), waits for the start-up banner and gives its base URL; `stop` sends a
signal and returns what a user sees: the exit status, how long stopping took, and the
output. Other helpers make what the process talks to: a receiver that never answers, and a
virtual environment for `dev.py` that is this one, already installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = [sys.executable, "-m", "meetings_emulator"]
BANNER = re.compile(r"serving (https?://\S+) ")
SHUTDOWN_BOUND = 5.0  # docs/running.md: "Shutdown ends within 5 s"
SLACK = 1.5  # a loaded machine's share, on top of the bound
# uvicorn's HTTP/1.1 protocols: httptools, which it takes by default, and h11, which it falls
# back to where httptools cannot be imported.
PROTOCOLS = ("httptools", "h11")


@dataclass
class Stopped:
    status: int
    seconds: float
    stdout: str
    stderr: str


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str = ""
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(
        cls,
        *args: str,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        banner_on: str = "stdout",
        banner: re.Pattern[str] = BANNER,
        timeout: float = 30,
    ) -> Running:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR_")}
        process = subprocess.Popen(
            [*(command or EMULATOR), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **(env or {})},
            cwd=cwd,
        )
        running = cls(process)
        for name in ("stdout", "stderr"):
            reader = threading.Thread(target=running._read, args=(name,), daemon=True)
            reader.start()
            running._readers.append(reader)
        try:
            running.url = running._wait_for_banner(banner_on, banner, timeout)
        except BaseException:
            process.kill()
            process.wait(timeout=10)
            raise
        return running

    def _read(self, name: str) -> None:
        stream = getattr(self.process, name)
        lines: list[str] = getattr(self, name)
        for line in stream:
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        stream.close()

    def _wait_for_banner(self, where: str, banner: re.Pattern[str], timeout: float) -> str:
        lines: list[str] = getattr(self, where)
        found: list[str] = []

        def seen() -> bool:
            for line in lines:
                if where == "stderr" and line.startswith("{"):  # JSON lines
                    url = json.loads(line).get("url")
                    if url:
                        found.append(url)
                        return True
                match = banner.search(line)
                if match:
                    found.append(match.group(1))
                    return True
            return self.process.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, timeout)
        assert found, f"no start-up banner: {''.join(self.stdout)}{''.join(self.stderr)}"
        return found[0]

    def wait_for_log(self, text: str, timeout: float = 10, *, stream: str = "stderr") -> str:
        """The first line of `stream` containing `text`, waiting for it to be written."""
        found: list[str] = []
        lines: list[str] = getattr(self, stream)

        def seen() -> bool:
            found[:] = [line for line in lines if text in line][:1]
            return bool(found) or self.process.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, timeout)
        assert found, f"no line with {text!r} in:\n{''.join(lines)}"
        return found[0]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> Stopped:
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout=timeout)
        finally:
            seconds = time.monotonic() - started
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            for reader in self._readers:
                reader.join(timeout=10)
        return Stopped(status, seconds, "".join(self.stdout), "".join(self.stderr))

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_exc: Any) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)


def emulator_command(*, http: str = "httptools", open_files: int | None = None) -> list[str]:
    """A command that becomes `python -m meetings_emulator`, served with uvicorn's `http`
    protocol (one of `PROTOCOLS`), and under a soft limit of `open_files` open files (as
    `ulimit -n` sets it) when given. There is no option for the protocol: uvicorn picks h11
    where it cannot import httptools. The project needs httptools itself (the callback poster
    parses answers with it), so for h11 it is hidden from uvicorn alone, while it chooses;
    the command stops before serving if uvicorn chose another protocol."""
    if http not in PROTOCOLS:
        raise ValueError(f"no such protocol: {http}")
    lines = ["import sys"]
    if open_files is not None:
        lines += [
            "import resource",
            "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]",
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, hard))",
        ]
    if http == "h11":
        lines += [
            "sys.modules['httptools'] = None",  # an import of it fails, as where it is missing
            "import uvicorn.protocols.http.auto",
            "del sys.modules['httptools']",
        ]
    lines += [
        "from uvicorn.protocols.http.auto import AutoHTTPProtocol",
        f"assert AutoHTTPProtocol.__module__.endswith('.{http}_impl'), AutoHTTPProtocol",
        "from meetings_emulator.cli import main",
        "sys.exit(main())",
    ]
    return [sys.executable, "-c", "\n".join(lines)]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end (a bad option, `health`, `--help`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR_")}
    return subprocess.run(
        [*EMULATOR, *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


class StuckReceiver:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/callbacks"
        self.accepted: list[socket.socket] = []

    def wait_for_connection(self, timeout: float = 10) -> None:
        """Until the emulator has connected: a callback is in flight."""
        self.server.settimeout(timeout)
        connection, _ = self.server.accept()
        self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.server.close()

    def __enter__(self) -> StuckReceiver:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


def refused_url() -> str:
    """A URL where nothing listens: each post is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callbacks"


def dev_environment(folder: Path, extras: tuple[str, ...] = ()) -> Path:
    """A folder `dev.py` takes for its virtual environment, already installed: its python is
    this one (which has the project), and its stamp matches today's pyproject.toml."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (folder / ".installed-from").write_text(
        json.dumps({"pyproject": wanted, "extras": list(extras)})
    )
    return folder
