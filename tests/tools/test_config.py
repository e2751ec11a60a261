"""Every flag and environment variable is checked before anything is served: a bad value is
named on one line of stderr, with exit status 2 and no traceback; `--help` always works."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from meetings_emulator.config import _options
from meetings_emulator.config_values import FALSE_WORDS, TRUE_WORDS, parse_boolean

from .process import Running, run

pytestmark = pytest.mark.network

NOT_A_KEY = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start prints."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("meetings-emulator: ")
    return lines[0].removeprefix("meetings-emulator: ")


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--port", "70000"], {}, "--port 70000: must be a port number from 0 to 65535"),
        (["--port=-1"], {}, "--port -1: must be a port number from 0 to 65535"),
        (["--port", "many"], {}, "--port many: must be a port number from 0 to 65535"),
        (
            [],
            {"MEETINGS_EMULATOR_PORT": "abc"},
            "MEETINGS_EMULATOR_PORT=abc: must be a port number from 0 to 65535",
        ),
        (["--max-rooms", "-5"], {}, "--max-rooms -5: must be a positive integer"),
        (["--max-rooms", "0"], {}, "--max-rooms 0: must be a positive integer"),
        (
            [],
            {"MEETINGS_EMULATOR_MAX_ROOMS": "1.5"},
            "MEETINGS_EMULATOR_MAX_ROOMS=1.5: must be a positive integer",
        ),
        (["--seed", "x"], {}, "--seed x: must be an integer >= 0"),
        (
            ["--callback-max-attempts", "0"],
            {},
            "--callback-max-attempts 0: must be an integer from 1 to 20",
        ),
        (
            ["--callback-max-attempts", "21"],
            {},
            "--callback-max-attempts 21: must be an integer from 1 to 20",
        ),
        (["--callback-timeout", "0"], {}, "--callback-timeout 0: must be a number from 0.1 to 60"),
        (
            ["--callback-base-delay=-1"],
            {},
            "--callback-base-delay -1: must be a number from 0 to 3600",
        ),
        (
            ["--recording-upload-delay", "nan"],
            {},
            "--recording-upload-delay nan: must be a finite number",
        ),
        (
            [],
            {"MEETINGS_EMULATOR_TLS": "maybe"},
            "MEETINGS_EMULATOR_TLS=maybe: must be one of 1/true/yes/on or 0/false/no/off",
        ),
        (
            [],
            {"MEETINGS_EMULATOR_LOCAL_LINKS": "2"},
            "MEETINGS_EMULATOR_LOCAL_LINKS=2: must be one of 1/true/yes/on or 0/false/no/off",
        ),
        (["--tenancy", "both"], {}, "--tenancy both: must be one of shared, isolated"),
        (
            ["--log-level", "loud"],
            {},
            "--log-level loud: must be one of critical, error, warning, info, debug, trace",
        ),
        (["--log-format", "xml"], {}, "--log-format xml: must be one of text, json"),
        (
            ["--callback-url", "ftp://x"],
            {},
            "--callback-url ftp://x: must be a URL starting with http:// or https://",
        ),
        (
            ["--base-url", "meetings.test"],
            {},
            "--base-url meetings.test: must be a URL starting with http:// or https://",
        ),
        (
            ["--public-url", "http://x:99999"],
            {},
            "--public-url http://x:99999: has a port out of range (0-65535)",
        ),
        (["--host", " "], {}, "--host  : must be a host name or an IP address"),
        (
            ["--tls", "--tls-hostname", "not a name"],
            {},
            "--tls-hostname not a name: must be a DNS name (such as meetings) or an IP address",
        ),
        (["--tls-dir", "somewhere"], {}, "--tls-dir needs --tls"),
        (["--tls-hostname", "meetings"], {}, "--tls-hostname needs --tls"),
        (["--public-key", NOT_A_KEY], {}, "--public-key the PEM text: not a PEM public key"),
        (
            ["--colour", "red"],
            {},
            "unrecognized arguments: --colour red (see meetings-emulator --help)",
        ),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], line: str
) -> None:
    assert refused(run(*args, env=env)) == line


def test_a_secret_is_never_repeated_in_an_error() -> None:
    assert refused(run("--api-secret", " s3cr3t ", "--control-token", "")) == (
        "--control-token ***: must not be empty"
    )


def test_files_are_checked_before_serving(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "state.json"
    assert refused(run("--state-file", str(missing))) == (
        f"--state-file {missing}: cannot be written: the folder {missing.parent} does not exist"
    )
    assert (
        refused(run("--state-file", str(tmp_path)))
        == f"--state-file {tmp_path}: is a folder, not a file"
    )
    ca_out = tmp_path / "nowhere" / "ca.pem"
    assert refused(run("--tls", "--tls-ca-out", str(ca_out))) == (
        f"--tls-ca-out {ca_out}: cannot be written: the folder {ca_out.parent} does not exist"
    )
    assert refused(run("--tenants", str(tmp_path / "t.json"))) == (
        f"--tenants {tmp_path / 't.json'}: is not a file"
    )
    tenants = tmp_path / "tenants.json"
    tenants.write_text("[{")
    assert refused(run("--tenants", str(tenants))).startswith(f"--tenants {tenants}: not JSON (")
    tenants.write_text('{"name": "x"}')
    assert refused(run("--tenants", str(tenants))) == (
        f"--tenants {tenants}: expected a JSON array of tenants"
    )
    numbers = tmp_path / "numbers.json"
    numbers.write_text('[{"number": "1"}]')
    assert refused(run("--dial-in-numbers", str(numbers))) == (
        f"--dial-in-numbers {numbers}: item 0 must have exactly the keys"
        " ['display_name', 'locale', 'number']"
    )
    assert refused(run("--public-key", str(tmp_path / "key.pem"))) == (
        f"--public-key {tmp_path / 'key.pem'}: No such file or directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_a_state_file_in_a_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = refused(run("--state-file", str(folder / "state.json")))
    finally:
        folder.chmod(0o700)
    assert line.endswith(f"cannot be written: the folder {folder} is not writable")


def test_help_shows_every_default_choice_and_subcommand() -> None:
    result = run("--help", env={"MEETINGS_EMULATOR_PORT": "abc"})  # a bad variable: still help
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for command in ("play SCENARIO", "receiver", "health [--url URL] [--ca FILE]"):
        assert f"meetings-emulator {command}" in text
    for option in _options():
        assert f"{option.flag} " in text
        assert f"env {option.env})" in text
    assert text.count("(default: ") == len(_options())
    for shown in (
        "(default: 9010; env MEETINGS_EMULATOR_PORT)",
        "(default: 127.0.0.1; env MEETINGS_EMULATOR_HOST)",
        "(default: 1000; env MEETINGS_EMULATOR_MAX_ROOMS)",
        "(default: off; env MEETINGS_EMULATOR_TLS)",
        "--tenancy {shared,isolated}",
        "--log-format {text,json}",
        "--log-level {critical,error,warning,info,debug,trace}",
        "(default: info; env MEETINGS_EMULATOR_LOG_LEVEL)",
        "(default: text; env MEETINGS_EMULATOR_LOG_FORMAT)",
    ):
        assert shown in text


@pytest.mark.parametrize("word", [*TRUE_WORDS, *FALSE_WORDS, "ON", "Off", " yes "])
def test_switches_take_the_usual_words(word: str) -> None:
    assert parse_boolean(word) is (word.strip().lower() in TRUE_WORDS)


@pytest.mark.parametrize(("word", "scheme"), [("on", "https"), ("no", "http")])
def test_tls_from_the_environment_is_honoured(word: str, scheme: str) -> None:
    with Running.start("--port", "0", env={"MEETINGS_EMULATOR_TLS": word}) as running:
        assert running.url.startswith(f"{scheme}://127.0.0.1:")
        assert running.stop(signal.SIGTERM).status == 0


def test_the_configuration_is_logged_with_secrets_masked() -> None:
    env = {
        "MEETINGS_EMULATOR_API_SECRET": "s3cr3t",
        "MEETINGS_EMULATOR_CONTROL_TOKEN": "t0k3n",
        "MEETINGS_EMULATOR_CALLBACK_SECRET": "h4sh",
    }
    with Running.start("--port", "0", "--api-key", "my-key", env=env) as running:
        line = running.wait_for_log("INFO configuration: ")
        stopped = running.stop()
    assert "host=127.0.0.1 port=0 " in line
    assert "api-key=my-key api-secret=*** " in line
    assert "control-token=*** " in line
    assert "callback-secret=*** " in line
    assert "callback-max-attempts=8 " in line
    for secret in env.values():
        assert secret not in stopped.stderr + stopped.stdout
