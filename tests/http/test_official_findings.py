"""Answers schemathesis found wrong when it ran Vonage's definition with all of its checks
(`tests/contract/test_official_contract.py`), as they are now."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

V1 = "/v1/meetings"
THEME = {"main_color": "#12f64e", "brand_text": "My Company"}


def invalid(message: str) -> dict[str, Any]:
    return {"message": message, "name": "InputValidationError", "status": 400}


@pytest.mark.parametrize(
    "value",
    ["9007199254740992", "180961361785455149842432", "-9007199254740992", "9" * 5000],
)
@pytest.mark.parametrize("name", ["start_id", "end_id", "page_size"])
def test_a_listing_refuses_integers_javascript_cannot_hold_as_joi_did(
    client: TestClient, name: str, value: str
) -> None:
    # An integer, as the official definition types these; beyond 2**53 - 1 Joi's `number()`
    # answered that it is not a safe number (it used to say "must be a number").
    response = client.get(f"{V1}/rooms", params={name: value})
    assert (response.status_code, response.json()) == (
        400,
        invalid(f'"{name}" must be a safe number'),
    )


def test_the_largest_safe_integer_is_still_a_serial(client: TestClient) -> None:
    response = client.get(f"{V1}/rooms", params={"start_id": str(2**53 - 1)})
    assert response.status_code == 200
    assert response.json()["_embedded"] == []


@pytest.mark.parametrize("key", ["", {"key": ""}])
def test_an_empty_logo_key_is_called_empty_not_a_non_string(client: TestClient, key: Any) -> None:
    theme = client.post(f"{V1}/themes", json=THEME).json()
    response = client.put(f"{V1}/themes/{theme['theme_id']}/finalizeLogos", json={"keys": [key]})
    assert (response.status_code, response.json()) == (
        400,
        invalid('"keys[0]" is not allowed to be empty'),
    )
