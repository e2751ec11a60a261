"""The pages and the state stream of a tenant, without a browser: `?tenant=NAME` on the
dashboard, its assets and its stream, and a 404 for a tenant that does not exist."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from meetings_emulator.ui import event_stream
from meetings_emulator.ui.pages import PAGE_HEADERS

from ..conftest import BASIC, make_app
from .test_dashboard import Stream

ROOMS = "/v1/meetings/rooms"
NO_SUCH_TENANT = {"message": "No tenant named nope", "name": "NotFoundError", "status": 404}


@pytest.fixture(autouse=True)
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep-alive comments often, so a reader waiting for a snapshot can keep its deadline."""
    monkeypatch.setattr(event_stream, "KEEPALIVE_SECONDS", 0.2)


@pytest.fixture
def app() -> Starlette:
    return make_app(local_links=True)


def basic(tenant: dict[str, Any]) -> dict[str, str]:
    pair = f"{tenant['api_key']}:{tenant['api_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@pytest.fixture
def alpha(client: TestClient) -> dict[str, Any]:
    """Tenant alpha with a room of its own, beside a room of the default tenant."""
    made = client.post("/_emulator/tenants", json={"name": "alpha", "frozen": True})
    assert made.status_code == 201, made.text
    tenant: dict[str, Any] = made.json()
    room = client.post(ROOMS, json={"display_name": "Alpha room"}, headers=basic(tenant))
    assert room.status_code == 201, room.text
    tenant["room"] = room.json()
    shared = client.post(ROOMS, json={"display_name": "Shared room"})
    assert shared.status_code == 201, shared.text
    return tenant


class Body(HTMLParser):
    """The page's `<body>` data attributes, its scripts and the tenant selector's options."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str | None] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.options: list[tuple[str | None, bool]] = []
        self.labelled: set[str | None] = set()  # what each <label for=...> names
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body":
            self.data = {k: v for k, v in found.items() if k.startswith("data-")}
        elif tag == "script":
            self.scripts.append(found)
        elif tag == "select":
            self._select = found.get("id")
        elif tag == "option" and self._select == "tenant":
            self.options.append((found.get("value"), "selected" in found))
        elif tag == "label":
            self.labelled.add(found.get("for"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def parsed(text: str) -> Body:
    body = Body()
    body.feed(text)
    return body


def test_the_dashboard_of_a_tenant_names_it_and_keeps_the_page_headers(
    client: TestClient, alpha: dict[str, Any]
) -> None:
    for query, tenant, options in (
        ("", "default", [("default", False)]),
        ("?tenant=default", "default", [("default", False)]),
        ("?tenant=alpha", "alpha", [("default", False), ("alpha", True)]),
    ):
        page = client.get("/_emulator/ui" + query)
        assert page.status_code == 200, query
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        for name, value in PAGE_HEADERS.items():
            assert page.headers[name] == value, (query, name)
        body = parsed(page.text)
        assert body.data == {"data-tenant": tenant}
        assert body.options == options
        assert "tenant" in body.labelled  # the selector has a label
        # Scripts come from the emulator's files only: the policy allows no inline script.
        assert body.scripts == [{"type": "module", "src": "/_emulator/static/dashboard.js"}]
        assert re.findall(r"<script\b[^>]*>([^<]*)</script>", page.text) == [""]


@pytest.mark.parametrize(
    "path", ["/_emulator/ui", "/_emulator/static/dashboard.js", "/_emulator/events"]
)
def test_an_unknown_tenant_is_a_404(client: TestClient, alpha: dict[str, Any], path: str) -> None:
    answer = client.get(path, params={"tenant": "nope"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json() == NO_SUCH_TENANT


def test_the_assets_are_the_same_for_every_tenant(
    client: TestClient, alpha: dict[str, Any]
) -> None:
    for name in ("dashboard.js", "tenants.js", "dom.js", "emulator.css"):
        shared = client.get(f"/_emulator/static/{name}")
        own = client.get(f"/_emulator/static/{name}", params={"tenant": "alpha"})
        assert shared.status_code == own.status_code == 200, name
        assert own.content == shared.content, name


def room_names(snapshot: dict[str, Any]) -> list[str]:
    return [room["display_name"] for room in snapshot["rooms"]]


def test_the_stream_of_a_tenant_shows_its_world_alone(
    client: TestClient, alpha: dict[str, Any]
) -> None:
    with (
        client.stream("GET", "/_emulator/events", params={"tenant": "alpha"}) as own,
        client.stream("GET", "/_emulator/events") as shared,
    ):
        assert own.status_code == shared.status_code == 200
        assert own.headers["content-type"].startswith("text/event-stream")
        mine, everyone = Stream(own.iter_lines()), Stream(shared.iter_lines())
        first = mine.next()
        assert first["tenant"] == "alpha"
        assert room_names(first) == ["Alpha room"]
        assert first["emulator"]["credentials_required"] is True
        default_first = everyone.next()
        assert default_first["tenant"] == "default"
        assert room_names(default_first) == ["Shared room"]

        # Alpha's clock moves: alpha's stream shows it, the default's does not change.
        moved = client.post(
            "/_emulator/clock", params={"tenant": "alpha"}, json={"advance_seconds": 600}
        )
        assert moved.status_code == 200
        second = mine.next()
        assert second["now"] == "2026-03-02T09:40:00.125Z"
        assert second["rooms"][0]["is_available"] is False  # unused for 10 minutes
        with pytest.raises(AssertionError, match="no 'state' event"):
            everyone.next(timeout=0.6)
        assert client.get("/_emulator/clock").json()["now"] == "2026-03-02T09:30:00.125Z"


def test_the_stream_narrowed_to_a_tenants_room(client: TestClient, alpha: dict[str, Any]) -> None:
    room_id = alpha["room"]["id"]
    query = {"tenant": "alpha", "room_id": room_id}
    with client.stream("GET", "/_emulator/events", params=query) as response:
        assert response.status_code == 200
        snapshot = Stream(response.iter_lines()).next()
        assert snapshot["room_id"] == room_id
        assert room_names(snapshot) == ["Alpha room"]
    # The default tenant has no such room.
    elsewhere = client.get("/_emulator/events", params={"room_id": room_id})
    assert elsewhere.status_code == 404


def test_dropping_a_tenant_ends_its_streams(
    client: TestClient, app: Starlette, alpha: dict[str, Any]
) -> None:
    with client.stream("GET", "/_emulator/events", params={"tenant": "alpha"}) as response:
        lines = response.iter_lines()
        stream = Stream(lines)
        assert room_names(stream.next()) == ["Alpha room"]
        assert client.delete("/_emulator/tenants/alpha").status_code == 204
        assert stream.next("closing") == {"reason": "tenant dropped", "tenant": "alpha"}
        assert list(lines) == []  # the stream has ended
    assert client.get("/_emulator/events", params={"tenant": "alpha"}).status_code == 404

    # A new tenant of the same name is a new world: its stream shows it, not the old one.
    assert client.post("/_emulator/tenants", json={"name": "alpha"}).status_code == 201
    with client.stream("GET", "/_emulator/events", params={"tenant": "alpha"}) as response:
        assert room_names(Stream(response.iter_lines()).next()) == []
    assert set(app.state.dashboard_tenant_hubs) == {"alpha"}


def test_a_rooms_meeting_page_names_the_tenant_that_holds_it(
    client: TestClient, alpha: dict[str, Any]
) -> None:
    default_room = client.get(ROOMS, headers={"Authorization": BASIC}).json()["_embedded"][0]
    for room, tenant in ((alpha["room"], "alpha"), (default_room, "default")):
        page = client.get(f"/meet/{room['meeting_code']}")
        assert page.status_code == 200
        assert parsed(page.text).data["data-tenant"] == tenant
