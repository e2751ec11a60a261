"""`--callback-signing` and `--callback-secret` from flags and the environment: a profile
that cannot sign is refused at start, on one line, with exit status 2 and the secret never
shown; a good one reaches the callbacks a served process sends."""

from __future__ import annotations

import base64
import signal

import httpx
import pytest
from standardwebhooks import Webhook

from meetings_emulator.callbacks.receiver import Inbox, create_receiver

from ..conftest import serving
from .process import Running, run
from .test_config import refused

pytestmark = pytest.mark.network

STANDARD_SECRET = "whsec_" + base64.b64encode(b"a key of thirty-two bytes, or so").decode()
NOT_STANDARD = (
    "--callback-secret ***: must be whsec_ and then base64 (a Standard Webhooks secret) to"
    " sign callbacks with the standard profile"
)


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["--callback-signing", "jwt"],
            {},
            "--callback-signing jwt: must be one of none, hmac, vonage, standard",
        ),
        (
            [],
            {"MEETINGS_EMULATOR_CALLBACK_SIGNING": "HMAC-SHA1"},
            "MEETINGS_EMULATOR_CALLBACK_SIGNING=HMAC-SHA1: must be one of none, hmac, vonage,"
            " standard",
        ),
        (["--callback-signing", "vonage"], {}, "--callback-signing vonage needs --callback-secret"),
        (
            [],
            {"MEETINGS_EMULATOR_CALLBACK_SIGNING": "hmac"},
            "--callback-signing hmac needs --callback-secret",
        ),
        (["--callback-signing", "standard", "--callback-secret", "s3cret"], {}, NOT_STANDARD),
        (
            ["--callback-signing", "standard"],
            {"MEETINGS_EMULATOR_CALLBACK_SECRET": "whsec_not base64!"},
            NOT_STANDARD,
        ),
        (
            [],
            {
                "MEETINGS_EMULATOR_CALLBACK_SIGNING": "standard",
                "MEETINGS_EMULATOR_CALLBACK_SECRET": "whsec_",
            },
            NOT_STANDARD,
        ),
    ],
)
def test_a_profile_that_cannot_sign_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], line: str
) -> None:
    result = run(*args, env=env)
    assert refused(result) == line
    assert "s3cret" not in result.stderr
    assert "base64!" not in result.stderr


def test_a_served_process_signs_with_the_profile_from_the_environment() -> None:
    """The process keeps real time: the library's five-minute tolerance holds."""
    inbox = Inbox()
    with serving(create_receiver(inbox=inbox)) as receiver_url:
        env = {
            "MEETINGS_EMULATOR_CALLBACK_SIGNING": "Standard",
            "MEETINGS_EMULATOR_CALLBACK_SECRET": STANDARD_SECRET,
            "MEETINGS_EMULATOR_CALLBACK_URL": receiver_url + "/callbacks",
        }
        with Running.start("--port", "0", env=env) as running:
            line = running.wait_for_log("INFO configuration: ")
            with httpx.Client(base_url=running.url, auth=("key", "secret")) as http:
                config = http.get("/_emulator/callbacks/config").json()
                room = http.post("/v1/meetings/rooms", json={"display_name": "signed"}).json()
                http.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "A"})
                http.post("/_emulator/callbacks/flush", json={"timeout": 10})
            received = inbox.wait_for(2)
            assert running.stop(signal.SIGTERM).status == 0
    assert (config["signing"], config["secret_set"]) == ("standard", True)
    assert "callback-secret=*** callback-signing=standard " in line
    assert [item.event for item in received] == ["session:started", "session:participant:joined"]
    for item in received:
        assert Webhook(STANDARD_SECRET).verify(item.body, item.headers) == item.payload
