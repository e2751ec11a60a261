"""API calls are found without the app's router: the same handler, for every path and method."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.errors import MethodNotAllowedError
from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.api import PREFIXES, RESOURCES
from meetings_emulator.http.routing import Endpoint, MethodTable

from ..conftest import BASIC, app_emulator

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SEGMENTS = st.sampled_from(
    [
        "rooms",
        "themes",
        "recordings",
        "sessions",
        "logos-upload-urls",
        "finalizeLogos",
        "applications",
        "dial-in-numbers",
        "abc",
        "9f4b6c1e-0d5a-4f3e-8f1a-2b7c9d0e1f23",
        "",
    ]
)


# Only its routes are read.
ROUTED = create_app(Settings(seed=1))


async def _unused(scope: object, receive: object, send: object) -> None:
    raise AssertionError("a path the table finds never falls back")


Found = Endpoint | None | type[MethodNotAllowedError]


def routed_by_starlette(app: Starlette, path: str, method: str) -> Found:
    """The handler the app's router calls for `path` and `method` (None: 404 or 405 from the
    router; `MethodNotAllowedError`: a fixed path's own 405)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route in app.router.routes:
        assert isinstance(route, Route)
        match, child = route.matches(scope)
        if match is Match.FULL:
            handlers = child["endpoint"].handlers
            return handlers.get("GET" if method == "HEAD" else method, MethodNotAllowedError)
    return None


def found_by_table(table: MethodTable, path: str, method: str) -> Found:
    try:
        found = table.find(path, method)
    except MethodNotAllowedError:
        return MethodNotAllowedError
    return found[0] if found else None


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from([*PREFIXES, "/v2/meetings"]),
    segments=st.lists(SEGMENTS, min_size=1, max_size=4),
    method=st.sampled_from(METHODS),
)
def test_the_table_finds_what_the_router_routes(
    prefix: str, segments: list[str], method: str
) -> None:
    path = prefix + "/" + "/".join(segments)
    table = MethodTable(PREFIXES, RESOURCES, _unused)
    assert found_by_table(table, path, method) is routed_by_starlette(ROUTED, path, method)


def test_path_parameters_are_those_the_router_gives() -> None:
    table = MethodTable(PREFIXES, RESOURCES, _unused)
    found = table.find("/beta/meetings/themes/t-1/rooms", "GET")
    assert found == (RESOURCES["/themes/{theme_id}/rooms"]["GET"], {"theme_id": "t-1"})
    assert table.find("/beta/meetings/themes/logos-upload-urls", "GET") == (
        RESOURCES["/themes/logos-upload-urls"]["GET"],
        {},
    )


@pytest.mark.parametrize("raise_server_exceptions", [False, True])
def test_an_unexpected_failure_answers_500_and_reaches_the_server(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, raise_server_exceptions: bool
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(app_emulator(app).rooms, "get", broken)
    with TestClient(
        app, headers={"Authorization": BASIC}, raise_server_exceptions=raise_server_exceptions
    ) as client:
        if raise_server_exceptions:
            with pytest.raises(RuntimeError, match="broken on purpose"):
                client.get("/v1/meetings/rooms/abc")
            return
        answer = client.get("/v1/meetings/rooms/abc")
        journal = client.get("/_emulator/requests").json()
    assert (answer.status_code, answer.json()) == (
        500,
        {
            "message": "The emulator failed to handle this request",
            "name": "InternalServerError",
            "status": 500,
        },
    )
    assert journal["requests"][-1]["status"] == 500
    assert journal["requests"][-1]["error"] == "RuntimeError"
