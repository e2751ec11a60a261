"""The emulator's performance figures against their targets, in one command.

    .venv/bin/python bench/run.py [--quick] [--write]

Needs, and installs none of: Debian's `wrk` (`apt-get install wrk`) and Stoplight Prism
5.16.0 under `bench/node_modules` (`npm ci --prefix bench`). Everything listens on 127.0.0.1;
every child process is ended when the run ends, however it ends.

Throughput and latency: the emulator (`python -m meetings_emulator --max-rooms 1000000
--log-level warning`), a bare Starlette app on the same uvicorn settings (`bench/baseline.py`)
and Prism mocking Vonage's own reference spec are each driven by wrk (2 threads, 32
connections) with the same bearer JWT, the servers taking turns within every round so the
machine's noise hits them alike. Prism runs twice: as `prism mock SPEC` starts (its default
`info` log level, each call logged to a file), which the targets compare with, and with
`-v silent`, its fastest, as context. Each figure is the median of the rounds; each ratio is
between medians of this same run. A wrk run with any non-2xx answer or socket error makes
its figure INVALID.

The other figures: a page of 20 rooms with 100,000 vs 1,000 rooms stored (two emulators,
taking turns under wrk); memory per room and the clock move over 100,000 expiries, in a
fresh emulator per round (`bench/serve.py` creates the rooms in-process, then
`POST /_emulator/clock`); callback deliveries to the emulator's own receiver
(`bench/receiver.py`); process start to first healthy answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_SPEC = ROOT / "tests/fixtures/specs/vonage-meetings-openapi.yml"
PRISM_VERSION = "5.16.0"
PRISM_BIN = BENCH / "node_modules/.bin/prism"
HOST = "127.0.0.1"
API = "/v1/meetings"
POST_BODY = {"display_name": "Bench room", "type": "instant"}

WRK_THREADS = 2
WRK_CONNECTIONS = 32
GET_ROOMS = 1_000  # rooms created before the GET rounds; GETs cycle over their ids
PAGE_SMALL, PAGE_LARGE = 1_000, 100_000
MEMORY_ROOMS = CLOCK_ROOMS = 100_000
CALLBACK_ROOMS = 5_000  # one room:expired callback each; within the 10,000-entry delivery log

TARGETS = {
    "prism": 5.0,  # emulator / Prism, at least
    "baseline": 0.5,  # emulator / bare Starlette, at least
    "p99_ms": 5.0,
    "page_ratio": 1.2,
    "bytes_per_room": 2048,
    "clock_s": 1.0,
    "callbacks_per_s": 2000,
    "startup_s": 1.0,
}


# -- child processes --------------------------------------------------------------------


class Children:
    """Every process this run starts, each in its own process group, all ended at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
        proc.log_file = log  # type: ignore[attr-defined]
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        # Whatever the group left behind (npx's node, say).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.log_file.close()  # type: ignore[attr-defined]
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def tail(self, proc: subprocess.Popen[bytes], lines: int = 15) -> str:
        path = self.logs / f"{proc.name}.log"  # type: ignore[attr-defined]
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def server_options(port: int) -> list[str]:
    """The options every emulator the bench serves starts with."""
    return ["--port", str(port), "--max-rooms", "1000000", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    children: Children,
    timeout: float,
    token: str | None = None,
    interval: float = 0.05,
) -> float:
    """Poll `url` until it answers 2xx (bounded by `timeout`); the seconds it took."""
    started = time.perf_counter()
    deadline = started + timeout
    for _ in range(int(timeout / interval) + 1):
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.returncode}:\n{children.tail(proc)}"  # type: ignore[attr-defined]
            )
        try:
            status, _ = http("GET", url, token=token, timeout=1.0)
            if 200 <= status < 300:
                return time.perf_counter() - started
        except (OSError, urllib.error.URLError):
            pass
        if time.perf_counter() > deadline:
            break
        time.sleep(interval)
    raise RuntimeError(
        f"{proc.name} not ready at {url} after {timeout:.0f} s:\n{children.tail(proc)}"
    )  # type: ignore[attr-defined]


# -- a small HTTP/1.1 client for setting up state fast -------------------------------------


async def _post_many(
    port: int, path: str, body: bytes, token: str, count: int, conns: int
) -> list[tuple[int, bytes]]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    results: list[tuple[int, bytes]] = []
    shares = [count // conns + (1 if i < count % conns else 0) for i in range(conns)]

    async def worker(share: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for _ in range(share):
                writer.write(request)
                status_line = await reader.readline()
                status = int(status_line.split()[1])
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                results.append((status, await reader.readexactly(length)))
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker(s) for s in shares if s)), timeout=120)
    return results


def create_rooms(port: int, token: str, count: int, conns: int = 16) -> list[str]:
    """Create `count` instant rooms over HTTP; their ids. Raises unless every answer is 201."""
    body = json.dumps(POST_BODY).encode()
    results = asyncio.run(_post_many(port, f"{API}/rooms", body, token, count, conns))
    bad = [status for status, _ in results if status != 201]
    if bad or len(results) != count:
        raise RuntimeError(f"creating rooms: {len(bad)} non-201 answers ({sorted(set(bad))})")
    return [json.loads(raw)["id"] for _, raw in results]


# -- wrk ----------------------------------------------------------------------------------


@dataclass
class WrkRun:
    rps: float  # 2xx answers per second
    p50_ms: float
    p99_ms: float
    requests: int
    errors: dict[str, int]
    cpu_us: float = 0.0  # the server's CPU time per request (user + system), microseconds

    @property
    def valid(self) -> bool:
        return not any(self.errors.values())


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, script: str, seconds: float, env: dict[str, str], pid: int | None = None
) -> WrkRun:
    argv = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",  # wrk's default 2 s counts a slow answer on a loaded machine as an error
        "--latency",
        "-s",
        str(BENCH / script),
        url,
    ]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env={**os.environ, "BENCH_DIR": str(BENCH), **env},
        check=False,
    )
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    out = done.stdout
    match = re.search(r"^BENCH (\{.*\})$", out, re.M)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}) on {url}:\n{out}\n{done.stderr}")
    stats = json.loads(match.group(1))
    # p99 from wrk's own latency distribution (--latency); the script's figure if absent.
    p99 = stats["p99_us"] / 1000
    found = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found:
        p99 = float(found.group(1)) * UNITS[found.group(2)]
    errors = {
        "non_2xx": stats["status_errors"],
        "connect": stats["connect_errors"],
        "read": stats["read_errors"],
        "write": stats["write_errors"],
        "timeout": stats["timeouts"],
    }
    good = stats["requests"] - stats["status_errors"]
    return WrkRun(
        rps=good / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=p99,
        requests=stats["requests"],
        errors=errors,
        cpu_us=cpu * 1e6 / max(1, stats["requests"]),
    )


# -- figures --------------------------------------------------------------------------------


@dataclass
class Series:
    """One measured quantity over the rounds of this run."""

    values: list[float] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def add(self, value: float, problem: str | None = None) -> None:
        self.values.append(value)
        if problem:
            self.invalid.append(problem)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self, fmt: str = "{:,.0f}") -> str:
        if len(self.values) < 2:
            return ""
        return f"[{fmt.format(min(self.values))}-{fmt.format(max(self.values))}]"


@dataclass
class Row:
    figure: str
    measured: str
    target: str
    ratio: str
    verdict: str  # PASS, MISS, INVALID, info


def verdict(ok: bool, *series: Series) -> str:
    if any(s.invalid for s in series):
        return "INVALID"
    return "PASS" if ok else "MISS"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rotated(items: list[Any], by: int) -> list[Any]:
    by %= len(items)
    return items[by:] + items[:by]


def make_token() -> tuple[str, str]:
    """A bearer JWT as the SDKs make one (RS256, application_id, iat, exp, jti); the public key."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "application_id": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 10 * 365 * 86400,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(claims, key, algorithm="RS256")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return token, public.decode()


def prism_spec(source: Path, target: Path) -> None:
    """Vonage's spec writes path parameters Express-style (`/rooms/:room_id`); Prism wants
    `{room_id}`. Only the path keys change."""
    text = source.read_text()
    converted = re.sub(
        r"^(  /\S*?):$",
        lambda m: re.sub(r"/:([A-Za-z_][A-Za-z0-9_]*)", r"/{\1}", m.group(1)) + ":",
        text,
        flags=re.M,
    )
    target.write_text(converted)


def throughput(
    args: argparse.Namespace, children: Children, work: Path, token: str, rows: list[Row]
) -> None:
    py = sys.executable
    emulator_port, baseline_port = free_port(), free_port()
    prism_port, silent_port = free_port(), free_port()
    emulator_argv = [
        py,
        "-m",
        "meetings_emulator",
        *server_options(emulator_port),
    ]
    if args.verify_jwt:
        public = work / "public.pem"
        public.write_text(args.public_pem)
        emulator_argv += ["--public-key", str(public)]
    emulator = children.start("emulator", emulator_argv, cwd=ROOT)
    baseline = children.start(
        "baseline",
        [py, str(BENCH / "baseline.py"), "--port", str(baseline_port), "--log-level", "warning"],
        cwd=ROOT,
    )
    spec = work / "vonage-meetings-openapi.prism.yml"
    prism_spec(args.spec, spec)
    # The Prism the targets compare with starts as `prism mock` does by default; the other
    # one logs nothing, Prism at its fastest.
    prism_argv = [str(PRISM_BIN), "mock", "-h", HOST]
    prism = children.start("prism", [*prism_argv, "-p", str(prism_port), str(spec)], cwd=BENCH)
    silent = children.start(
        "prism-silent",
        [*prism_argv, "-p", str(silent_port), "-v", "silent", str(spec)],
        cwd=BENCH,
    )
    wait_ready(emulator, f"http://{HOST}:{emulator_port}/_emulator/health", children, 30)
    wait_ready(baseline, f"http://{HOST}:{baseline_port}/_emulator/health", children, 30)

    ids = create_rooms(emulator_port, token, GET_ROOMS)
    for proc, port in ((prism, prism_port), (silent, silent_port)):
        wait_ready(proc, f"http://{HOST}:{port}/rooms/{ids[0]}", children, 60, token=token)
    paths = work / "room-ids.txt"
    paths.write_text("\n".join(ids) + "\n")

    servers = {
        "emulator": (f"http://{HOST}:{emulator_port}{API}/rooms", emulator),
        "baseline": (f"http://{HOST}:{baseline_port}{API}/rooms", baseline),
        "prism": (f"http://{HOST}:{prism_port}/rooms", prism),
        "prism-silent": (f"http://{HOST}:{silent_port}/rooms", silent),
    }
    # Each answers both operations with 2xx before anything is measured.
    for name, (url, _) in servers.items():
        status, _ = http("POST", url, POST_BODY, token)
        got, body = http("GET", f"{url}/{ids[0]}", token=token)
        if status != 201 or got != 200:
            raise RuntimeError(f"{name}: POST answered {status}, GET {got}: {body}")

    env = {"BENCH_TOKEN": token, "BENCH_PATHS": str(paths)}
    kinds = {"POST": ("post.lua", ""), "GET": ("get.lua", "/")}
    say(f"warming up each server ({args.warmup:g} s per operation)")
    for url, _ in servers.values():
        for script, suffix in kinds.values():
            run_wrk(url + suffix, script, args.warmup, env)

    results: dict[tuple[str, str], Series] = {
        (name, kind): Series() for name in servers for kind in kinds
    }
    cpu: dict[tuple[str, str], Series] = {key: Series() for key in results}
    p99, bare_p99 = Series(), Series()
    for round_number in range(args.runs):
        for kind, (script, suffix) in kinds.items():
            for name in rotated(list(servers), round_number):
                url, proc = servers[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} died:\n{children.tail(proc)}")
                run = run_wrk(url + suffix, script, args.duration, env, pid=proc.pid)
                problem = None if run.valid else f"{name} {kind}: {run.errors}"
                results[(name, kind)].add(run.rps, problem)
                cpu[(name, kind)].add(run.cpu_us)
                if name == "emulator" and kind == "GET":
                    p99.add(run.p99_ms, problem)
                if name == "baseline" and kind == "GET":
                    bare_p99.add(run.p99_ms, problem)
                say(
                    f"  round {round_number + 1}/{args.runs} {kind:4} {name:12} "
                    f"{run.rps:9,.0f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms"
                    f"  server CPU {run.cpu_us:5.0f} us/req"
                    + (f"  INVALID {run.errors}" if problem else "")
                )
    for proc in (emulator, baseline, prism, silent):
        children.stop(proc)

    for kind in kinds:
        emu, base, pri = (results[(n, kind)] for n in ("emulator", "baseline", "prism"))
        ratio = emu.median / pri.median
        rows.append(
            Row(
                f"{kind} room throughput vs Prism {PRISM_VERSION}",
                f"{emu.median:,.0f} req/s {emu.spread()} vs Prism {pri.median:,.0f} {pri.spread()}",
                f">= {TARGETS['prism']:g}x Prism",
                f"{ratio:.2f}x",
                verdict(ratio >= TARGETS["prism"], emu, pri),
            )
        )
    for kind in kinds:
        emu, quiet = results[("emulator", kind)], results[("prism-silent", kind)]
        rows.append(
            Row(
                f"{kind} room throughput vs Prism -v silent (context)",
                f"{emu.median:,.0f} req/s vs Prism silent {quiet.median:,.0f} {quiet.spread()}",
                "-",
                f"{emu.median / quiet.median:.2f}x",
                "info",
            )
        )
    for kind in kinds:
        emu, base = results[("emulator", kind)], results[("baseline", kind)]
        ratio = emu.median / base.median
        rows.append(
            Row(
                f"{kind} room throughput vs bare Starlette",
                f"{emu.median:,.0f} req/s vs bare {base.median:,.0f} {base.spread()}",
                f">= {TARGETS['baseline']:g}x bare",
                f"{ratio:.2f}x",
                verdict(ratio >= TARGETS["baseline"], emu, base),
            )
        )
    for kind in kinds:
        emu, base, pri, quiet = (
            cpu[(n, kind)].median for n in ("emulator", "baseline", "prism", "prism-silent")
        )
        rows.append(
            Row(
                f"{kind} room: server CPU per request (noise check)",
                f"emulator {emu:,.0f} us, bare {base:,.0f} us, Prism {pri:,.0f} us"
                f" (silent {quiet:,.0f} us)",
                "-",
                f"Prism/emulator {pri / emu:.2f}x, bare/emulator {base / emu:.2f}x",
                "info",
            )
        )
    rows.append(
        Row(
            f"GET room p99 latency, {WRK_CONNECTIONS} connections",
            f"{p99.median:.2f} ms {p99.spread('{:.2f}')}",
            f"<= {TARGETS['p99_ms']:g} ms",
            f"{p99.median / TARGETS['p99_ms']:.2f}x of limit",
            verdict(p99.median <= TARGETS["p99_ms"], p99),
        )
    )
    rows.append(
        Row(
            "GET p99 of bare Starlette in the same rounds (context)",
            f"{bare_p99.median:.2f} ms {bare_p99.spread('{:.2f}')}",
            "-",
            "-",
            "info",
        )
    )
    for kind in kinds:
        base, pri = results[("baseline", kind)], results[("prism", kind)]
        quiet = results[("prism-silent", kind)]
        rows.append(
            Row(
                f"{kind}: bare Starlette vs Prism (the ceiling here, context)",
                f"{base.median:,.0f} vs {pri.median:,.0f} req/s (silent {quiet.median:,.0f})",
                "-",
                f"{base.median / pri.median:.2f}x (silent {base.median / quiet.median:.2f}x)",
                "info",
            )
        )


def paging(
    args: argparse.Namespace, children: Children, work: Path, token: str, rows: list[Row]
) -> None:
    servers: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
    for stored in (PAGE_SMALL, PAGE_LARGE):
        port = free_port()
        proc = children.start(
            f"emulator-{stored}",
            [
                sys.executable,
                str(BENCH / "serve.py"),
                "--prefill",
                str(stored),
                "--",
                *server_options(port),
            ],
            cwd=ROOT,
        )
        servers[stored] = (f"http://{HOST}:{port}{API}/rooms", proc)
    for stored, (url, proc) in servers.items():
        base = url.split(API)[0]
        wait_ready(proc, f"{base}/_emulator/health", children, 300)
        _, health = http("GET", f"{base}/_emulator/health")
        if health["rooms"] != stored:
            raise RuntimeError(f"expected {stored} rooms, the emulator holds {health['rooms']}")
    say(f"paging: emulators holding {PAGE_SMALL:,} and {PAGE_LARGE:,} rooms")
    pick = random.Random(7)
    series = {stored: Series() for stored in servers}
    cpu = {stored: Series() for stored in servers}
    for stored, (url, _) in servers.items():
        # Pages from anywhere in the listing (serials run 1..stored).
        lines = [f"?page_size=20&start_id={pick.randint(1, stored - 20)}" for _ in range(2000)]
        (work / f"pages-{stored}.txt").write_text("\n".join(lines) + "\n")
        status, body = http("GET", url + lines[0], token=token)
        if status != 200 or len(body["_embedded"]) != 20 or body["total_items"] != stored:
            raise RuntimeError(f"paging check failed: {status} {str(body)[:300]}")
        run_wrk(
            url,
            "get.lua",
            args.warmup,
            {"BENCH_TOKEN": token, "BENCH_PATHS": str(work / f"pages-{stored}.txt")},
        )
    for round_number in range(args.runs):
        for stored in rotated(list(servers), round_number):
            url, proc = servers[stored]
            env = {"BENCH_TOKEN": token, "BENCH_PATHS": str(work / f"pages-{stored}.txt")}
            run = run_wrk(url, "get.lua", args.duration, env, pid=proc.pid)
            series[stored].add(run.rps, None if run.valid else f"{stored}: {run.errors}")
            cpu[stored].add(run.cpu_us)
            say(
                f"  round {round_number + 1}/{args.runs} page of 20, {stored:>7,} rooms: "
                f"{run.rps:8,.0f} pages/s  p50 {run.p50_ms:.2f} ms  "
                f"server CPU {run.cpu_us:.0f} us/page"
            )
    for _, proc in servers.values():
        children.stop(proc)
    small, large = series[PAGE_SMALL], series[PAGE_LARGE]
    ratio = small.median / large.median  # time per page, 100k over 1k
    rows.append(
        Row(
            f"page of 20 rooms, {PAGE_LARGE:,} vs {PAGE_SMALL:,} stored",
            f"{1000 / large.median:.3f} ms/page vs {1000 / small.median:.3f} "
            f"({large.median:,.0f} vs {small.median:,.0f} pages/s)",
            f"<= {TARGETS['page_ratio']:g}x",
            f"{ratio:.2f}x",
            verdict(ratio <= TARGETS["page_ratio"], small, large),
        )
    )
    rows.append(
        Row(
            "page of 20 rooms: server CPU per page (noise check)",
            f"{cpu[PAGE_LARGE].median:,.0f} us vs {cpu[PAGE_SMALL].median:,.0f} us",
            "-",
            f"{cpu[PAGE_LARGE].median / cpu[PAGE_SMALL].median:.2f}x",
            "info",
        )
    )


def rooms_100k(args: argparse.Namespace, children: Children, work: Path, rows: list[Row]) -> None:
    """Memory per room and the clock move over 100,000 expiries, in the served emulator: per
    round, `serve.py` (the emulator's CLI) creates the instant rooms in-process and reports
    its RSS before and after; then `POST /_emulator/clock` moves the clock 601 s, and every
    expiry happens before the answer (callbacks off: no callback URL)."""
    memory, clock, clock_cpu = Series(), Series(), Series()
    for round_number in range(args.runs):
        port, stats_file = free_port(), work / f"rooms-{round_number}.json"
        proc = children.start(
            "emulator-100k",
            [
                sys.executable,
                str(BENCH / "serve.py"),
                "--prefill",
                str(MEMORY_ROOMS),
                "--prefill-type",
                "instant",
                "--stats",
                str(stats_file),
                "--",
                *server_options(port),
            ],
            cwd=ROOT,
        )
        try:
            base = f"http://{HOST}:{port}/_emulator"
            wait_ready(proc, f"{base}/health", children, 300)
            stats = json.loads(stats_file.read_text())
            per_room = (stats["rss_after"] - stats["rss_before"]) / stats["rooms"]
            memory.add(per_room)
            cpu_before = cpu_seconds(proc.pid)
            started = time.perf_counter()
            status, _ = http("POST", f"{base}/clock", {"advance_seconds": 601}, timeout=300)
            took = time.perf_counter() - started
            cpu = cpu_seconds(proc.pid) - cpu_before
            _, health = http("GET", f"{base}/health")
        finally:
            children.stop(proc)
        expired = health["rooms"] - health["available_rooms"]
        problem = None
        if status != 200 or health["rooms"] != MEMORY_ROOMS or expired != MEMORY_ROOMS:
            problem = f"clock move answered {status}; {expired} of {health['rooms']} expired"
        clock.add(took, problem)
        clock_cpu.add(cpu)
        say(
            f"  round {round_number + 1}/{args.runs} memory {per_room:,.0f} B/room; clock move "
            f"over {expired:,} expiries {took:.3f} s ({cpu:.3f} s CPU)"
            + (f"  INVALID {problem}" if problem else "")
        )
    rows.append(
        Row(
            f"resident memory per room, {MEMORY_ROOMS:,} rooms",
            f"{memory.median:,.0f} B {memory.spread()}",
            f"<= {TARGETS['bytes_per_room']:,} B",
            f"{memory.median / TARGETS['bytes_per_room']:.2f}x of limit",
            verdict(memory.median <= TARGETS["bytes_per_room"], memory),
        )
    )
    rows.append(
        Row(
            f"clock move expiring {CLOCK_ROOMS:,} rooms (callbacks off)",
            f"{clock.median:.3f} s {clock.spread('{:.3f}')}",
            f"<= {TARGETS['clock_s']:g} s",
            f"{clock.median / TARGETS['clock_s']:.2f}x of limit",
            verdict(clock.median <= TARGETS["clock_s"], clock),
        )
    )
    rows.append(
        Row(
            "clock move: CPU time (noise check)",
            f"{clock_cpu.median:.3f} s {clock_cpu.spread('{:.3f}')}",
            "-",
            "-",
            "info",
        )
    )


def callbacks(
    args: argparse.Namespace, children: Children, work: Path, token: str, rows: list[Row]
) -> None:
    receiver_port, emulator_port = free_port(), free_port()
    receiver = children.start(
        "receiver",
        [sys.executable, str(BENCH / "receiver.py"), "--port", str(receiver_port)],
        cwd=ROOT,
    )
    emulator = children.start(
        "emulator-callbacks",
        [
            sys.executable,
            "-m",
            "meetings_emulator",
            *server_options(emulator_port),
            "--callback-url",
            f"http://{HOST}:{receiver_port}/callbacks",
        ],
        cwd=ROOT,
    )
    count_url = f"http://{HOST}:{receiver_port}/_count"
    base = f"http://{HOST}:{emulator_port}/_emulator"
    wait_ready(receiver, count_url, children, 30)
    wait_ready(emulator, f"{base}/health", children, 30)
    rate, lost, cpu = Series(), 0, Series()
    for round_number in range(args.runs):
        http("POST", f"{base}/reset", {})
        create_rooms(emulator_port, token, CALLBACK_ROOMS)
        _, before = http("GET", count_url)
        cpu_before = cpu_seconds(emulator.pid)
        started = time.perf_counter()
        status, _ = http("POST", f"{base}/clock", {"advance_seconds": 601}, timeout=120)
        if status != 200:
            raise RuntimeError(f"moving the clock answered {status}")
        got = 0
        deadline = started + 120
        while time.perf_counter() < deadline:
            _, now = http("GET", count_url)
            got = now["count"] - before["count"]
            if got >= CALLBACK_ROOMS:
                break
            time.sleep(0.01)
        took = time.perf_counter() - started
        cpu.add((cpu_seconds(emulator.pid) - cpu_before) * 1e6 / CALLBACK_ROOMS)
        _, flushed = http("POST", f"{base}/callbacks/flush", {"timeout": 30}, timeout=60)
        _, after = http("GET", count_url + "?detail=1")
        received = after["count"] - before["count"]
        missing = CALLBACK_ROOMS - received
        lost += max(0, missing)
        problem = None
        if after["distinct_ids"] != after["count"]:
            problem = f"{after['count'] - after['distinct_ids']} duplicate deliveries"
        if missing or flushed.get("delivered") != CALLBACK_ROOMS or flushed.get("failed"):
            problem = f"received {received}/{CALLBACK_ROOMS}, log {flushed}"
        rate.add(CALLBACK_ROOMS / took, problem)
        say(
            f"  round {round_number + 1}/{args.runs} callbacks: {received:,}/{CALLBACK_ROOMS:,} "
            f"in {took:.2f} s = {CALLBACK_ROOMS / took:,.0f}/s, emulator CPU "
            f"{cpu.values[-1]:,.0f} us/delivery; log {flushed}"
        )
    children.stop(emulator)
    children.stop(receiver)
    rows.append(
        Row(
            f"callback deliveries to a local receiver ({CALLBACK_ROOMS:,} room:expired)",
            f"{rate.median:,.0f}/s {rate.spread()}, lost {lost}",
            f">= {TARGETS['callbacks_per_s']:,}/s, none lost",
            f"{rate.median / TARGETS['callbacks_per_s']:.2f}x of target",
            "INVALID"
            if rate.invalid and not lost
            else verdict(rate.median >= TARGETS["callbacks_per_s"] and lost == 0),
        )
    )
    rows.append(
        Row(
            "callbacks: emulator CPU per delivery (noise check)",
            f"{cpu.median:,.0f} us {cpu.spread()}",
            f"<= {1e6 / TARGETS['callbacks_per_s']:,.0f} us for one core to keep up",
            "-",
            "info",
        )
    )


def startup(args: argparse.Namespace, children: Children, rows: list[Row]) -> None:
    series, cpu = Series(), Series()
    for round_number in range(max(args.runs, 5)):
        port = free_port()
        started = time.perf_counter()
        proc = children.start(
            "emulator-startup",
            [
                sys.executable,
                "-m",
                "meetings_emulator",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
        )
        try:
            wait_ready(proc, f"http://{HOST}:{port}/_emulator/health", children, 30, interval=0.005)
            series.add(time.perf_counter() - started)
            cpu.add(cpu_seconds(proc.pid))
        finally:
            children.stop(proc)
        say(
            f"  round {round_number + 1} start to first healthy answer: {series.values[-1]:.3f} s "
            f"({cpu.values[-1]:.3f} s CPU)"
        )
    rows.append(
        Row(
            "process start to first healthy response",
            f"{series.median:.3f} s {series.spread('{:.3f}')}",
            f"<= {TARGETS['startup_s']:g} s",
            f"{series.median / TARGETS['startup_s']:.2f}x of limit",
            verdict(series.median <= TARGETS["startup_s"], series),
        )
    )
    rows.append(
        Row(
            "start: the process's CPU time until then (noise check)",
            f"{cpu.median:.3f} s {cpu.spread('{:.3f}')}",
            "-",
            "-",
            "info",
        )
    )


# -- the report ---------------------------------------------------------------------------


def machine_facts() -> list[tuple[str, str]]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        cpu = info.get("model name", cpu)
        extra = [
            f"{k} {info[k]}"
            for k in ("cpu family", "model", "cpu MHz", "cache size")
            if info.get(k)
        ]
        if extra:
            cpu += f" ({', '.join(extra)})"
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    import starlette
    import uvicorn

    loads = os.getloadavg()
    code = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    changed = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "meetings_emulator"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.splitlines()
    return [
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))})"),
        ("memory", mem),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("uvicorn / starlette", f"{uvicorn.__version__} / {starlette.__version__}"),
        ("wrk", version(["wrk", "-v"]).split(" Copyright")[0]),
        (
            "Prism",
            f"@stoplight/prism-cli {version([str(PRISM_BIN), '--version'])} on Node "
            f"{version(['node', '--version'])}",
        ),
        (
            "code",
            f"commit {code}"
            + (f" + {len(changed)} uncommitted change(s) in meetings_emulator/" if changed else ""),
        ),
        ("load average at start", " ".join(f"{x:.2f}" for x in loads)),
    ]


def table(rows: list[Row]) -> str:
    head = ("figure", "measured (median)", "target", "ratio", "verdict")
    cells = [head] + [(r.figure, r.measured, r.target, r.ratio, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def line(cols: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells[1:]]
    return "\n".join(out)


def check_tools(args: argparse.Namespace) -> None:
    problems = []
    if shutil.which("wrk") is None:
        problems.append("wrk is missing: apt-get install wrk")
    if not PRISM_BIN.exists():
        problems.append(
            f"Prism {PRISM_VERSION} is missing: npm ci --prefix bench (bench/package.json pins it)"
        )
    else:
        got = subprocess.run(
            [str(PRISM_BIN), "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.strip()
        if got != PRISM_VERSION:
            problems.append(f"Prism {got} found, {PRISM_VERSION} wanted: npm ci --prefix bench")
    if not args.spec.exists():
        problems.append(f"the reference spec is missing: {args.spec} (or pass --spec)")
    try:
        import jwt  # noqa: F401

        import meetings_emulator  # noqa: F401
    except ImportError as missing:
        problems.append(f"{missing}: run this with the project's venv (.venv/bin/python)")
    if problems:
        for problem in problems:
            say(f"bench: {problem}")
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s (default 5 of 5 s)")
    parser.add_argument("--write", action="store_true", help="also write bench/RESULTS.md")
    parser.add_argument("--runs", type=int, default=None, help="rounds per figure")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="Vonage's OpenAPI file")
    parser.add_argument(
        "--only",
        default="throughput,paging,rooms100k,callbacks,startup",
        help="comma-separated parts to run (default all)",
    )
    parser.add_argument(
        "--verify-jwt",
        action="store_true",
        help="give the emulator --public-key, so it checks each JWT's RS256 signature",
    )
    parser.add_argument("--label", default="", help="a name for this run in RESULTS.md")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    args.duration = args.duration or (3.0 if args.quick else 5.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.runs = max(1, min(args.runs, 50))
    args.duration = max(1.0, min(args.duration, 60.0))
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    known = ("throughput", "paging", "rooms100k", "callbacks", "startup")
    if not parts or any(part not in known for part in parts):
        parser.error(f"--only takes a comma-separated list of: {', '.join(known)}")
    check_tools(args)

    began = time.perf_counter()
    facts = machine_facts()
    token, public_pem = make_token()
    args.public_pem = public_pem
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="meetings-bench-"))
    children = Children(work)

    def on_term(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    say(f"bench: {args.runs} rounds of {args.duration:g} s; logs in {work}")
    try:
        steps: dict[str, Callable[[], None]] = {
            "throughput": lambda: throughput(args, children, work, token, rows),
            "paging": lambda: paging(args, children, work, token, rows),
            "rooms100k": lambda: rooms_100k(args, children, work, rows),
            "callbacks": lambda: callbacks(args, children, work, token, rows),
            "startup": lambda: startup(args, children, rows),
        }
        for name in parts:
            say(f"== {name}")
            steps[name]()
    finally:
        children.stop_all()
    took = time.perf_counter() - began

    settings = (
        f"{args.runs} rounds per figure, wrk {WRK_THREADS} threads / {WRK_CONNECTIONS} "
        f"connections, {args.duration:g} s per wrk run; whole run {took:.0f} s"
    )
    print(table(rows))
    print()
    print(settings)
    print("; ".join(f"{k}: {v}" for k, v in facts))
    if args.write:
        write_results(rows, facts, settings, args)
    return 0 if all(r.verdict in ("PASS", "info") for r in rows) else 1


def write_results(
    rows: list[Row], facts: list[tuple[str, str]], settings: str, args: argparse.Namespace
) -> None:
    """Add this run to bench/RESULTS.md (newest last), so before/after runs sit together."""
    path = BENCH / "RESULTS.md"
    text = path.read_text() if path.exists() else RESULTS_HEADER
    command = (
        f"python bench/run.py{' --quick' if args.quick else ''}"
        f"{' --verify-jwt' if args.verify_jwt else ''} --write"
        f"{f' --label {args.label!r}' if args.label else ''}"
    )
    when = dict(facts)["date"]
    section = [
        f"## {when}{f' — {args.label}' if args.label else ''}",
        "",
        f"`{command}`: {settings}.",
        "",
        table(rows),
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in facts if k != "date") + ".",
        "",
    ]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section))
    say(f"added this run to {path}")


RESULTS_HEADER = """# Benchmark results

Each section is one run of `bench/run.py --write` (bench/README.md says how to run it): medians
of the rounds, ratios between medians of the same run. "server CPU per request" is the
server process's user + system CPU time over the requests it answered: it moves less with
the machine's noise than req/s does.
"""


if __name__ == "__main__":
    sys.exit(main())
