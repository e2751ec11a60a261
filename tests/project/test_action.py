"""The GitHub Action (action.yml), its steps replayed here as a runner runs them.

Each step whose `if:` holds runs with `bash --noprofile --norc -eo pipefail`, as a runner
runs a `shell: bash` step, with `${{ inputs.* }}` and `${{ github.action_path }}` put in,
GITHUB_ENV and GITHUB_OUTPUT as fresh files per step, RUNNER_TEMP, and the working folder
as the workspace. The install step is replayed for real: pip installs this checkout into a
virtual environment under RUNNER_TEMP (about 30 s, once for the module; it needs PyPI for
the dependencies, as tests/project/test_dockerfile.py does). The emulator it starts serves
on a real port; the stop step must end it with its state file saved.

The sample workflow for users (examples/github-actions/workflow.yml) is checked by
actionlint, as written and against this action.yml's inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from ..conftest import BASIC, free_port, serving
from .test_workflows import VERSION, actionlint, load, needs_shellcheck

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
INPUTS: dict[str, dict[str, Any]] = ACTION["inputs"]
SAMPLE = ROOT / "examples" / "github-actions" / "workflow.yml"
REPOSITORY = "meetings-emulator/meetings-emulator"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONDITION = re.compile(r"inputs\.([\w-]+) (==|!=) '([^']*)'")

pytestmark = pytest.mark.network


# -- the replay ---------------------------------------------------------------------------------


@dataclass
class Replayed:
    returncode: int
    stdout: str
    env: dict[str, str] = field(default_factory=dict)  # what the steps added to GITHUB_ENV
    outputs: dict[str, str] = field(default_factory=dict)  # the action's outputs


def holds(condition: str, inputs: dict[str, str]) -> bool:
    """A step's `if:`, in the one form action.yml uses: comparisons of inputs, joined by &&."""
    results = []
    for part in condition.split(" && "):
        found = CONDITION.fullmatch(part.strip())
        assert found, f"the replay reads no such condition: {part!r}"
        name, operator, value = found.groups()
        assert name in INPUTS, f"if: names an input action.yml does not declare: {name}"
        results.append((inputs[name] == value) == (operator == "=="))
    return all(results)


def expand(text: str, inputs: dict[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        expression = found[1]
        if expression == "github.action_path":
            return str(ROOT)
        assert expression.startswith("inputs."), f"the replay knows no {expression}"
        name = expression.removeprefix("inputs.")
        assert name in INPUTS, f"action.yml declares no input {name}"
        return inputs[name]

    return EXPRESSION.sub(value, text)


def key_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


@dataclass
class Runner:
    """One job's RUNNER_TEMP, shared by the tests of this module (so one install)."""

    temp: Path

    def replay(self, workspace: Path, **given: str) -> Replayed:
        inputs = {name: str(spec.get("default", "")) for name, spec in INPUTS.items()}
        unknown = set(given) - set(inputs)
        assert not unknown, f"action.yml has no inputs {unknown}"
        inputs.update(given)
        added: dict[str, str] = {}
        outputs: dict[str, dict[str, str]] = {}
        printed = []
        for number, step in enumerate(ACTION["runs"]["steps"]):
            if "if" in step and not holds(step["if"], inputs):
                continue
            assert "${{" not in step["run"], "inputs reach scripts through env, never inline"
            files = {name: self.temp / f"{name}-{number}" for name in ("env", "output")}
            for path in files.values():
                path.write_text("")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR")},
                **added,
                **{name: expand(value, inputs) for name, value in step.get("env", {}).items()},
                "GITHUB_ACTION_PATH": str(ROOT),
                "GITHUB_WORKSPACE": str(workspace),
                "RUNNER_TEMP": str(self.temp),
                "GITHUB_ENV": str(files["env"]),
                "GITHUB_OUTPUT": str(files["output"]),
            }
            script = self.temp / f"step-{number}.sh"
            script.write_text(step["run"])
            result = _run_bash(script, workspace, env)
            printed.append(result.stdout)
            added.update(key_values(files["env"]))
            outputs[step.get("id", str(number))] = key_values(files["output"])
            if result.returncode != 0:
                return Replayed(result.returncode, "".join(printed), added)
        return Replayed(0, "".join(printed), added, action_outputs(outputs))

    def pids(self) -> list[int]:
        return [int(path.read_text()) for path in self.temp.glob("meetings-emulator/port-*/pid")]


def action_outputs(steps: dict[str, dict[str, str]]) -> dict[str, str]:
    """The action's outputs, each `${{ steps.ID.outputs.NAME }}` of a step replayed."""

    def value(found: re.Match[str]) -> str:
        step, name = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", found[1]).groups()
        return steps.get(step, {}).get(name, "")

    return {name: EXPRESSION.sub(value, spec["value"]) for name, spec in ACTION["outputs"].items()}


def _run_bash(script: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,  # the first step installs with pip
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    job = Runner(tmp_path_factory.mktemp("runner-temp"))
    yield job
    for pid in job.pids():  # whatever a failed test left serving
        if alive(pid):
            os.kill(pid, 9)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


# -- action.yml as written ----------------------------------------------------------------------


def test_the_action_is_composite_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    defaults = {name: spec.get("default") for name, spec in INPUTS.items()}
    assert defaults == {
        "command": "start",
        "version": "",
        "python": "python3",
        "port": "9010",
        "seed": "",
        "state-file": "",
        "callback-url": "",
        "args": "",
        "wait-seconds": "60",
    }
    assert all(spec["description"] for spec in INPUTS.values())
    assert ACTION["outputs"]["url"]["value"] == "${{ steps.start.outputs.url }}"
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash"
        script = re.fullmatch(r'bash "\$GITHUB_ACTION_PATH/(\S+)"', step["run"])
        assert script is None or (ROOT / script[1]).is_file(), step["run"]


def test_the_action_scripts_pass_shellcheck() -> None:
    needs_shellcheck()
    scripts = sorted((ROOT / ".github" / "action").glob("*.sh"))
    assert [path.name for path in scripts] == ["install.sh", "start.sh", "stop.sh"]
    result = subprocess.run(
        ["shellcheck", "--shell=bash", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "")


# -- the steps, replayed ------------------------------------------------------------------------


def test_start_serves_and_exports_the_url_then_stop_saves_the_state(
    runner: Runner, workspace: Path
) -> None:
    port = free_port()
    started = runner.replay(
        workspace,
        port=str(port),
        seed="7",
        **{"state-file": "state/meetings.json", "callback-url": "http://127.0.0.1:9/hooks"},
    )
    assert started.returncode == 0, started.stdout
    url = f"http://127.0.0.1:{port}"
    assert started.env == {"MEETINGS_EMULATOR_URL": url}
    assert started.outputs == {"url": url}
    assert f"meetings-emulator {VERSION} is serving {url}" in started.stdout
    [pid] = runner.pids()
    assert alive(pid)

    headers = {"Authorization": BASIC}
    room = httpx.post(f"{url}/v1/meetings/rooms", json={"display_name": "From CI"}, headers=headers)
    assert room.status_code == 201, room.text
    room_id = room.json()["id"]

    stopped = runner.replay(workspace, command="stop")
    assert stopped.returncode == 0, stopped.stdout
    state_file = workspace / "state" / "meetings.json"
    assert f"saved its state to {state_file}" in stopped.stdout
    assert "INFO stopping on SIGTERM" in stopped.stdout  # the emulator's log, shown
    assert " seed=7 " in stopped.stdout  # ... which names its configuration
    assert " callback-url=http://127.0.0.1:9/hooks " in stopped.stdout
    assert not alive(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    saved = json.loads(state_file.read_text())
    assert [room["id"] for room in saved["rooms"]["rooms"]] == [room_id]

    # The next start loads it: a later job that restores the file finds the room.
    again = runner.replay(workspace, port=str(port), **{"state-file": "state/meetings.json"})
    assert again.returncode == 0, again.stdout
    assert "installed already" in again.stdout
    found = httpx.get(f"{url}/v1/meetings/rooms/{room_id}", headers=headers)
    assert (found.status_code, found.json()["display_name"]) == (200, "From CI")
    assert runner.replay(workspace, command="stop").returncode == 0


def test_start_fails_and_shows_why_when_the_port_is_taken(runner: Runner, workspace: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = runner.replay(workspace, port=str(port), **{"wait-seconds": "20"})
    assert started.returncode == 1
    assert "::error::meetings-emulator: it ended with status" in started.stdout
    # The emulator's own words, from its log.
    assert f"('127.0.0.1', {port}): address already in use" in started.stdout
    assert started.env == {}
    stopped = runner.replay(workspace, command="stop")
    assert stopped.returncode == 1  # an emulator that ended badly fails the stop too
    assert f"::error::meetings-emulator on port {port} ended with status" in stopped.stdout


def test_start_refuses_a_port_where_an_emulator_answers(
    runner: Runner, workspace: Path, app: Starlette
) -> None:
    with serving(app) as url:
        port = url.rsplit(":", 1)[1]
        started = runner.replay(workspace, port=port)
    assert started.returncode == 1
    assert started.stdout.endswith(
        f"::error::meetings-emulator: an emulator not started by this step already answers"
        f" at http://127.0.0.1:{port}\n"
    )
    assert started.env == {}


def test_start_refuses_a_port_that_is_not_a_number(runner: Runner, workspace: Path) -> None:
    started = runner.replay(workspace, port="http")
    assert started.returncode == 1
    assert "::error::meetings-emulator: port must be a number, not 'http'" in started.stdout


def test_stop_with_nothing_started_warns(tmp_path: Path, workspace: Path) -> None:
    stopped = Runner(tmp_path).replay(workspace, command="stop")
    assert stopped.returncode == 0
    assert stopped.stdout == (
        "::warning::meetings-emulator: no emulator was started by this action in this job\n"
    )


def test_an_unknown_command_fails(tmp_path: Path, workspace: Path) -> None:
    result = Runner(tmp_path).replay(workspace, command="restart")
    assert result.returncode == 1
    assert result.stdout == (
        "::error::meetings-emulator action: command must be start or stop, not 'restart'\n"
    )


# -- the sample workflow ------------------------------------------------------------------------


def test_the_sample_starts_then_always_stops_this_release() -> None:
    steps = load(SAMPLE)["jobs"]["test"]["steps"]
    ours = [step for step in steps if step.get("uses", "").startswith(REPOSITORY + "@")]
    start, stop = ours
    assert start["uses"] == stop["uses"] == f"{REPOSITORY}@v{VERSION}"
    assert set(start["with"]) == {"port", "seed", "state-file", "callback-url"}
    assert (stop["if"], stop["with"]) == ("always()", {"command": "stop"})
    assert steps.index(start) < steps.index(stop)


def test_the_sample_passes_actionlint() -> None:
    result = actionlint(SAMPLE)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.fixture
def sample_here(tmp_path: Path) -> Path:
    """The sample in a project whose action.yml is this one, used as `./`."""
    (tmp_path / ".git").mkdir()
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    workflow = tmp_path / ".github" / "workflows" / "tests.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(SAMPLE.read_text().replace(f"{REPOSITORY}@v{VERSION}", "./"))
    return workflow


def test_the_sample_gives_the_action_only_inputs_it_has(sample_here: Path) -> None:
    result = actionlint(sample_here, cwd=sample_here.parents[2])
    assert (result.returncode, result.stdout) == (0, "")
    # The check can fail: an input the action does not have is reported.
    sample_here.write_text(sample_here.read_text().replace("callback-url:", "callback:"))
    result = actionlint(sample_here, cwd=sample_here.parents[2])
    assert result.returncode == 1
    assert 'input "callback" is not defined in action "Meetings emulator"' in result.stdout
