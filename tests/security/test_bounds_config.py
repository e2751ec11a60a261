"""The bounds and timeouts are set by flags or the environment, checked before serving, and
shown by `--help` and the start-up configuration line."""

from __future__ import annotations

import pytest

from meetings_emulator.config import build_parser, settings_from

from ..tools.process import Running, run

pytestmark = pytest.mark.network


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--request-timeout", "0"], {}, "--request-timeout 0: must be a number from 0.1 to 3600"),
        (
            [],
            {"MEETINGS_EMULATOR_KEEP_ALIVE_TIMEOUT": "never"},
            "MEETINGS_EMULATOR_KEEP_ALIVE_TIMEOUT=never: must be a number",
        ),
        (
            ["--max-pending-callbacks", "0"],
            {},
            "--max-pending-callbacks 0: must be a positive integer",
        ),
        (
            ["--room-retention=-1"],
            {},
            "--room-retention -1: must be a number from 0 to 3.16224e+08",
        ),
    ],
)
def test_a_bad_bound_is_refused_in_one_line(
    args: list[str], env: dict[str, str], line: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"meetings-emulator: {line}"]


def test_the_bounds_reach_the_settings() -> None:
    settings = settings_from(
        build_parser().parse_args(
            [
                "--request-timeout",
                "2.5",
                "--keep-alive-timeout",
                "1",
                "--max-pending-callbacks",
                "50",
                "--room-retention",
                "0",
            ]
        )
    )
    assert (
        settings.request_timeout,
        settings.keep_alive_timeout,
        settings.max_pending_callbacks,
        settings.room_retention,
    ) == (2.5, 1.0, 50, 0.0)
    defaults = settings_from(build_parser().parse_args([]))
    assert (
        defaults.request_timeout,
        defaults.keep_alive_timeout,
        defaults.max_pending_callbacks,
        defaults.room_retention,
    ) == (10.0, 5.0, 10_000, 86_400.0)


def test_help_and_the_configuration_line_show_them() -> None:
    text = " ".join(run("--help").stdout.split())
    for shown in (
        "--request-timeout SECONDS",
        "(default: 10; env MEETINGS_EMULATOR_REQUEST_TIMEOUT)",
        "(default: 5; env MEETINGS_EMULATOR_KEEP_ALIVE_TIMEOUT)",
        "(default: 10000; env MEETINGS_EMULATOR_MAX_PENDING_CALLBACKS)",
        "(default: 86400; env MEETINGS_EMULATOR_ROOM_RETENTION)",
    ):
        assert shown in text
    with Running.start("--port", "0", "--max-pending-callbacks", "77") as running:
        line = running.wait_for_log("INFO configuration: ")
        running.stop()
    assert "request-timeout=10.0 keep-alive-timeout=5.0 " in line
    assert "max-pending-callbacks=77 " in line
    assert "room-retention=86400.0 " in line
