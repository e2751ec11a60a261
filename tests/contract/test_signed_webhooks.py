"""Callbacks signed in each profile, as a receiver gets them and as the delivery log shows
them, against the emulator's OpenAPI document (its `webhooks` and the log's schema)."""

from __future__ import annotations

import base64
import threading
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from .test_openapi import AUTH, SEED, START, load_document, webhook_validators

PROFILES = [
    ("none", None, set()),
    ("hmac", "s3cret", {"x-meetings-signature"}),
    ("vonage", "s3cret", {"authorization"}),
    (
        "standard",
        "whsec_" + base64.b64encode(b"k" * 24).decode(),
        {"webhook-id", "webhook-timestamp", "webhook-signature"},
    ),
]


@pytest.mark.parametrize(("signing", "secret", "signed_with"), PROFILES)
def test_signed_callbacks_match_the_document(
    signing: str, secret: str | None, signed_with: set[str]
) -> None:
    received: list[httpx.Request] = []
    lock = threading.Lock()

    def receiver(request: httpx.Request) -> httpx.Response:
        with lock:
            received.append(request)
        return httpx.Response(204)

    settings = Settings(
        callback_url="http://receiver.test/cb", callback_secret=secret, callback_signing=signing
    )
    transport = httpx.MockTransport(receiver)
    app = create_app(settings, clock=Clock.frozen_at(START), ids=Ids(SEED), transport=transport)
    with TestClient(app, headers=AUTH) as client:
        room = client.post("/v1/meetings/rooms", json={"display_name": "x"}).json()
        client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Grace"})
        assert client.post("/_emulator/callbacks/flush", json={"timeout": 10}).json()["idle"]
        log = client.get("/_emulator/callbacks").json()
    document = load_document()
    validators = webhook_validators(document)
    every = {"x-meetings-signature", "authorization", "webhook-id", "webhook-timestamp"}
    assert len(received) == 2
    for request in received:
        headers = dict(request.headers)
        _body, headers_validator = validators[headers["x-meetings-event"]]
        assert [e.message for e in headers_validator.iter_errors(headers)] == [], headers
        assert (every | {"webhook-signature"}) & set(headers) == signed_with
    entry_schema: dict[str, Any] = {
        "$ref": "#/components/schemas/Delivery",
        "components": document["components"],
    }
    validator = jsonschema_rs.validator_for(entry_schema, validate_formats=True)
    for entry in log["deliveries"]:
        assert [e.message for e in validator.iter_errors(entry)] == [], entry
