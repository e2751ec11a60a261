"""`meetings-emulator play`: scripted meetings, played against an emulator over HTTP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings
from meetings_emulator.play import (
    InvalidScenario,
    ScenarioError,
    ScenarioFailed,
    format_duration,
    load_scenario,
    main_play,
    parse_duration,
    run_scenario,
    validate_scenario,
)

from ..conftest import START, serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BUNDLED = ROOT / "meetings_emulator" / "play" / "examples"
SCENARIO_ENDINGS = (".yaml", ".yml", ".json")
LISTED = [
    "instant-standup  An instant room kept alive by its host, recorded by hand, then expired.",
    "waiting-room     A guest waits to be admitted; the room records itself and expires after use.",
]


@pytest.fixture
def served_url() -> Iterator[str]:
    """A running emulator with a frozen clock at START, for the `--url` tests."""
    app = create_app(Settings(seed=3), clock=Clock.frozen_at(START), ids=Ids(3))
    with serving(app) as url:
        yield url


def write(tmp_path: Path, scenario: dict[str, Any], name: str = "scenario.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(scenario))
    return str(path)


def scenario_of(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "test", "steps": list(steps)}


ROOM = {"create_room": {"as": "r", "body": {"display_name": "Room"}}}
HOST = {"join": {"room": "r", "as": "h", "name": "Host", "is_host": True}}


# -- the examples, each in its own embedded emulator -------------------------------------


@pytest.mark.network
def test_instant_standup_example_plays(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play([str(EXAMPLES / "instant-standup.yaml")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("Embedded emulator at http://127.0.0.1:")
    assert "Scenario: Instant standup" in out
    assert "Avital (host) joined room standup (session 2_MX" in out
    assert "recording rec1 started in room standup by Avital" in out
    assert "recording rec1 stopped after 2m" in out
    assert "Avital left room standup; the session ended" in out
    assert "clock +5s, now " in out
    assert "; recording rec1 uploaded" in out
    assert "; room standup expired" in out
    assert "room standup: is_available false (as expected)" in out
    assert "Passed: 27 steps, 11 expectations met, 32m4s of emulator time." in out


@pytest.mark.network
def test_waiting_room_example_plays(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play(["play", str(EXAMPLES / "waiting-room.json")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Dana (host) joined room weekly (session 2_MX" in out
    assert "auto_record started a recording" in out
    assert "Eli is waiting to enter room weekly (waiting for approval)" in out
    assert "Eli admitted to room weekly" in out
    assert 'participant eli: state "joined" (as expected)' in out
    assert 'recording rec: status "uploaded" (as expected)' in out
    lines = out.splitlines()
    assert any(line.endswith("room weekly expired") for line in lines)
    assert lines[-1].startswith("Passed: 23 steps")


# -- the bundled scenarios, by name ---------------------------------------------------------


def example_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.suffix in SCENARIO_ENDINGS)


def test_play_list_prints_each_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play(["--list"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == LISTED
    assert err == ""


def test_play_list_takes_no_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play(["--list", "instant-standup"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1] == "meetings-emulator play: error: --list takes no scenario"


@pytest.mark.network
def test_a_bundled_scenario_plays_by_name_from_any_folder(tmp_path: Path) -> None:
    assert not (tmp_path / "examples").exists()
    played = subprocess.run(
        [sys.executable, "-m", "meetings_emulator", "play", "instant-standup"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert played.returncode == 0, played.stderr
    assert played.stderr == ""
    lines = played.stdout.splitlines()
    assert lines[1].startswith("Scenario: Instant standup (emulator http://127.0.0.1:")
    assert lines[-1] == "Passed: 27 steps, 11 expectations met, 32m4s of emulator time."


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "instant-stand",
            "instant-stand: no such file, and no bundled scenario of that name;"
            " did you mean instant-standup?"
            " (bundled: instant-standup, waiting-room; see play --list)",
        ),
        (
            "retrospective",
            "retrospective: no such file, and no bundled scenario of that name"
            " (bundled: instant-standup, waiting-room; see play --list)",
        ),
    ],
)
def test_an_unknown_name_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    line: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main_play([name]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [line]


def test_a_file_in_the_working_directory_wins_over_a_bundled_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "instant-standup").write_text('{"name": "mine", "steps": []}')
    monkeypatch.chdir(tmp_path)
    assert main_play(["instant-standup"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "instant-standup: the scenario needs 'steps': a non-empty list"
    ]


def test_a_missing_path_is_never_taken_for_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for argument in ("examples/instant-standup", "instant-standup.yaml"):
        assert main_play([argument]) == 2
        assert capsys.readouterr().err.startswith(f"{argument}: cannot read {argument}")


def test_the_repository_examples_are_the_bundled_ones() -> None:
    names = example_files(EXAMPLES)
    assert names == example_files(BUNDLED) == ["instant-standup.yaml", "waiting-room.json"]
    for name in names:
        assert (EXAMPLES / name).read_bytes() == (BUNDLED / name).read_bytes(), name


def test_the_wheel_carries_the_examples_and_plays_them_by_name(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("meetings_emulator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in example_files(EXAMPLES):
            packed = archive.read(f"meetings_emulator/play/examples/{name}")
            assert packed == (EXAMPLES / name).read_bytes(), name
    # Imported from the wheel itself (a zip), away from the checkout: --list still finds them.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = subprocess.run(
        [sys.executable, "-m", "meetings_emulator", "play", "--list"],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(wheel)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == LISTED


# -- against a running emulator (--url) --------------------------------------------------


@pytest.mark.network
def test_plays_against_a_running_emulator(
    served_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = scenario_of(
        {
            "create_room": {
                "as": "weekly",
                "body": {"display_name": "Weekly", "type": "long_term", "expires_at": "+2h"},
            }
        },
        {"expect": {"room": "weekly", "expires_at": "2026-03-02T11:30:00.125Z"}},
        {"join": {"room": "weekly", "as": "ann", "name": "Ann", "is_host": True}},
        {"start_recording": {"room": "weekly", "as": "rec"}},
        {"advance": 90},
        {"stop_recording": {"recording": "rec"}},
        {"update_room": {"room": "weekly", "update_details": {"expires_at": "+1h"}}},
        {"leave": {"participant": "ann"}},
        {"advance": "5s"},
        {"expect": {"recording": "rec", "status": "uploaded"}},
        {"delete_room": "weekly"},
        {"expect": {"room": "weekly", "is_available": False}},
    )
    inbox = Inbox()
    with serving(create_receiver(inbox=inbox)) as receiver_url:
        code = main_play(
            [write(tmp_path, scenario), "--url", served_url, "--callback-url", receiver_url + "/cb"]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Embedded emulator" not in out
    assert f"(emulator {served_url})" in out
    assert "recording rec stopped after 1m30s" in out
    assert "room weekly updated (expires_at); expires 2026-03-02T10:31:30.125Z" in out
    assert "room weekly deleted" in out
    assert inbox.events == [
        "session:started",
        "session:participant:joined",
        "recording:started",
        "recording:ended",
        "session:participant:left",
        "session:ended",
        "recording:uploaded",
        "room:expired",
    ]
    assert "Callbacks (8):" in out
    assert f"  room:expired                -> {receiver_url}/cb  delivered, 1 attempt: 204" in out


@pytest.mark.network
def test_a_failed_expectation_exits_1(
    served_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = scenario_of(ROOM, {"advance": "10m"}, {"expect": {"room": "r", "is_available": 1}})
    assert main_play([write(tmp_path, scenario), "--url", served_url]) == 1
    out, err = capsys.readouterr()
    assert "  2  advance" in out
    assert "  3  expect" not in out
    assert err.strip() == (
        "FAILED: step 3 (expect): expected room r to have is_available 1, got false"
    )


@pytest.mark.network
def test_an_unexpected_answer_exits_1_with_status_and_body(
    served_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = scenario_of(
        {"create_room": {"as": "r", "body": {"recording_options": {"auto_record": True}}}},
        HOST,
        {"find_recording": {"room": "r", "as": "auto"}},
        {"stop_recording": {"recording": "auto"}},
    )
    assert main_play([write(tmp_path, scenario), "--url", served_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED: step 4 (stop_recording): POST /_emulator/recordings/")
    assert "answered 409 (expected 200)" in err
    assert '"name":"ConflictError"' in err


@pytest.mark.network
def test_run_scenario_raises_scenario_failed(served_url: str) -> None:
    out = io.StringIO()
    scenario = scenario_of(ROOM, {"start_recording": {"room": "r", "as": "rec"}})
    with pytest.raises(ScenarioFailed, match="no live session") as raised:
        run_scenario(scenario, served_url, out=out)
    assert (raised.value.step, raised.value.kind) == (2, "start_recording")
    assert "  1  create_room" in out.getvalue()


@pytest.mark.network
def test_participant_states(served_url: str) -> None:
    body = {"type": "long_term", "expires_at": "+1h", "join_approval_level": "explicit_approval"}
    scenario = scenario_of(
        {"create_room": {"as": "r", "body": body}},
        HOST,
        {"join": {"room": "r", "as": "g", "name": "Guest"}},
        {"expect": {"participant": "g", "state": "waiting", "session_id": None}},
        {"leave": {"participant": "g"}},
        {"expect": {"participant": "g", "state": "left"}},
        {"expect": {"participant": "h", "state": "joined", "is_host": True}},
    )
    out = io.StringIO()
    run_scenario(scenario, served_url, out=out)
    assert "Guest left room r\n" in out.getvalue()


def test_an_unreachable_emulator_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, scenario_of({"say": "hello"}))
    assert main_play([path, "--url", "http://127.0.0.1:9"]) == 1
    assert "FAILED: cannot use the emulator at http://127.0.0.1:9" in capsys.readouterr().err


# -- bad scenarios: exit 2, nothing played ------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [ROOM, {"jion": {"room": "r", "as": "a"}}],
            "step 2: unknown step kind 'jion' (did you mean join?)",
        ),
        (
            [ROOM, {"join": {"room": "standup", "as": "a"}}],
            "step 2 (join): unknown room 'standup': no earlier step names it (known rooms: r)",
        ),
        (
            [ROOM, HOST, {"admit": {"participant": "bob"}}],
            "step 3 (admit): unknown participant 'bob'",
        ),
        ([{"advance": "10 minutes"}], "step 1 (advance): advance: bad duration '10 minutes'"),
        ([{"advance": -5}], "step 1 (advance): advance: bad duration -5"),
        ([ROOM, {"advance": True}], "step 2 (advance): advance: a duration is a number"),
        (
            [{"create_room": {"as": "r", "body": {"expires_at": "+soon"}}}],
            "step 1 (create_room): body.expires_at: bad duration 'soon'",
        ),
        ([ROOM, {"join": {"room": "r"}}], "step 2 (join): 'as' is required"),
        (
            [ROOM, {"get_room": {"room": "r", "id": 1}}],
            "step 2 (get_room): 'id' is not allowed",
        ),
        ([ROOM, ROOM], "step 2 (create_room): 'r' already names a room (step 1)"),
        (
            [ROOM, HOST, {"stop_recording": {"recording": "h"}}],
            "step 3 (stop_recording): 'h' is a participant (step 2), not a recording",
        ),
        ([ROOM, {"expect": {"room": "r"}}], "step 2 (expect): names a room but no field"),
        (
            [ROOM, HOST, {"expect": {"room": "r", "participant": "h", "state": "joined"}}],
            "step 3 (expect): needs exactly one of room, participant, recording",
        ),
        ([ROOM, {"say": "a", "advance": 1}], "step 2: a step is an object with exactly one key"),
        (["say hello"], "step 1: a step is an object with exactly one key"),
    ],
)
def test_an_invalid_scenario_exits_2_naming_the_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], steps: list[Any], message: str
) -> None:
    path = write(tmp_path, scenario_of(*steps))
    assert main_play([path]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # checked before any emulator starts
    assert err.startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "steps": [', "is not valid JSON"),
        ('{"steps": [{"say": "hi"}]}', "the scenario needs a 'name'"),
        ('{"name": "x", "steps": []}', "'steps': a non-empty list"),
        ('{"name": "x", "step": []}', "unknown top-level key 'step'"),
        ("[1, 2]", "a scenario is an object with name and steps"),
    ],
)
def test_a_malformed_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main_play([str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play([str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_play([]) == 2
    assert "usage: meetings-emulator play" in capsys.readouterr().err


def test_run_scenario_checks_everything_before_sending() -> None:
    scenario = scenario_of(ROOM, {"advance": "soon"})
    with pytest.raises(InvalidScenario) as raised:
        run_scenario(scenario, "http://127.0.0.1:9", out=io.StringIO())
    assert isinstance(raised.value, ScenarioError)
    assert (raised.value.step, raised.value.exit_code) == (2, 2)


# -- loading and durations -----------------------------------------------------------------


YAML_SCENARIO = """\
name: Both formats
description: the same scenario twice
steps:
  - create_room:
      as: standup
      body: {display_name: Standup, type: long_term, expires_at: 2031-01-01T00:00:00Z}
  - join: {room: standup, as: avital, name: Avital, is_host: true}
  - advance: 10m
  - expect: {room: standup, is_available: true}
  - get_room: standup
  - say: done
"""


def test_yaml_and_json_load_the_same(tmp_path: Path) -> None:
    yaml_path = tmp_path / "scenario.yaml"
    yaml_path.write_text(YAML_SCENARIO)
    from_yaml = load_scenario(yaml_path)
    # YAML reads the unquoted timestamp as a datetime; it comes back as the API's ISO text.
    body = from_yaml["steps"][0]["create_room"]["body"]
    assert body["expires_at"] == "2031-01-01T00:00:00.000Z"
    json_path = tmp_path / "scenario.json"
    json_path.write_text(json.dumps(from_yaml))
    assert load_scenario(json_path) == from_yaml
    assert [step.kind for step in validate_scenario(from_yaml)] == [
        "create_room",
        "join",
        "advance",
        "expect",
        "get_room",
        "say",
    ]


def test_invalid_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("name: x\nsteps: [\n")
    assert main_play([str(path)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err


def test_examples_are_valid() -> None:
    for path in sorted(EXAMPLES.glob("*.json")) + sorted(EXAMPLES.glob("*.yaml")):
        assert validate_scenario(load_scenario(path)), path


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), (1.5, 1.5), ("90", 90), ("10m", 600), ("9m59s", 599), ("1h30m", 5400), ("2h", 7200)],
)
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "m", "-5s", "5d", "1.5.2s", "inf", None, True, [5]])
def test_bad_durations(value: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (5, "5s"),
        (600, "10m"),
        (599, "9m59s"),
        (3600, "1h"),
        (3605, "1h0m5s"),
        (2130.09, "35m30s"),
        (0.1234, "0.123s"),
        (1.5, "1.5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
