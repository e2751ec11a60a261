"""What a release is made of agrees with itself: one version everywhere, a changelog in Keep a
Changelog's form, the project's URLs, the licence and the notices for what others wrote."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from pathlib import Path

import yaml

from meetings_emulator.version import __version__

from .image import Dockerfile

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
REPOSITORY = "https://github.com/meetings-emulator/meetings-emulator"
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)
# The Apache License 2.0 as the Apache Software Foundation publishes it (apache.org/licenses/
# LICENSE-2.0.txt), appendix included, with the leading blank line of that file.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def releases() -> list[tuple[str, dt.date]]:
    return [(v, dt.date.fromisoformat(d)) for v, d in RELEASE.findall(CHANGELOG)]


def test_one_version_everywhere() -> None:
    newest, _ = releases()[0]
    openapi = yaml.safe_load((ROOT / "openapi/meetings-emulator.yaml").read_text())
    labels = Dockerfile.read().final.labels()
    assert {
        "pyproject.toml": PROJECT["version"],
        "meetings_emulator/version.py": __version__,
        "CHANGELOG.md": newest,
        "openapi/meetings-emulator.yaml": openapi["info"]["version"],
        "Dockerfile": labels["org.opencontainers.image.version"],
    } == dict.fromkeys(
        [
            "pyproject.toml",
            "meetings_emulator/version.py",
            "CHANGELOG.md",
            "openapi/meetings-emulator.yaml",
            "Dockerfile",
        ],
        PROJECT["version"],
    )


def test_the_changelog_keeps_a_changelog() -> None:
    headings = re.findall(r"^## (.+)$", CHANGELOG, flags=re.MULTILINE)
    assert headings[:2] == ["Versioning", "[Unreleased]"]
    found = releases()
    assert headings[2:] == [f"[{v}] - {d.isoformat()}" for v, d in found]
    dates = [d for _, d in found]
    assert dates == sorted(dates, reverse=True)
    versions = [tuple(map(int, v.split("."))) for v, _ in found]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    # Each section lists changes under Keep a Changelog's own headings only.
    kinds = set(re.findall(r"^### (.+)$", CHANGELOG, flags=re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    # Every version heading links to its changes: the tag, or the tag up to now.
    links = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", CHANGELOG, flags=re.MULTILINE))
    newest = found[0][0]
    assert links.pop("Unreleased") == f"{REPOSITORY}/compare/v{newest}...HEAD"
    expected = {}
    for (version, _), older in zip(found, [*found[1:], None], strict=True):
        expected[version] = (
            f"{REPOSITORY}/compare/v{older[0]}...v{version}"
            if older
            else f"{REPOSITORY}/releases/tag/v{version}"
        )
    assert {k: v for k, v in links.items() if k in expected} == expected


def test_the_project_urls_name_one_repository() -> None:
    assert PROJECT["urls"] == {
        "Homepage": REPOSITORY,
        "Documentation": "https://meetings-emulator.github.io/meetings-emulator/",
        "Repository": REPOSITORY,
        "Issues": f"{REPOSITORY}/issues",
        "Changelog": f"{REPOSITORY}/blob/main/CHANGELOG.md",
    }
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE", "NOTICE"]


def test_the_licence_is_apache_2_0_word_for_word() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert b"Version 2.0, January 2004" in text


def test_the_notice_names_every_piece_of_third_party_data_and_its_licence() -> None:
    notice = (ROOT / "NOTICE").read_text()
    assert notice.startswith("meetings-emulator\nCopyright ")
    fixtures = ROOT / "tests/fixtures"
    licences = sorted(p.relative_to(ROOT).as_posix() for p in fixtures.rglob("*LICENSE*"))
    assert licences  # the fixtures carry their licences beside them
    for licence in licences:
        assert licence in notice, f"NOTICE does not name {licence}"
    for folder in sorted(p for p in (fixtures / "live").iterdir() if p.is_dir()):
        assert f"{folder.relative_to(ROOT).as_posix()}/\n" in notice
    for spec in sorted((fixtures / "specs").glob("*.yml")):
        assert f"{spec.relative_to(ROOT).as_posix()}\n" in notice
