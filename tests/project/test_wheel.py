"""The package as a user gets it: built from this checkout, installed outside it, serving.

The sdist is built from the checkout with the locked hatchling (requirements/build.lock),
and the wheel from the unpacked sdist, as `python -m build` does, so a file the sdist
forgets breaks the wheel too. The wheel goes into a clean virtual environment in a
temporary folder, its dependencies resolved by pip from the index as `pip install
meetings-emulator` resolves them; `meetings-emulator` then runs from there, in that folder,
and must serve the API, the dashboard with its static files, the OpenAPI document and the
bundled scenarios, and the docs' shell samples must run against it. Slow (a minute or so,
most of it pip): `-m "not packaging"` skips it.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from ..tools.process import Running
from .image import ROOT
from .samples import Block, run_shell
from .test_docs_samples import as_is

pytestmark = [pytest.mark.packaging, pytest.mark.network]

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = f"meetings_emulator-{PROJECT['version']}"


def python_env(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin"


def pip(bin_dir: Path, *args: str, cwd: Path) -> None:
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "--quiet", *args], cwd=cwd, check=True, timeout=600
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the sdist, the wheel built from it)."""
    where = tmp_path_factory.mktemp("build")
    tools = python_env(where / "tools")
    pip(
        tools, "install", "--no-deps", "--require-hashes", "-r", "requirements/build.lock", cwd=ROOT
    )
    dist = where / "dist"
    subprocess.run(
        [str(tools / "python"), "-m", "hatchling", "build", "-t", "sdist", "-d", str(dist)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(where / "unpacked", filter="data")
    pip(tools, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), ".",
        cwd=where / "unpacked" / NAME)  # fmt: skip
    [wheel] = dist.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scripts folder of a clean environment, outside the checkout, with the wheel."""
    where = tmp_path_factory.mktemp("user")
    assert not where.is_relative_to(ROOT)
    bin_dir = python_env(where / "env")
    pip(bin_dir, "install", str(built[1]), cwd=where)
    return bin_dir


def test_the_sdist_carries_the_licence_the_notice_and_what_the_tests_need(
    built: tuple[Path, Path],
) -> None:
    with tarfile.open(built[0]) as archive:
        names = {name.removeprefix(f"{NAME}/") for name in archive.getnames()}
    assert {"LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
    assert {
        "tests/fixtures/live/python/LICENSE",
        "tests/fixtures/specs/meetings.yml.LICENSE",
    } <= names
    assert {"requirements/serve.lock", "openapi/meetings-emulator.yaml"} <= names
    assert not [n for n in names if n.startswith((".venv/", ".git/", ".import_linter_cache/"))]
    assert not [n for n in names if "__pycache__" in n]


def test_the_wheel_carries_the_licence_metadata_and_every_served_file(
    built: tuple[Path, Path],
) -> None:
    with zipfile.ZipFile(built[1]) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(f"{NAME}.dist-info/METADATA").decode())
        licence = archive.read(f"{NAME}.dist-info/licenses/LICENSE")
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert f"{NAME}.dist-info/licenses/NOTICE" in names
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE", "NOTICE"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert urls == PROJECT["urls"]
    packaged = {
        "meetings_emulator/http/openapi.yaml",
        "meetings_emulator/http/assets/recording.mp4",
        "meetings_emulator/play/examples/instant-standup.yaml",
        "meetings_emulator/play/examples/waiting-room.json",
    } | {
        f"meetings_emulator/ui/static/{p.name}"
        for p in (ROOT / "meetings_emulator/ui/static").iterdir()
    }
    assert packaged <= names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_the_installed_package_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import meetings_emulator; print(meetings_emulator.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent)
    version = subprocess.run(
        [str(installed / "meetings-emulator"), "--version"], capture_output=True, text=True
    )
    assert version.stdout == f"meetings-emulator {PROJECT['version']}\n"


def test_the_installed_emulator_serves_the_api_the_dashboard_and_its_documents(
    installed: Path, tmp_path: Path
) -> None:
    with Running.start(
        "--port", "0", command=[str(installed / "meetings-emulator")], cwd=tmp_path
    ) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            auth = ("my-key", "my-secret")
            created = client.post("/v1/meetings/rooms", json={"display_name": "Wheel"}, auth=auth)
            assert created.status_code == 201, created.text
            read = client.get(f"/v1/meetings/rooms/{created.json()['id']}", auth=auth)
            assert read.status_code == 200
            assert read.json() == created.json()

            page = client.get("/_emulator/ui")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            linked = set(re.findall(r'(?:src|href)="/_emulator/static/([^"?]+)', page.text))
            assert {Path(name).suffix for name in linked} == {".js", ".css"}
            static = ROOT / "meetings_emulator/ui/static"
            assert linked <= {path.name for path in static.iterdir()}
            for path in static.iterdir():  # the modules the page imports, too
                answer = client.get(f"/_emulator/static/{path.name}")
                assert answer.status_code == 200, path.name
                assert answer.content == path.read_bytes()

            document = client.get("/_emulator/openapi.json")
            assert document.status_code == 200
            assert document.json()["info"]["version"] == PROJECT["version"]
            assert "/v1/meetings/rooms" in document.json()["paths"]
            assert client.get("/_emulator/openapi.yaml").status_code == 200
            assert client.get("/_emulator/docs").status_code == 200
        stopped = server.stop()
    assert stopped.status == 0, stopped.stderr


@pytest.mark.parametrize("scenario", ["instant-standup", "waiting-room"])
def test_the_bundled_scenarios_play_from_the_installed_package(
    installed: Path, tmp_path: Path, scenario: str
) -> None:
    played = subprocess.run(
        [str(installed / "meetings-emulator"), "play", scenario],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert played.returncode == 0, played.stdout + played.stderr
    assert "Traceback" not in played.stderr


@pytest.mark.parametrize("block", as_is("sh"))
def test_the_docs_shell_samples_run_against_the_installed_emulator(
    installed: Path, tmp_path: Path, block: Block
) -> None:
    """Each shell sample the docs run as it stands, against the installed package: a server
    started from it, and its `meetings-emulator` for `python3 dev.py run`."""
    launcher = str(installed / "meetings-emulator")
    with Running.start("--port", "0", command=[launcher], cwd=tmp_path) as server:
        result = run_shell(block, server.url, launcher, tmp_path)
        server.stop()
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}\n{result.stderr}"
