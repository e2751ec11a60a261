"""The code blocks of the docs pages run as printed; tests/project/samples.py says which
blocks run as they stand, which a test claims by name, and how a block says it cannot run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from ..tools.process import EMULATOR, ROOT, Running
from .samples import CLAIMED, RUN_AS_IS, Block, all_blocks, named, run_shell
from .test_readme import action_steps

LAUNCHER = f"{sys.executable} -m meetings_emulator"
BLOCKS = all_blocks()


def as_is(language: str) -> list[Any]:
    return [
        pytest.param(block, id=block.where)
        for block in BLOCKS
        if block.run_as_is and block.language == language
    ]


def test_every_block_is_run_or_marked() -> None:
    unmarked = [
        f"{block.where}: a ```{block.language or '(no language)'} block is neither run nor"
        " marked: put `<!-- sample: skip: why -->` (or a name from samples.CLAIMED) before it"
        for block in BLOCKS
        if block.marker is None and block.language not in RUN_AS_IS
    ]
    assert unmarked == []
    unexplained = [block.where for block in BLOCKS if block.skipped and len(block.marker) < 20]
    assert unexplained == [], "say why a block is not run"
    names = [block.name for block in BLOCKS if block.name is not None]
    assert sorted(names) == sorted(CLAIMED), "each name in samples.CLAIMED marks one block"


def test_the_rules_see_every_kind_of_block() -> None:
    """The scan finds blocks of each kind, so an empty scan cannot pass for a clean one."""
    kinds = {(block.language, block.run_as_is, block.skipped) for block in BLOCKS}
    for kind in [("python", True, False), ("sh", True, False), ("json", True, False)]:
        assert kind in kinds
    assert any(block.skipped for block in BLOCKS)
    assert sum(block.run_as_is for block in BLOCKS) >= 12


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.skipped], ids=lambda b: b.where)
def test_a_block_not_run_still_parses(block: Block) -> None:
    if block.language == "python":
        compile(block.text, block.where, "exec")
    elif block.language == "sh":
        checked = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    elif block.language == "yaml":
        yaml.safe_load(block.text)
    elif block.language == "json":
        json.loads(block.text)
    elif block.language == "toml":
        tomllib.loads(block.text)


@pytest.mark.parametrize("block", as_is("python"))
def test_python_sample_runs(block: Block) -> None:
    exec(compile(block.text, block.where, "exec"), {"__name__": "sample"})


@pytest.mark.parametrize("block", as_is("json") + as_is("yaml"))
def test_data_sample_parses(block: Block) -> None:
    data = json.loads(block.text) if block.language == "json" else yaml.safe_load(block.text)
    assert data


@pytest.mark.network
@pytest.mark.parametrize("block", as_is("sh"))
def test_shell_sample_runs(block: Block, app: Starlette, tmp_path: Path) -> None:
    """Against an emulator served for the block, its clock running from the test start, in
    a folder of its own that sees the checkout's examples/ (samples run from the root)."""
    from ..conftest import app_emulator, serving

    app_emulator(app).clock.release()
    with serving(app) as url:
        result = run_shell(block, url, LAUNCHER, tmp_path)
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.network
def test_play_and_receiver_show_a_meeting() -> None:
    """The two commands of the callbacks page, with a free port and this Python."""
    from ..conftest import free_port

    port = str(free_port())

    def command(name: str) -> str:
        text = named(name).text.strip()
        return text.replace("python3 dev.py run", LAUNCHER).replace("9020", port)

    receiver = subprocess.Popen(
        command("receiver"),
        shell=True,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert receiver.stdout is not None
        assert "listening" in receiver.stdout.readline()
        played = subprocess.run(
            command("play-to-receiver"),
            shell=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert played.returncode == 0, played.stderr
    finally:
        os.killpg(receiver.pid, signal.SIGTERM)
        printed, _ = receiver.communicate(timeout=10)
    events = [line.split()[1] for line in printed.splitlines() if line[:2].isdigit()]
    assert events == [
        "session:started",
        "session:participant:joined",
        "recording:started",
        "session:participant:joined",
        "session:participant:left",
        "session:participant:left",
        "recording:ended",
        "session:ended",
        "recording:uploaded",
        "room:expired",
    ]
    log = played.stdout.split("Callbacks (10):\n")[1].splitlines()[:10]
    assert all("delivered, 1 attempt: 204" in line for line in log)


def test_the_signature_recipe() -> None:
    from meetings_emulator.domain.signing import signature

    namespace: dict[str, Any] = {}
    exec(compile(named("verify-signature").text, "callbacks.md", "exec"), namespace)
    verified = namespace["verified"]
    body = b'{"event":"session:started"}'
    assert verified(body, signature("k", body), "k")
    assert not verified(body + b" ", signature("k", body), "k")
    assert not verified(body, signature("k", body), "other")


@pytest.mark.network
def test_the_event_stream_sample(app: Starlette) -> None:
    """`curl -N` on the stream prints a state snapshot first."""
    from ..conftest import serving

    with serving(app) as url:
        command = named("events").text.strip().replace("http://127.0.0.1:9010", url)
        with subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as curl:
            try:
                assert curl.stdout is not None
                lines = []
                while not lines or not lines[-1].startswith("data: "):
                    assert len(lines) < 10, lines
                    lines.append(curl.stdout.readline().strip())
            finally:
                curl.kill()
    assert "event: state" in lines
    snapshot = json.loads(lines[-1].removeprefix("data: "))
    assert {"now", "frozen", "rooms", "deliveries", "counts"} <= set(snapshot)


@pytest.mark.network
def test_local_links_sample() -> None:
    """With --local-links a room's guest link opens the emulator's own meeting page."""
    from ..conftest import free_port

    command = named("local-links").text.split()
    assert command[:3] == ["python3", "dev.py", "run"]
    port = free_port()
    emulator = Running.start(*command[3:], "--port", str(port), command=EMULATOR)
    try:
        room = httpx.post(
            f"{emulator.url}/v1/meetings/rooms",
            json={"display_name": "Here"},
            auth=("key", "secret"),
        ).json()
        guest = room["_links"]["guest_url"]["href"]
        page = httpx.get(guest)
    finally:
        stopped = emulator.stop()
    assert guest == f"http://127.0.0.1:{port}/meet/{room['meeting_code']}"
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert stopped.status == 0


def test_the_action_with_state() -> None:
    step, later = action_steps(named("github-action-state").text)
    assert set(step["with"]) == {"port", "seed", "state-file", "callback-url"}
    assert all(isinstance(value, str) for value in step["with"].values())
    assert any("env.MEETINGS_EMULATOR_URL" in json.dumps(after) for after in later)


def test_the_compose_sample() -> None:
    services = yaml.safe_load(named("compose").text)["services"]
    meetings, app = services["meetings"], services["app"]
    assert meetings["healthcheck"]["test"][1:] == ["meetings-emulator", "health"]
    assert app["depends_on"]["meetings"]["condition"] == "service_healthy"
    environment = meetings["environment"]
    assert environment["MEETINGS_EMULATOR_PUBLIC_URL"].startswith("http://meetings:")
    assert app["environment"]["MEETINGS_API_URL"].startswith("http://meetings:9010/")


def test_the_gitlab_sample_names_its_service() -> None:
    [job] = yaml.safe_load(named("gitlab-ci").text).values()
    [service] = job["services"]
    assert service["name"].split(":")[0].endswith("/meetings-emulator")
    assert service["variables"]["MEETINGS_EMULATOR_ALLOWED_HOSTS"] == service["alias"]
    assert job["variables"]["MEETINGS_API_URL"].startswith(f"http://{service['alias']}:9010/")
