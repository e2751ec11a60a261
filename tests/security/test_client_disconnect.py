"""A client that hangs up mid-body is not a server error: the journal records it as a
disconnect (no status, not a 5xx) and the log has one line for it, no traceback; the same
on both of uvicorn's HTTP/1.1 protocols."""

from __future__ import annotations

import httpx
import pytest

from ..conftest import BASIC
from ..tools.process import PROTOCOLS, Running, emulator_command
from .wire import hang_up_mid_body, head

V1 = "/v1/meetings"


@pytest.mark.parametrize("http", PROTOCOLS)
def test_a_hang_up_mid_body_is_a_disconnect_not_a_500(http: str) -> None:
    command = emulator_command(http=http)
    with Running.start("--port", "0", "--seed", "1", command=command) as running:
        host = running.url.removeprefix("http://")
        announced = head(
            "POST",
            f"{V1}/rooms",
            host,
            {"Authorization": BASIC, "Content-Type": "application/json", "Content-Length": "1000"},
        )
        hang_up_mid_body(running.url, announced, b'{"display_name": "half')
        in_chunks = head(
            "POST",
            f"{V1}/themes",
            host,
            {
                "Authorization": BASIC,
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
        )
        hang_up_mid_body(running.url, in_chunks, b'6\r\n{"keys\r\n')
        control = head(
            "POST",
            "/_emulator/clock",
            host,
            {"Content-Type": "application/json", "Content-Length": "100"},
        )
        hang_up_mid_body(running.url, control, b'{"adv')
        for target in (f"POST {V1}/rooms", f"POST {V1}/themes", "POST /_emulator/clock"):
            running.wait_for_log(f"client disconnected mid-request: {target}")
        with httpx.Client(base_url=running.url, timeout=10) as http:
            calls = http.get("/_emulator/requests").json()["requests"]
            server_errors = http.get("/_emulator/requests", params={"status": "5xx"}).json()
            answered = http.post(
                f"{V1}/rooms", json={"display_name": "x"}, headers={"Authorization": BASIC}
            )
        stopped = running.stop()
    assert [(c["method"], c["status"], c["error"], c["body_size"]) for c in calls] == [
        ("POST", None, "client disconnected", 22),
        ("POST", None, "client disconnected", 6),
    ]
    assert calls[0]["body"] == '{"display_name": "half'
    assert server_errors == {"requests": []}
    assert answered.status_code == 201
    assert "Traceback" not in stopped.stderr
    assert "Exception in ASGI application" not in stopped.stderr
    lines = [line for line in stopped.stderr.splitlines() if "client disconnected" in line]
    assert len(lines) == 3, stopped.stderr
