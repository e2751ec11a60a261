"""Any JSON, in any field, at every endpoint that takes a body: a 2xx or a named 4xx in JSON.

Never a 5xx, never a traceback in a body. Each endpoint gets a valid body to start from;
hypothesis then replaces, adds or removes fields with arbitrary JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.models import JoinApprovalLevel, MicrophoneState, RoomType
from meetings_emulator.http.schemas import Checker

from ..conftest import BASIC, START

# The body fuzz corpus is part of the red-team suite too (`-m security`).
pytestmark = pytest.mark.security

V1 = "/v1/meetings"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The valid body with fields replaced, added or dropped, nested one level too."""
    keys = sorted(base)

    def nested_keys() -> list[tuple[str, str]]:
        return [(k, inner) for k in keys if isinstance(base[k], dict) for inner in base[k]]

    edits = st.one_of(
        st.tuples(st.just("set"), st.sampled_from(keys), json_values),
        st.tuples(st.just("add"), st.text(max_size=12), json_values),
        st.tuples(st.just("drop"), st.sampled_from(keys), st.none()),
        *(
            [st.tuples(st.just("nested"), st.sampled_from(nested_keys()), json_values)]
            if nested_keys()
            else []
        ),
    )

    def apply(changes: list[tuple[str, Any, Any]]) -> dict[str, Any]:
        body = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
        for kind, key, value in changes:
            if kind in ("set", "add"):
                body[key] = value
            elif kind == "drop":
                body.pop(key, None)
            elif isinstance(body.get(key[0]), dict):
                body[key[0]][key[1]] = value
        return body

    return st.lists(edits, min_size=1, max_size=3).map(apply) | json_values


class World:
    """An emulator with one of everything, so every endpoint has something to act on."""

    def __init__(self) -> None:
        app = create_app(
            clock=Clock.frozen_at(START),
            ids=Ids(2),
            transport=httpx.MockTransport(lambda _request: httpx.Response(204)),
            run_timers=False,
        )
        self.client = TestClient(app, headers={"Authorization": BASIC})
        self.client.__enter__()
        c = self.client
        self.theme = c.post(f"{V1}/themes", json={"main_color": "#abc", "brand_text": "T"}).json()
        self.room = c.post(
            f"{V1}/rooms",
            json={"display_name": "w", "type": "long_term", "expires_at": "2026-12-01T00:00:00Z"},
        ).json()
        self.host = c.post(
            f"/_emulator/rooms/{self.room['id']}/participants", json={"name": "H", "is_host": True}
        ).json()

    def close(self) -> None:
        self.client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def world() -> Any:
    made = World()
    yield made
    made.close()


Body = Callable[[World], dict[str, Any]]
ENDPOINTS: list[tuple[str, Callable[[World], str], Body]] = [
    (
        "POST",
        lambda w: f"{V1}/rooms",
        lambda w: {
            "display_name": "x",
            "type": "long_term",
            "expires_at": "2026-06-01T00:00:00Z",
            "recording_options": {"auto_record": False},
            "callback_urls": {"rooms_callback_url": "https://a.b"},
            "available_features": {"is_chat_available": True},
            "ui_settings": {"language": "en"},
            "initial_join_options": {"microphone_state": "on"},
        },
    ),
    (
        "PATCH",
        lambda w: f"{V1}/rooms/{w.room['id']}",
        lambda w: {
            "update_details": {"expire_after_use": True, "join_approval_level": "none"},
        },
    ),
    (
        "POST",
        lambda w: f"{V1}/themes",
        lambda w: {
            "main_color": "#123456",
            "brand_text": "B",
            "theme_name": "n",
            "short_company_url": "s-u",
        },
    ),
    (
        "PATCH",
        lambda w: f"{V1}/themes/{w.theme['theme_id']}",
        lambda w: {"update_details": {"brand_text": "C"}},
    ),
    (
        "PUT",
        lambda w: f"{V1}/themes/{w.theme['theme_id']}/finalizeLogos",
        lambda w: {"keys": ["k"]},
    ),
    (
        "PATCH",
        lambda w: f"{V1}/applications",
        lambda w: {
            "update_details": {"default_theme_id": w.theme["theme_id"]},
        },
    ),
    (
        "POST",
        lambda w: f"/_emulator/rooms/{w.room['id']}/participants",
        lambda w: {"name": "P", "is_host": False},
    ),
    (
        "POST",
        lambda w: f"/_emulator/sessions/{w.host['session_id']}/recordings",
        lambda w: {"participant_id": w.host["participant_id"]},
    ),
    ("POST", lambda w: "/_emulator/clock", lambda w: {"advance_seconds": 1}),
    (
        "PUT",
        lambda w: "/_emulator/callbacks/config",
        lambda w: {"url": "http://r.test/cb", "max_attempts": 3},
    ),
    ("POST", lambda w: "/_emulator/callbacks/flush", lambda w: {"timeout": 0}),
    (
        "PUT",
        lambda w: "/_emulator/snapshot",
        lambda w: {"format": "meetings-emulator-state", "version": 1},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "base"), ENDPOINTS, ids=[f"{m} {i}" for i, (m, _, _) in enumerate(ENDPOINTS)]
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_body_gets_a_json_answer_never_a_server_error(
    world: World, method: str, path: Callable[[World], str], base: Body, data: st.DataObject
) -> None:
    body = data.draw(mutated(base(world)))
    response = world.client.request(method, path(world), json=body)
    assert response.status_code < 500, (method, path(world), body, response.text)
    if response.status_code == 204:
        return
    assert response.headers["content-type"].startswith(("application/json", "text/plain"))
    if response.status_code >= 400:
        payload = response.json()
        assert {"message", "name", "status"} <= set(payload) or {"title", "detail"} == set(payload)
        assert "Traceback" not in response.text


@given(
    value=json_values
    | st.sampled_from(["instant", "long_term", "default", "on", "after_owner_only"]),
    enum=st.sampled_from([RoomType, JoinApprovalLevel, MicrophoneState]),
)
def test_an_enum_field_takes_exactly_the_values_the_enum_itself_takes(
    value: Any, enum: type[StrEnum]
) -> None:
    try:
        expected = enum(value)
    except (ValueError, TypeError):
        expected = None
    check = Checker()
    assert check.choice(value, "field", enum) is expected
    if expected is None:
        names = ", ".join(str(member) for member in enum)
        assert check.problems == [f'"field" must be one of [{names}]']
    else:
        assert check.problems == []
