"""Cross-site requests and DNS rebinding: control-plane writes take JSON only, requests from
another origin are refused on the control plane, and every request must name a host the
emulator serves. The dashboard's own page keeps working."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from meetings_emulator.config import ConfigError, build_parser, configure
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, free_port, make_app, serving
from .wire import exchange, head

V1 = "/v1/meetings"
TOKEN = "control-secret"
NOW = "2026-03-02T09:30:00.125Z"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def app() -> Starlette:
    """What `client` (tests/conftest.py) serves here."""
    return make_app()


def clock_now(client: TestClient) -> str:
    now: str = client.get("/_emulator/clock").json()["now"]
    return now


# -- control-plane writes take JSON ------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "why"),
    [
        ("text/plain;charset=UTF-8", ", not text/plain;charset=UTF-8"),
        ("application/x-www-form-urlencoded", ", not application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", ", not multipart/form-data; boundary=x"),
        (None, ": this request has a body and no Content-Type"),
    ],
)
def test_a_control_plane_write_with_a_body_needs_a_json_content_type(
    client: TestClient, content_type: str | None, why: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(
        "/_emulator/clock", content=b'{"advance_seconds": 3600}', headers=headers
    )
    assert response.status_code == 415
    assert response.json() == {
        "message": f"Content-Type must be application/json{why}",
        "name": "UnsupportedMediaTypeError",
        "status": 415,
    }
    assert clock_now(client) == NOW


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "text/json"],
)
def test_json_content_types_are_taken(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/_emulator/clock",
        content=b'{"advance_seconds": 60}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text


def test_a_write_without_a_body_needs_no_content_type(client: TestClient) -> None:
    client.post("/_emulator/faults", json={"effect": {"status": 503}})
    assert client.delete("/_emulator/faults").status_code == 204
    assert client.post("/_emulator/reset").status_code == 204
    # a declared empty body with a type that is not JSON is still refused
    refused = client.post("/_emulator/reset", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415


def test_the_api_and_the_s3_stand_in_keep_their_own_content_types(client: TestClient) -> None:
    # the API reads bodies as JSON whatever they are labelled, as the live service did
    made = client.post(
        f"{V1}/rooms", content=b'{"display_name": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert made.status_code == 201
    upload = client.post("/_emulator/s3/roomservice-whitelabel-logos-prod", files={"a": b"b"})
    assert upload.status_code == 400
    assert b"<Code>InvalidArgument</Code>" in upload.content


# -- Origin ------------------------------------------------------------------------------

FOREIGN = {
    "message": "Origin http://127.0.0.1:8081 is not this emulator's: the control plane "
    "answers its own pages only",
    "name": "ForbiddenError",
    "status": 403,
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_emulator/clock"),
        ("GET", "/_emulator/clock"),
        ("POST", "/_emulator/reset"),
        ("GET", "/_emulator/ui"),
    ],
)
def test_another_origin_is_refused_on_the_control_plane(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(
        method,
        path,
        json={"advance_seconds": 60} if path.endswith("clock") and method == "POST" else None,
        headers={"Origin": "http://127.0.0.1:8081"},
    )
    assert response.status_code == 403
    assert response.json() == FOREIGN
    assert clock_now(client) == NOW


@pytest.mark.parametrize(
    "origin", ["null", "http://testserver.evil.example", "https://testserver:8443"]
)
def test_odd_origins_are_refused(client: TestClient, origin: str) -> None:
    response = client.post("/_emulator/reset", headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["message"].startswith(f"Origin {origin} is not this emulator's")


def test_the_emulators_own_origin_is_taken(client: TestClient) -> None:
    moved = client.post(
        "/_emulator/clock", json={"advance_seconds": 60}, headers={"Origin": "http://testserver"}
    )
    assert moved.status_code == 200
    behind_a_proxy = make_app(public_url="https://meetings.example.com")
    with TestClient(behind_a_proxy) as proxied:
        response = proxied.post(
            "/_emulator/reset",
            headers={"Origin": "https://meetings.example.com", "Host": "meetings.example.com"},
        )
        assert response.status_code == 204


def test_the_api_and_what_stands_in_for_s3_take_any_origin(client: TestClient) -> None:
    evil = {"Origin": "http://127.0.0.1:8081"}
    assert client.post(f"{V1}/rooms", json={"display_name": "x"}, headers=evil).status_code == 201
    assert client.get("/_emulator/health", headers=evil).status_code == 200
    upload = client.post(
        "/_emulator/s3/roomservice-whitelabel-logos-prod", files={"a": b"b"}, headers=evil
    )
    assert upload.status_code == 400  # S3's own answer, not the emulator's 403
    assert client.get("/_emulator/logos/no/such.png", headers=evil).status_code == 404


# -- Host ----------------------------------------------------------------------------------


def not_served(host: str) -> dict[str, Any]:
    return {
        "message": f"Host {host} is not a name this emulator serves: add it with --allowed-host",
        "name": "ForbiddenError",
        "status": 403,
    }


@pytest.mark.parametrize(
    "path", [f"{V1}/rooms", "/_emulator/clock", "/_emulator/health", "/_emulator/ui", "/meet/1"]
)
def test_a_host_the_emulator_does_not_serve_is_refused_everywhere(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers={"Host": "rebound.attacker.example:9010"})
    assert response.status_code == 403
    assert response.json() == not_served("rebound.attacker.example:9010")


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:9010", "LOCALHOST.:9010", "127.0.0.1:9010", "[::1]:9010", "10.1.2.3"],
)
def test_loopback_names_and_addresses_are_served(client: TestClient, host: str) -> None:
    assert client.get(f"{V1}/rooms", headers={"Host": host}).status_code == 200
    assert client.get("/_emulator/clock", headers={"Host": host}).status_code == 200


def test_configured_names_are_served() -> None:
    app = make_app(
        host="emulator.internal",
        public_url="http://meetings.public.example:9010",
        allowed_hosts=("meetings", "*.corp.example"),
    )
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        for host in (
            "emulator.internal:9010",
            "meetings.public.example",
            "meetings:9010",
            "Meetings",
            "a.corp.example:80",
            "b.a.corp.example",
        ):
            assert client.get(f"{V1}/rooms", headers={"Host": host}).status_code == 200, host
        for host in ("meetings.evil.example", "corp.example", "xcorp.example"):
            assert client.get(f"{V1}/rooms", headers={"Host": host}).status_code == 403, host


def test_a_star_serves_every_host() -> None:
    with TestClient(make_app(allowed_hosts=("*",)), headers={"Authorization": BASIC}) as client:
        assert client.get(f"{V1}/rooms", headers={"Host": "any.example"}).status_code == 200


def test_a_rebound_name_is_refused_over_a_real_socket() -> None:
    with serving(make_app()) as url:
        port = url.rsplit(":", 1)[1]
        request = head("GET", "/_emulator/clock", f"rebound.attacker.example:{port}", {})
        answer = exchange(url, request, [])
        assert answer.status == 403
        assert httpx.get(f"{url}/_emulator/clock").status_code == 200


# -- the command line -----------------------------------------------------------------------


def configured(args: list[str], env: dict[str, str] | None = None) -> Settings:
    saved = dict(os.environ)
    try:
        os.environ.update(env or {})
        return configure(build_parser().parse_args(args)).settings
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_allowed_hosts_come_from_flags_or_the_environment() -> None:
    assert configured([]).allowed_hosts == ()
    flags = ["--allowed-host", "meetings", "--allowed-host", "*.corp.example"]
    assert configured(flags).allowed_hosts == ("meetings", "*.corp.example")
    from_env = {"MEETINGS_EMULATOR_ALLOWED_HOSTS": "meetings, app.local"}
    assert configured([], from_env).allowed_hosts == ("meetings", "app.local")
    assert configured(["--allowed-host", "*"]).allowed_hosts == ("*",)
    # the names a certificate has are served too
    with_tls = ["--tls", "--tls-hostname", "meetings", "--allowed-host", "app_1"]
    assert configured(with_tls).allowed_hosts == ("app_1", "meetings")


@pytest.mark.parametrize("bad", ["not a host", "http://meetings", "meetings:9010", "a*b"])
def test_a_bad_allowed_host_is_named(bad: str) -> None:
    with pytest.raises(ConfigError) as refused:
        configured(["--allowed-host", bad])
    assert str(refused.value).startswith(f"--allowed-host {bad}: must be")


# -- in a browser: a page on another loopback port ----------------------------------------


@dataclass
class Seen:
    """What reached the emulator: (method, path, Origin, whether a cookie came, status)."""

    calls: list[tuple[str, str, str | None, bool, int]] = field(default_factory=list)


def recording(app: Starlette, seen: Seen) -> Callable[[Scope, Receive, Send], Any]:
    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.calls.append(
                    (
                        scope["method"],
                        scope["path"],
                        origin.decode() if origin else None,
                        b"cookie" in headers,
                        message["status"],
                    )
                )
            await send(message)

        await app(scope, receive, noting)

    return wrapper


ATTACK = """<!doctype html><title>attacking</title>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink"
      action="{emulator}/_emulator/clock">
  <input name='{{"advance_seconds": 86400, "x": "' value='"}}'>
</form>
<script>
const target = "{emulator}";
async function attack() {{
  const tries = [
    fetch(target + "/_emulator/clock", {{method: "POST", mode: "no-cors", credentials: "include",
      headers: {{"Content-Type": "text/plain"}}, body: '{{"advance_seconds": 3600}}'}}),
    fetch(target + "/_emulator/clock", {{method: "POST", mode: "no-cors", credentials: "include",
      body: new Blob(['{{"advance_seconds": 7200}}'])}}),
    fetch(target + "/_emulator/reset", {{method: "POST", mode: "no-cors", credentials: "include"}}),
    fetch(target + "/_emulator/clock", {{method: "POST", credentials: "include",
      headers: {{"Content-Type": "application/json"}}, body: '{{"frozen": false}}'}}),
  ];
  await Promise.allSettled(tries);
  await new Promise((done) => {{
    document.getElementById("sink").addEventListener("load", done, {{once: true}});
    document.getElementById("form").submit();
  }});
  document.title = "done";
}}
attack();
</script>"""


@pytest.fixture
def chromium() -> Iterator[Any]:
    if importlib.util.find_spec("playwright") is None or not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Playwright and /usr/bin/chromium are needed for the browser test")
        pytest.skip("needs Playwright for Python and /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.network
def test_a_page_on_another_loopback_port_cannot_use_the_dashboards_cookie(chromium: Any) -> None:
    seen = Seen()
    port = free_port()
    emulator = make_app(port=port, control_token=TOKEN)
    with serving(recording(emulator, seen), port=port) as emulator_url:  # type: ignore[arg-type]

        async def page(_request: Any) -> HTMLResponse:
            return HTMLResponse(ATTACK.format(emulator=emulator_url))

        with serving(Starlette(routes=[Route("/", page)])) as attacker_url:
            context = chromium.new_context()
            dashboard = context.new_page()
            dashboard.goto(f"{emulator_url}/_emulator/ui?token={TOKEN}")
            dashboard.wait_for_selector("#connection:has-text('live')")
            attacker = context.new_page()
            attacker.goto(attacker_url)
            attacker.wait_for_function("document.title === 'done'", timeout=15000)
            attacks = [call for call in seen.calls if call[2] == attacker_url]
            # the page's requests reached the emulator, with the cookie, and were refused
            assert {(method, path) for method, path, *_ in attacks} >= {
                ("POST", "/_emulator/clock"),
                ("POST", "/_emulator/reset"),
            }
            assert any(cookie for *_, cookie, _ in attacks), attacks
            assert all(status == 403 for *_, status in attacks), attacks
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert httpx.get(f"{emulator_url}/_emulator/clock", headers=bearer).json() == {
                "now": NOW,
                "frozen": True,
            }
            # the dashboard's own buttons still work, with the same cookie
            dashboard.click("#advance-1m")
            dashboard.wait_for_selector("#now:has-text('09:31:00')")
            moved = httpx.get(f"{emulator_url}/_emulator/clock", headers=bearer).json()
            assert moved["now"] == "2026-03-02T09:31:00.125Z"
            own = ("POST", "/_emulator/clock", emulator_url, True, 200)
            assert own in seen.calls
            context.close()
