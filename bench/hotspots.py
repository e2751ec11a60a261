"""Where the emulator's time goes under load: py-spy against the server, wrk driving it.

    .venv/bin/python bench/hotspots.py get|post|page|callbacks|clock|imports
        [--seconds 10] [--out DIR] [--verify-jwt] [--baseline] [--emulator-arg=--flag ...]

Starts the emulator as `run.py` does (`--baseline`: bench/baseline.py instead), creates
1,000 rooms (`page`: 100,000, through `bench/serve.py`), then runs `py-spy record` (250 Hz,
idle frames off) on the server's pid while wrk runs the same script as `run.py` for that
operation. `callbacks`: while `--rooms` rooms expire and their callbacks go to
`bench/receiver.py`; `clock`: while `POST /_emulator/clock` expires 100,000 instant rooms;
`imports`: no server, `python -X importtime` of what `python -m meetings_emulator` imports,
by top-level package, the median of 5.

Prints the share of samples (and of the server's CPU per request) by cause, then the
functions with the largest inclusive and self share, and leaves the collapsed stacks behind
(`DIR/<op>.folded`, for flamegraph.pl or speedscope). Needs py-spy in the venv
(`.venv/bin/pip install py-spy`).
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

# Where a sample's time goes. A SUBTREE rule claims everything below its frame (JSON
# parsing inside PyJWT is JWT time); then, from the leaf up, the first frame a SPECIFIC
# rule claims decides; failing that, the first a GENERIC one claims (the plumbing).
SUBTREE = [
    ("auth: JWT decode (PyJWT)", r"PyJWT\.decode|PyJWS\.decode|jwt\.decode"),
    ("participant token signing", r"participant_token"),
    ("JSON decode + body read (request)", r"read_json"),
    ("callbacks: HTTP client (httpx/httpcore)", r"\(httpx/|\(httpcore/"),
]
SPECIFIC = [
    # (py-spy --nonblocking sometimes reads only the innermost frames of a stack)
    ("auth: JWT decode (PyJWT)", r"\(jwt/"),
    ("callbacks: HTTP client (httpx/httpcore)", r"\(httpx/|\(httpcore/|\(anyio/"),
    (
        "auth: Authenticator/tenant_of/redact",
        r"Authenticator\.|tenant_of|redact_authorization|_bearer",
    ),
    ("JSON encode (response)", r"JSONResponse|json/encoder|orjson|dumps \(json"),
    (
        "render: room_json/page_json/format_iso",
        r"room_json|page_json|format_iso|_room_renderer|urlencode|render\.py",
    ),
    ("validation: parse_* (schemas)", r"schemas\.py"),
    ("callbacks: outbox (record/take_ready/settle)", r"callbacks\.py|payloads\.py|events\.py"),
    (
        "domain: rooms/timers/ids/themes/clock",
        r"rooms\.py|timers\.py|ids\.py|themes\.py|pagination\.py|uuid\.py|random\.py|clock\.py|emulator\.py",
    ),
    (
        "resilience: journal/faults (own work)",
        r"Journal\.|JournalEntry|Rules\.|is_api_path|ApiFault|CallbackFaults",
    ),
    ("uvicorn: response write (transport)", r"RequestResponseCycle\.send"),
]
GENERIC = [
    ("resilience: middleware wrapper", r"meetings_emulator/testing/"),
    ("routing (starlette Router/Route)", r"Router\.|Route\.|routing\.py"),
    ("starlette middleware + Request plumbing", r"starlette/"),
    ("emulator: api/web glue", r"meetings_emulator/(api|web)\.py"),
    ("uvicorn: HTTP parsing + protocol", r"uvicorn/"),
]
SUBTREE_RULES = [(n, re.compile(p)) for n, p in SUBTREE]
SPECIFIC_RULES = [(n, re.compile(p)) for n, p in SPECIFIC]
GENERIC_RULES = [(n, re.compile(p)) for n, p in GENERIC]


def classify(frames: list[str]) -> str:
    for frame in frames:  # root first: the outermost claiming frame wins
        for name, pattern in SUBTREE_RULES:
            if pattern.search(frame):
                return name
    for rules in (SPECIFIC_RULES, GENERIC_RULES):
        for frame in reversed(frames):
            for name, pattern in rules:
                if pattern.search(frame):
                    return name
    return "event loop / other"


def categories(folded: Path, cpu_us: float) -> str:
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack:
            counts[classify(stack.split(";"))] += int(samples)
            total += int(samples)
    lines = [f"share of samples, and of the server's {cpu_us:,.0f} us CPU per request:"]
    lines += [
        f"{100 * n / total:6.1f}%  {cpu_us * n / total:7.1f} us  {name}"
        for name, n in counts.most_common()
    ]
    return "\n".join(lines)


def top(folded: Path, count: int = 25) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        n = int(samples)
        total += n
        frames = [re.sub(r" \((.*?):\d+\)$", r" (\1)", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples", "", "inclusive %  function (file)"]
    lines += [f"{100 * n / total:10.1f}  {f}" for f, n in inclusive.most_common(count)]
    lines += ["", "self %       function (file)"]
    lines += [f"{100 * n / total:10.1f}  {f}" for f, n in own.most_common(count)]
    return "\n".join(lines)


def record(pyspy: Path, pid: int, rate: int, seconds: int, folded: Path) -> subprocess.Popen[bytes]:
    """Start `py-spy record` on `pid` for `seconds`, its collapsed stacks going to `folded`."""
    argv = [str(pyspy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    argv += ["--duration", str(seconds), "--output", str(folded), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_callbacks(args, children, work, out, pyspy, token, common) -> int:  # type: ignore[no-untyped-def]
    receiver_port = run.free_port()
    receiver = children.start(
        "receiver", [sys.executable, str(run.BENCH / "receiver.py"), "--port", str(receiver_port)]
    )
    count_url = f"http://{run.HOST}:{receiver_port}/_count"
    run.wait_ready(receiver, count_url, children, 30)
    argv = [
        sys.executable,
        "-m",
        "meetings_emulator",
        *common,
        "--callback-url",
        f"http://{run.HOST}:{receiver_port}/callbacks",
    ]
    proc = children.start("emulator", argv, cwd=run.ROOT)
    port = int(common[common.index("--port") + 1])
    base = f"http://{run.HOST}:{port}/_emulator"
    run.wait_ready(proc, f"{base}/health", children, 60)
    run.create_rooms(port, token, args.rooms)
    folded = out / "callbacks.folded"
    spy = record(pyspy, proc.pid, 250, int(args.seconds), folded)
    time.sleep(0.5)
    cpu_before = run.cpu_seconds(proc.pid)
    started = time.perf_counter()
    run.http("POST", f"{base}/clock", {"advance_seconds": 601}, timeout=120)
    moved = time.perf_counter() - started
    got = 0
    while time.perf_counter() - started < args.seconds - 1:
        got = run.http("GET", count_url)[1]["count"]
        if got >= args.rooms:
            break
        time.sleep(0.05)
    took = time.perf_counter() - started
    cpu = run.cpu_seconds(proc.pid) - cpu_before
    spy.wait(timeout=args.seconds + 60)
    print(
        f"callbacks: clock move answered in {moved:.2f} s; {got}/{args.rooms} received "
        f"in {took:.2f} s ({got / took:,.0f}/s)"
    )
    print(categories(folded, cpu * 1e6 / max(1, got)).replace("per request", "per delivery"))
    print()
    print(top(folded))
    print(f"\ncollapsed stacks: {folded}")
    return 0


def profile_imports() -> int:
    runs: list[dict[str, int]] = []
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import meetings_emulator.cli"],
            capture_output=True,
            text=True,
            cwd=run.ROOT,
            timeout=120,
            check=True,
        )
        own: collections.Counter[str] = collections.Counter()
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if match:
                name = match.group(2)
                key = name if name.startswith("meetings_emulator") else name.split(".")[0]
                own[key] += int(match.group(1))
        runs.append(dict(own))
    names = set().union(*runs)
    median = {n: sorted(r.get(n, 0) for r in runs)[2] for n in names}
    total = sorted(sum(r.values()) for r in runs)[2]
    print(f"import meetings_emulator.cli: {total / 1000:.0f} ms (median of 5, self times summed)")
    for name, us in sorted(median.items(), key=lambda kv: -kv[1])[:30]:
        print(f"{us / 1000:8.1f} ms  {100 * us / total:5.1f}%  {name}")
    return 0


def profile_clock(args, children, work, out, pyspy, common) -> int:  # type: ignore[no-untyped-def]
    argv = [sys.executable, str(run.BENCH / "serve.py"), "--prefill", "100000"]
    argv += ["--prefill-type", "instant", "--", *common]
    proc = children.start("emulator", argv, cwd=run.ROOT)
    port = int(common[common.index("--port") + 1])
    base = f"http://{run.HOST}:{port}/_emulator"
    run.wait_ready(proc, f"{base}/health", children, 300)
    folded = out / "clock.folded"
    spy = record(pyspy, proc.pid, 1000, int(args.seconds), folded)
    time.sleep(0.5)
    cpu_before = run.cpu_seconds(proc.pid)
    started = time.perf_counter()
    run.http("POST", f"{base}/clock", {"advance_seconds": 601}, timeout=300)
    took = time.perf_counter() - started
    cpu = run.cpu_seconds(proc.pid) - cpu_before
    spy.wait(timeout=args.seconds + 60)
    print(f"clock: 100,000 expiries in {took:.3f} s ({cpu:.3f} s CPU)")
    print(categories(folded, cpu * 1e6 / 100_000).replace("per request", "per expiry"))
    print()
    print(top(folded))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "operation", choices=("get", "post", "page", "callbacks", "clock", "imports")
    )
    parser.add_argument("--rooms", type=int, default=5000, help="callbacks: rooms to expire")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--verify-jwt", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--emulator-arg", action="append", default=[])
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="profile bench/baseline.py (bare Starlette) instead: the floor for get/post",
    )
    args = parser.parse_args()
    args.seconds = max(2.0, min(args.seconds, 120.0))
    if args.operation == "imports":
        return profile_imports()
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        print("py-spy is missing: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="meetings-profile-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    children = run.Children(work)
    token, public_pem = run.make_token()
    port = run.free_port()
    common = run.server_options(port)
    if args.verify_jwt:
        (work / "public.pem").write_text(public_pem)
        common += ["--public-key", str(work / "public.pem")]
    common += args.emulator_arg
    try:
        if args.operation == "callbacks":
            return profile_callbacks(args, children, work, out, pyspy, token, common)
        if args.operation == "clock":
            return profile_clock(args, children, work, out, pyspy, common)
        if args.baseline:
            argv = [sys.executable, str(run.BENCH / "baseline.py"), *common]
        elif args.operation == "page":
            argv = [sys.executable, str(run.BENCH / "serve.py"), "--prefill", "100000", "--"]
            argv += common
        else:
            argv = [sys.executable, "-m", "meetings_emulator", *common]
        proc = children.start("server", argv, cwd=run.ROOT)
        run.wait_ready(proc, f"http://{run.HOST}:{port}/_emulator/health", children, 300)
        url = f"http://{run.HOST}:{port}{run.API}/rooms"
        env = {"BENCH_TOKEN": token}
        if args.operation == "get":
            if args.baseline:
                ids = [str(run.uuid.uuid4()) for _ in range(run.GET_ROOMS)]
            else:
                ids = run.create_rooms(port, token, run.GET_ROOMS)
            (work / "paths.txt").write_text("\n".join(ids) + "\n")
            env["BENCH_PATHS"], script, url = str(work / "paths.txt"), "get.lua", url + "/"
        elif args.operation == "page":
            pick = random.Random(7)
            lines = [f"?page_size=20&start_id={pick.randint(1, 99_980)}" for _ in range(2000)]
            (work / "paths.txt").write_text("\n".join(lines) + "\n")
            env["BENCH_PATHS"], script = str(work / "paths.txt"), "get.lua"
        else:
            script = "post.lua"
        run.run_wrk(url, script, 2, env)  # warm up
        folded = out / f"{'baseline-' if args.baseline else ''}{args.operation}.folded"
        spy = record(pyspy, proc.pid, 250, int(args.seconds) + 1, folded)
        time.sleep(0.5)
        result = run.run_wrk(url, script, args.seconds, env, pid=proc.pid)
        spy.wait(timeout=args.seconds + 60)
        print(
            f"{args.operation}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, "
            f"server CPU {result.cpu_us:,.0f} us/request, errors {result.errors}"
        )
        print(categories(folded, result.cpu_us))
        print()
        print(top(folded))
        print(f"\ncollapsed stacks: {folded}")
    finally:
        children.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
