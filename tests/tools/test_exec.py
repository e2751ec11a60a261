"""`meetings-emulator exec [options] -- CMD [ARGS...]`, as a test suite's runner uses it.

Real processes: the emulator's command line runs CMD, a small Python program that talks to
the emulator over HTTP at the URL it was given. What a user notices is asserted: CMD's
output and exit status passed through, the signals CMD receives, the state file after,
the port closed after, and the one-line messages for what cannot be run.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.config import _options
from meetings_emulator.domain.settings import Settings

from ..conftest import free_port
from .process import EMULATOR, run

pytestmark = pytest.mark.network

DEFAULT_AUTH = "Basic " + base64.b64encode(b"test-key:test-secret").decode()

# CMD: create a room at $MEETINGS_EMULATOR_URL, print what it was given and what it got.
CREATE_ROOM = f"""
import json, os, sys, urllib.error, urllib.request
url = os.environ["MEETINGS_EMULATOR_URL"]
auth = sys.argv[1] if len(sys.argv) > 1 else {DEFAULT_AUTH!r}
request = urllib.request.Request(
    url + "/v1/meetings/rooms",
    data=json.dumps({{"display_name": "from exec"}}).encode(),
    headers={{"Authorization": auth, "Content-Type": "application/json"}},
    method="POST",
)
try:
    with urllib.request.urlopen(request) as answer:
        status, room = answer.status, json.load(answer)
except urllib.error.HTTPError as refused:
    status, room = refused.code, None
api_url = os.environ["MEETINGS_EMULATOR_API_URL"]
print(json.dumps({{"url": url, "api_url": api_url, "status": status, "room": room}}))
"""

# CMD: read one room back by its id.
READ_ROOM = f"""
import json, os, sys, urllib.request
request = urllib.request.Request(
    os.environ["MEETINGS_EMULATOR_API_URL"] + "/rooms/" + sys.argv[1],
    headers={{"Authorization": {DEFAULT_AUTH!r}}},
)
with urllib.request.urlopen(request) as answer:
    print(json.dumps({{"status": answer.status, "room": json.load(answer)}}))
"""

# CMD: count the SIGINTs it receives; exit with 10 + that count, half a second after the
# first (time enough for a second one to arrive, were it sent twice).
COUNT_SIGINTS = """
import signal, sys, time
received = []
signal.signal(signal.SIGINT, lambda *_: received.append(1))
print("ready", flush=True)
deadline = time.monotonic() + 30
while not received and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)
sys.exit(10 + len(received))
"""

WAIT = 'import time; print("ready", flush=True); time.sleep(30)'

# The command line with `signal.sigtimedwait` taken away, as on macOS.
WITHOUT_SIGTIMEDWAIT = [
    sys.executable,
    "-c",
    "import signal, sys\n"
    "del signal.sigtimedwait\n"
    "from meetings_emulator.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n",
]


def exec_(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("exec", *args, env=env)


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script, *args]


def creates(marker: Path) -> list[str]:
    """A CMD that makes the file `marker`: whether it ran."""
    return python(f"open({str(marker)!r}, 'w')")


def printed(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def port_of(url: str) -> int:
    found = re.fullmatch(r"https?://127\.0\.0\.1:(\d+)", url)
    assert found, url
    return int(found.group(1))


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEETINGS_EMULATOR_")}


def started(*args: str, command: list[str] | None = None) -> subprocess.Popen[str]:
    """exec in the background; returns once CMD has printed `ready`."""
    process = subprocess.Popen(
        [*(command or EMULATOR), "exec", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


# -- the URL, CMD's output and status ---------------------------------------------------------


def test_cmd_gets_the_emulators_url_and_its_output_alone_is_on_stdout() -> None:
    result = exec_("--", *python(CREATE_ROOM))
    answer = printed(result)
    assert result.stdout.count("\n") == 1  # CMD's line; the emulator speaks on stderr
    assert answer["api_url"] == answer["url"] + "/v1/meetings"
    assert answer["status"] == 201
    assert answer["room"]["display_name"] == "from exec"
    port = port_of(answer["url"])
    assert port != 9010  # a free port, not the serving default
    assert f"serving {answer['url']} while running {sys.executable} -c " in result.stderr
    assert "stopping: the command ended with status 0" in result.stderr
    assert refuses_connections(port)  # stopped: nothing listens there any more


@pytest.mark.parametrize("status", [0, 3, 42])
def test_exits_with_the_status_of_cmd(status: int) -> None:
    result = exec_("--", *python(f"import sys; sys.exit({status})"))
    assert result.returncode == status, result.stderr
    assert f"the command ended with status {status}" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_cmd_killed_by_signal_n_is_exit_status_128_plus_n(sig: signal.Signals) -> None:
    result = exec_("--", *python(f"import os; os.kill(os.getpid(), {int(sig)})"))
    assert result.returncode == 128 + sig
    assert "Traceback" not in result.stderr


# -- what cannot be run -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("--seed", "1"), ("--seed", "1", "--")])
def test_no_command_is_a_one_line_usage_error(args: tuple[str, ...]) -> None:
    result = exec_(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "meetings-emulator exec: no command to run: meetings-emulator exec [options] -- CMD"
        " [ARGS...] (see meetings-emulator exec --help)\n"
    )


def test_a_command_without_the_double_dash_is_told_where_it_goes() -> None:
    result = exec_("--seed", "1", "pytest", "-x")
    assert result.returncode == 2
    assert result.stderr == (
        "meetings-emulator exec: unrecognized arguments: pytest -x; the command goes after --"
        " (see meetings-emulator exec --help)\n"
    )


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("no-such-command-for-exec", "no-such-command-for-exec: command not found"),
        ("./no/such/file", "./no/such/file: No such file or directory"),
    ],
)
def test_a_command_not_found_is_127_in_one_line(name: str, said: str) -> None:
    result = exec_("--", name, "--an-argument")
    assert result.returncode == 127
    assert result.stdout == ""
    assert result.stderr == f"meetings-emulator exec: {said}\n"  # nothing was served


def test_a_command_that_cannot_be_run_is_126(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    result = exec_("--", str(script))
    assert result.returncode == 126
    assert f"meetings-emulator exec: {script}: Permission denied\n" in result.stderr


def test_a_bad_option_is_exit_2_and_cmd_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = exec_("--port", "many", "--", *creates(marker))
    assert result.returncode == 2
    assert result.stderr.startswith("meetings-emulator: --port many: ")
    assert result.stderr.count("\n") == 1
    assert not marker.exists()


def test_a_port_in_use_is_exit_3_as_serving_and_cmd_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        serving = run("--port", str(port))
        result = exec_("--port", str(port), "--", *creates(marker))
    assert serving.returncode == 3
    assert result.returncode == 3
    assert result.stderr == (
        f"meetings-emulator: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert not marker.exists()


# -- the server's own options ------------------------------------------------------------------


def test_the_state_file_keeps_the_room_cmd_made_for_the_next_run(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    made = printed(exec_("--state-file", str(state), "--", *python(CREATE_ROOM)))["room"]
    saved = json.loads(state.read_text())
    assert [room["id"] for room in saved["rooms"]["rooms"]] == [made["id"]]
    again = printed(exec_("--state-file", str(state), "--", *python(READ_ROOM, made["id"])))
    assert again["status"] == 200
    read = again["room"]
    # All but the host link's token, which is signed anew (with its `iat`) at every read.
    assert read | {"_links": None} == made | {"_links": None}
    assert read["_links"]["guest_url"] == made["_links"]["guest_url"]


def test_a_seed_gives_the_rooms_the_same_ids_as_the_server_would() -> None:
    with TestClient(create_app(Settings(seed=7)), headers={"Authorization": DEFAULT_AUTH}) as ours:
        expected = ours.post("/v1/meetings/rooms", json={"display_name": "x"}).json()
    rooms = [printed(exec_("--seed", "7", "--", *python(CREATE_ROOM)))["room"] for _ in (1, 2)]
    for room in rooms:
        assert (room["id"], room["meeting_code"]) == (expected["id"], expected["meeting_code"])
    other = printed(exec_("--seed", "8", "--", *python(CREATE_ROOM)))["room"]
    assert other["id"] != expected["id"]


def test_credentials_from_the_options_and_the_environment_are_required() -> None:
    mine = "Basic " + base64.b64encode(b"my-key:my-secret").decode()
    options = ("--api-key", "my-key", "--api-secret", "my-secret", "--")
    assert printed(exec_(*options, *python(CREATE_ROOM)))["status"] == 401
    assert printed(exec_(*options, *python(CREATE_ROOM, mine)))["status"] == 201
    environment = {
        "MEETINGS_EMULATOR_API_KEY": "my-key",
        "MEETINGS_EMULATOR_API_SECRET": "my-secret",
    }
    assert printed(exec_("--", *python(CREATE_ROOM), env=environment))["status"] == 401


def test_a_port_named_is_the_port_served_and_local_links_name_it() -> None:
    port = free_port()
    answer = printed(exec_("--port", str(port), "--local-links", "--", *python(CREATE_ROOM)))
    assert answer["url"] == f"http://127.0.0.1:{port}"
    assert answer["room"]["_links"]["guest_url"]["href"].startswith(answer["url"] + "/meet/")
    from_environment = printed(
        exec_("--", *python(CREATE_ROOM), env={"MEETINGS_EMULATOR_PORT": str(port)})
    )
    assert from_environment["url"] == f"http://127.0.0.1:{port}"


def test_a_free_port_is_named_in_local_links_too() -> None:
    answer = printed(exec_("--local-links", "--", *python(CREATE_ROOM)))
    assert answer["room"]["_links"]["guest_url"]["href"].startswith(answer["url"] + "/meet/")


def test_with_tls_the_url_is_https_and_verifies_with_the_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    check = (
        "import json, os, ssl, sys, urllib.request\n"
        "url = os.environ['MEETINGS_EMULATOR_URL']\n"
        "trust = ssl.create_default_context(cafile=sys.argv[1])\n"
        "with urllib.request.urlopen(url + '/_emulator/health', context=trust) as answer:\n"
        "    print(json.dumps({'url': url, 'health': json.load(answer)['status']}))\n"
    )
    answer = printed(exec_("--tls", "--tls-ca-out", str(ca), "--", *python(check, str(ca))))
    assert answer["health"] == "ok"
    assert answer["url"].startswith("https://127.0.0.1:")


# -- signals ------------------------------------------------------------------------------------


def test_sigterm_to_exec_is_passed_on_to_cmd_then_the_emulator_stops() -> None:
    process = started("--", *python(WAIT))
    process.send_signal(signal.SIGTERM)
    status, stderr = finished(process)
    assert status == 128 + signal.SIGTERM
    assert "INFO passing SIGTERM on to the command\n" in stderr
    assert "stopping: the command ended with status 143" in stderr
    assert "Traceback" not in stderr


def test_a_signal_before_cmd_starts_stops_all_and_cmd_is_not_run(tmp_path: Path) -> None:
    """The public key is read from a named pipe, so exec waits there, its signals already
    held, until the test has sent SIGTERM; then it starts the emulator, and stops."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    pipe, marker = tmp_path / "key.pem", tmp_path / "ran"
    os.mkfifo(pipe)
    process = subprocess.Popen(
        [*EMULATOR, "exec", "--public-key", str(pipe), "--", *creates(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    with open(pipe, "wb") as key:  # returns once exec has opened it, reading its options
        process.send_signal(signal.SIGTERM)
        key.write(public_pem)
    status, stderr = finished(process)
    assert status == 128 + signal.SIGTERM, stderr
    assert "INFO SIGTERM before the command started: not running it\n" in stderr
    assert "stopped in " in stderr
    assert not marker.exists()


def test_a_sigint_sent_to_exec_reaches_cmd_once() -> None:
    process = started("--", *python(COUNT_SIGINTS))
    process.send_signal(signal.SIGINT)
    status, stderr = finished(process)
    assert status == 11, stderr
    assert "INFO passing SIGINT on to the command\n" in stderr


def test_ctrl_c_at_a_terminal_reaches_cmd_once() -> None:
    """The terminal sends SIGINT to the whole foreground group, CMD included: exec does not
    send it again."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own, on the new terminal
        try:
            command = [*EMULATOR, "exec", "--", *python(COUNT_SIGINTS)]
            os.execve(command[0], command, clean_environment())
        finally:
            os._exit(127)
    output = b""
    try:
        while not re.search(rb"(^|\n)ready\r?\n", output):  # CMD's line, not the log's
            output += read_terminal(terminal)
        os.write(terminal, b"\x03")  # Ctrl-C
        while True:
            chunk = read_terminal(terminal)
            if not chunk:
                break
            output += chunk
    finally:
        _, wait_status = os.waitpid(pid, 0)
        os.close(terminal)
    said = output.decode()
    assert os.waitstatus_to_exitcode(wait_status) == 11, said
    # Two SIGINTs close together may reach CMD as one: what exec did is in its log.
    assert "INFO SIGINT from the terminal, which sent it to the command too\r\n" in said
    assert "passing SIGINT on" not in said


def read_terminal(terminal: int) -> bytes:
    ready, _, _ = select.select([terminal], [], [], 30)
    assert ready, "no output from the terminal within 30 s"
    try:
        return os.read(terminal, 4096)
    except OSError:  # EIO: the other side closed
        return b""


def test_without_sigtimedwait_signals_are_passed_on_from_a_handler() -> None:
    process = started("--", *python(COUNT_SIGINTS), command=WITHOUT_SIGTIMEDWAIT)
    process.send_signal(signal.SIGINT)
    status, stderr = finished(process)
    assert status == 11, stderr
    process = started("--", *python(WAIT), command=WITHOUT_SIGTIMEDWAIT)
    process.send_signal(signal.SIGTERM)
    status, stderr = finished(process)
    assert status == 143, stderr


# -- help -----------------------------------------------------------------------------------------


def test_help_lists_exec_and_exec_help_lists_every_server_option() -> None:
    text = " ".join(run("--help").stdout.split())
    assert "meetings-emulator exec [options] -- CMD [ARGS] serve while CMD runs" in text
    result = run("exec", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert text.startswith("usage: meetings-emulator exec [options] -- CMD [ARGS...] ")
    assert "MEETINGS_EMULATOR_URL" in text
    assert "MEETINGS_EMULATOR_API_URL" in text
    for option in _options():
        assert f"{option.flag} " in text
        assert f"env {option.env})" in text
    assert text.count("(default: ") == len(_options())

