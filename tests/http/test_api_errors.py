"""Every bad input gets a 4xx with a JSON body that names the problem; never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

V1 = "/v1/meetings"
LONG = "2026-03-09T09:30:00.000Z"


def invalid(message: str, errors: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "name": "InputValidationError", "status": 400}
    if errors:
        body["errors"] = errors
    return body


CREATE_CASES: list[tuple[Any, dict[str, Any]]] = [
    ({}, invalid('"display_name" is required')),
    ([], invalid('"value" must be of type object')),
    ("room", invalid('"value" must be of type object')),
    ({"display_name": ""}, invalid('"display_name" is not allowed to be empty')),
    ({"display_name": 7}, invalid('"display_name" must be a string')),
    (
        {"display_name": "x" * 201},
        invalid('"display_name" length must be less than or equal to 200 characters long'),
    ),
    (
        {"display_name": "x", "metadata": "m" * 501},
        invalid('"metadata" length must be less than or equal to 500 characters long'),
    ),
    (
        {"display_name": "x", "type": "forever"},
        invalid('"type" must be one of [instant, long_term]'),
    ),
    (
        {"display_name": "x", "expires_at": LONG},
        invalid('"expires_at" is not allowed for an instant room'),
    ),
    (
        {"display_name": "x", "type": "long_term"},
        invalid('"expires_at" is required for a long_term room'),
    ),
    (
        {"display_name": "x", "type": "long_term", "expires_at": "next tuesday"},
        invalid('"expires_at" must be a valid date'),
    ),
    (
        {"display_name": "x", "type": "long_term", "expires_at": 1767225600000},  # 2026-01-01
        invalid(
            '"expires_at" must be greater than "2026-03-02T09:40:00.125Z"'
            " (more than 10 minutes from now)"
        ),
    ),
    (
        {"display_name": "x", "type": "long_term", "expires_at": {"at": "2026-05-01"}},
        invalid('"expires_at" must be a valid date'),
    ),
    (
        {"display_name": "x", "type": "long_term", "expires_at": "2026-03-02T09:40:00.125Z"},
        invalid(
            '"expires_at" must be greater than "2026-03-02T09:40:00.125Z"'
            " (more than 10 minutes from now)"
        ),
    ),
    (
        {"display_name": "x", "type": "long_term", "expires_at": "2031-03-02T09:30:00.126Z"},
        invalid(
            '"expires_at" must be less than or equal to "2031-03-02T09:30:00.125Z"'
            " (at most five years from now)"
        ),
    ),
    (
        {"display_name": "x", "recording_options": {"auto_record": "yes"}},
        invalid('"recording_options.auto_record" must be a boolean'),
    ),
    (
        {"display_name": "x", "recording_options": True},
        invalid('"recording_options" must be of type object'),
    ),
    ({"display_name": "x", "theme_id": "blue"}, invalid('"theme_id" must be a valid GUID')),
    (
        {"display_name": "x", "join_approval_level": "host"},
        invalid('"join_approval_level" must be one of [none, after_owner_only, explicit_approval]'),
    ),
    (
        {"display_name": "x", "initial_join_options": {"microphone_state": "loud"}},
        invalid('"initial_join_options.microphone_state" must be one of [on, off, default]'),
    ),
    (
        {"display_name": "x", "callback_urls": {"rooms_callback_url": "ftp://example.com"}},
        invalid(
            '"callback_urls.rooms_callback_url" with value "ftp://example.com" fails to match'
            " the required pattern: ^https?://.*$"
        ),
    ),
    (
        {"display_name": "x", "callback_urls": {"room_url": "https://example.com"}},
        invalid('"callback_urls.room_url" is not allowed'),
    ),
    (
        {"display_name": "x", "available_features": {"is_chat_available": 1}},
        invalid('"available_features.is_chat_available" must be a boolean'),
    ),
    (
        {"display_name": "x", "ui_settings": {"language": "klingon"}},
        invalid(
            '"ui_settings.language" must be one of [default, ar, ca, de, en, es, fr, he, it,'
            " pt, pt-br, zh-tw, zh-cn]"
        ),
    ),
    ({"display_name": "x", "colour": "red"}, invalid('"colour" is not allowed')),
    (
        {"display_name": None, "type": None},
        invalid(
            '"display_name" must be a string. "type" must be one of [instant, long_term]',
            ['"display_name" must be a string', '"type" must be one of [instant, long_term]'],
        ),
    ),
]


@pytest.mark.parametrize(("body", "expected"), CREATE_CASES)
def test_create_room_rejects(client: TestClient, body: Any, expected: dict[str, Any]) -> None:
    response = client.post(f"{V1}/rooms", json=body)
    assert (response.status_code, response.json()) == (400, expected)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert client.get(f"{V1}/rooms").json()["total_items"] == 0


@pytest.mark.parametrize(
    "raw", [b"{", b'{"display_name": "x",}', b"\xff\xfe", b'{"display_name": NaN}']
)
def test_malformed_json_is_400_naming_it(client: TestClient, raw: bytes) -> None:
    response = client.post(f"{V1}/rooms", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "BadRequestError"
    assert body["message"].startswith("Request body is not valid JSON: ")


def test_body_over_one_mebibyte_is_413(client: TestClient) -> None:
    body = json.dumps({"display_name": "x", "metadata": "m" * (1024 * 1024)})
    response = client.post(
        f"{V1}/rooms", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "message": "request entity too large: the limit is 1048576 bytes",
        "name": "PayloadTooLargeError",
        "status": 413,
    }


def test_body_over_the_limit_without_a_length_is_413(client: TestClient) -> None:
    chunks = (b"x" * 65536 for _ in range(17))
    response = client.post(f"{V1}/rooms", content=chunks)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"page_size": "ten"}, '"page_size" must be a number'),
        ({"page_size": "0"}, '"page_size" must be greater than or equal to 1'),
        ({"page_size": "1001"}, '"page_size" must be less than or equal to 1000'),
        ({"start_id": "-1"}, '"start_id" must be greater than or equal to 0'),
        ({"end_id": "1e3"}, '"end_id" must be a number'),
    ],
)
def test_listing_rejects_bad_queries(
    client: TestClient, query: dict[str, str], message: str
) -> None:
    response = client.get(f"{V1}/rooms", params=query)
    assert (response.status_code, response.json()) == (400, invalid(message))


UPDATE_CASES: list[tuple[Any, dict[str, Any]]] = [
    ({}, invalid('"update_details" is required')),
    ({"update_details": []}, invalid('"update_details" must be of type object')),
    (
        {"update_details": {"display_name": "new"}},
        invalid('"update_details.display_name" is not allowed'),
    ),
    (
        {"update_details": {"expires_at": "soon"}},
        invalid('"update_details.expires_at" must be a valid date'),
    ),
    (
        {"update_details": {"expires_at": "2026-03-02T09:35:00.000Z"}},
        invalid(
            '"update_details.expires_at" must be greater than "2026-03-02T09:40:00.125Z"'
            " (more than 10 minutes from now)"
        ),
    ),
    (
        {"update_details": {"theme_id": 3}},
        invalid('"update_details.theme_id" must be a valid GUID'),
    ),
]


@pytest.mark.parametrize(("body", "expected"), UPDATE_CASES)
def test_update_room_rejects(client: TestClient, body: Any, expected: dict[str, Any]) -> None:
    created = client.post(
        f"{V1}/rooms", json={"display_name": "x", "type": "long_term", "expires_at": LONG}
    ).json()
    response = client.patch(f"{V1}/rooms/{created['id']}", json=body)
    assert (response.status_code, response.json()) == (400, expected)
    assert client.get(f"{V1}/rooms/{created['id']}").json() == created


def test_unknown_paths_and_methods(client: TestClient) -> None:
    missing = client.get(f"{V1}/meetings")
    assert (missing.status_code, missing.json()) == (
        404,
        {
            "message": "Not Found: GET /v1/meetings/meetings",
            "name": "NotFoundError",
            "status": 404,
        },
    )
    wrong = client.put(f"{V1}/rooms/abc", json={})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    assert wrong.json() == {
        "message": "Method PUT is not allowed on /v1/meetings/rooms/abc",
        "name": "MethodNotAllowedError",
        "status": 405,
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
create_keys = st.sampled_from(
    [
        "display_name",
        "metadata",
        "type",
        "expires_at",
        "expire_after_use",
        "recording_options",
        "theme_id",
        "join_approval_level",
        "initial_join_options",
        "callback_urls",
        "available_features",
        "ui_settings",
    ]
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(create_keys, json_values, max_size=6) | json_values)
def test_any_json_body_gets_201_or_a_named_400(client: TestClient, body: Any) -> None:
    response = client.post(f"{V1}/rooms", json=body)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        error = response.json()
        assert error["status"] == 400
        assert error["name"] in ("InputValidationError", "BadRequestError")
        assert error["message"].startswith('"')


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.just("update_details"), json_values) | json_values)
def test_any_json_update_gets_200_or_a_named_4xx(client: TestClient, body: Any) -> None:
    room = client.post(
        f"{V1}/rooms", json={"display_name": "x", "type": "long_term", "expires_at": LONG}
    ).json()
    response = client.patch(f"{V1}/rooms/{room['id']}", json=body)
    assert response.status_code in (200, 400), response.text
    assert set(response.json()) >= ({"id"} if response.status_code == 200 else {"message", "name"})


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_dates_off_the_calendar_are_invalid_not_a_crash(
    client: TestClient, expires_at: str
) -> None:
    body = {"display_name": "x", "type": "long_term", "expires_at": expires_at}
    response = client.post(f"{V1}/rooms", json=body)
    assert (response.status_code, response.json()) == (
        400,
        invalid('"expires_at" must be a valid date'),
    )
    moved = client.post("/_emulator/clock", json={"now": expires_at})
    assert (moved.status_code, moved.json()) == (400, invalid('"now" must be a valid date'))


@pytest.mark.parametrize(
    "raw", [b'{"display_name": "\\ud800"}', b'{"display_name": "x", "\\uDC00": 1}']
)
def test_lone_surrogates_are_refused_and_nothing_is_stored(client: TestClient, raw: bytes) -> None:
    response = client.post(f"{V1}/rooms", content=raw)
    assert response.status_code == 400
    assert response.json() == {
        "message": "Request body is not valid JSON: a string holds an unpaired surrogate escape",
        "name": "BadRequestError",
        "status": 400,
    }
    assert client.get(f"{V1}/rooms").json()["total_items"] == 0


def test_paired_surrogate_escapes_are_ordinary_text(client: TestClient) -> None:
    response = client.post(f"{V1}/rooms", content=b'{"display_name": "party \\ud83c\\udf89"}')
    assert response.status_code == 201
    assert response.json()["display_name"] == "party \U0001f389"


def test_deeply_nested_json_is_400(client: TestClient) -> None:
    response = client.post(f"{V1}/rooms", content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert response.json()["message"] == "Request body is not valid JSON: it is nested too deeply"


def test_the_clock_stops_short_of_the_end_of_the_calendar(client: TestClient) -> None:
    far = client.post("/_emulator/clock", json={"now": "8999-12-31T23:00:00Z"})
    assert far.status_code == 200
    beyond = client.post("/_emulator/clock", json={"advance_seconds": 7200})
    assert (beyond.status_code, beyond.json()) == (
        400,
        invalid('"advance_seconds" is refused: the clock cannot pass 9000-01-01'),
    )
    room = client.post(
        f"{V1}/rooms",
        json={"display_name": "x", "type": "long_term", "expires_at": "9004-06-01T00:00:00Z"},
    )
    assert room.status_code == 201
    assert client.post(f"{V1}/rooms", json={"display_name": "x"}).status_code == 201


def test_a_refused_clock_move_changes_nothing(client: TestClient) -> None:
    client.post("/_emulator/clock", json={"frozen": False})
    refused = client.post("/_emulator/clock", json={"now": "2020-01-01T00:00:00Z", "frozen": True})
    assert refused.status_code == 400
    assert client.get("/_emulator/clock").json()["frozen"] is False
