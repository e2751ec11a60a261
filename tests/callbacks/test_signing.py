"""Signed callbacks as a real receiver gets them over loopback, checked with the libraries a
receiver already has: the official SDK's `verify_signature` (vonage) and `standardwebhooks`
(standard). The emulator's clock is frozen at the real time, second-exact, where a library
measures its tolerance against the wall clock; a moved clock is shown apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.testclient import TestClient
from vonage_jwt.errors import VonageVerifyJwtError
from vonage_jwt.verify_jwt import verify_signature

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, Received, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, serving
from .conftest import Receiver

pytestmark = pytest.mark.network

V1 = "/v1/meetings"
HMAC_SECRET = "s3cret"
# At least 32 bytes: PyJWT warns of shorter HMAC keys, and this suite makes warnings errors.
VONAGE_SECRET = "a-vonage-signature-secret-of-40-bytes..."
STANDARD_SECRET = "whsec_" + base64.b64encode(b"a standard webhooks key, 32 bytes").decode()
SIGNATURE_HEADERS = (
    "x-meetings-signature",
    "authorization",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)


def real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@contextmanager
def emulator(receiver: Receiver, start: datetime, **settings: Any) -> Iterator[TestClient]:
    app = create_app(
        Settings(callback_url=receiver.url + "/callbacks", **settings),
        clock=Clock.frozen_at(start),
        ids=Ids(7),
        run_timers=False,
    )
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        yield client


def meet(client: TestClient) -> str:
    """A room with one person in it: `session:started` and `session:participant:joined`."""
    room = client.post(f"{V1}/rooms", json={"display_name": "signed"}).json()
    client.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": "Avital"})
    return str(room["id"])


def flush(client: TestClient) -> None:
    assert client.post("/_emulator/callbacks/flush", json={"timeout": 10}).json()["idle"] is True


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock", json={"advance_seconds": seconds}).status_code == 200


def logged(client: TestClient) -> dict[str, dict[str, str]]:
    """The delivery log's headers, by callback id."""
    deliveries = client.get("/_emulator/callbacks").json()["deliveries"]
    return {entry["id"]: entry["headers"] for entry in deliveries}


def bearer(item: Received) -> str:
    scheme, _, token = item.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


@pytest.mark.parametrize(("signing", "secret"), [(None, None), ("none", HMAC_SECRET)])
def test_none_sends_no_signature(receiver: Receiver, signing: str | None, secret: str) -> None:
    with emulator(receiver, real_now(), callback_signing=signing, callback_secret=secret) as client:
        assert client.get("/_emulator/callbacks/config").json()["signing"] == "none"
        meet(client)
        flush(client)
        log = logged(client)
    assert receiver.inbox.events == ["session:started", "session:participant:joined"]
    for item in receiver.inbox.received:
        assert not set(SIGNATURE_HEADERS) & set(item.headers)
        assert not {"X-Meetings-Signature", "Authorization"} & set(log[item_id(item)])


def item_id(item: Received) -> str:
    return item.headers["x-meetings-event-id"]


@pytest.mark.parametrize("signing", [None, "hmac"])
def test_hmac_is_the_hex_hmac_of_the_body_received(receiver: Receiver, signing: str | None) -> None:
    with emulator(receiver, real_now(), callback_signing=signing, callback_secret=HMAC_SECRET) as c:
        assert c.get("/_emulator/callbacks/config").json()["signing"] == "hmac"
        meet(c)
        flush(c)
        log = logged(c)
    assert len(receiver.inbox.received) == 2
    for item in receiver.inbox.received:
        digest = hmac.new(HMAC_SECRET.encode(), item.body, hashlib.sha256).hexdigest()
        assert item.headers["x-meetings-signature"] == f"sha256={digest}"
        assert not {"authorization", "webhook-signature"} & set(item.headers)
        assert log[item_id(item)]["X-Meetings-Signature"] == f"sha256={digest}"


def test_vonage_verifies_with_the_official_sdk(receiver: Receiver) -> None:
    start = real_now()
    with emulator(
        receiver, start, callback_signing="vonage", callback_secret=VONAGE_SECRET
    ) as client:
        meet(client)
        flush(client)
        log = logged(client)
    assert len(receiver.inbox.received) == 2
    for item in receiver.inbox.received:
        token = bearer(item)
        assert verify_signature(token, VONAGE_SECRET) is True
        assert verify_signature(token, VONAGE_SECRET.upper()) is False
        claims = jwt.decode(token, VONAGE_SECRET, algorithms=["HS256"])
        assert claims == {
            "iat": int(start.timestamp()),
            "jti": item_id(item),
            "iss": "Vonage",
            "payload_hash": hashlib.sha256(item.body).hexdigest(),  # as Vonage's docs check it
        }
        assert "x-meetings-signature" not in item.headers
        assert log[item_id(item)]["Authorization"] == item.headers["authorization"]


def test_standard_verifies_with_the_standard_webhooks_library(receiver: Receiver) -> None:
    start = real_now()
    with emulator(
        receiver, start, callback_signing="standard", callback_secret=STANDARD_SECRET
    ) as client:
        meet(client)
        flush(client)
        log = logged(client)
    assert len(receiver.inbox.received) == 2
    for item in receiver.inbox.received:
        assert Webhook(STANDARD_SECRET).verify(item.body, item.headers) == item.payload
        forged = item.body.replace(b"{", b'{"forged":true,', 1)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(STANDARD_SECRET).verify(forged, item.headers)
        other = "whsec_" + base64.b64encode(b"another key").decode()
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(other).verify(item.body, item.headers)
        assert item.headers["webhook-id"] == item_id(item)
        assert item.headers["webhook-timestamp"] == str(int(start.timestamp()))
        shown = log[item_id(item)]
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            assert shown[name] == item.headers[name]


@pytest.mark.parametrize(
    ("signing", "secret"), [("vonage", VONAGE_SECRET), ("standard", STANDARD_SECRET)]
)
def test_a_retry_keeps_its_id_and_is_signed_at_its_own_time(
    receiver: Receiver, signing: str, secret: str
) -> None:
    # A little in the past, so that the retry, 2 s later, is not ahead of the wall clock.
    start = real_now() - timedelta(seconds=10)
    receiver.answers = [503]
    with emulator(receiver, start, callback_signing=signing, callback_secret=secret) as client:
        meet(client)
        flush(client)
        advance(client, 2)  # the retry is due within the base delay, 1 s
        flush(client)
        [entry] = client.get("/_emulator/callbacks", params={"event": "session:started"}).json()[
            "deliveries"
        ]
    first, again, _joined = receiver.inbox.received
    assert first.body == again.body
    assert [a["status_code"] for a in entry["attempts"]] == [503, 204]
    times = [int(start.timestamp()), int(start.timestamp()) + 2]
    if signing == "vonage":
        claims = [jwt.decode(bearer(item), secret, algorithms=["HS256"]) for item in (first, again)]
        assert [c["jti"] for c in claims] == [entry["id"], entry["id"]]
        assert [c["iat"] for c in claims] == times
        assert all(verify_signature(bearer(item), secret) for item in (first, again))
    else:
        assert [item.headers["webhook-id"] for item in (first, again)] == [entry["id"]] * 2
        assert [item.headers["webhook-timestamp"] for item in (first, again)] == [
            str(t) for t in times
        ]
        for item in (first, again):
            Webhook(secret).verify(item.body, item.headers)
    name = signature_name(signing)
    assert entry["headers"][name] == again.headers[name.lower()]  # the log shows the latest


def signature_name(signing: str) -> str:
    return "Authorization" if signing == "vonage" else "webhook-signature"


def test_a_redelivery_keeps_its_id_and_carries_the_time_it_was_sent(receiver: Receiver) -> None:
    start = real_now()
    with emulator(
        receiver, start, callback_signing="standard", callback_secret=STANDARD_SECRET
    ) as client:
        meet(client)
        flush(client)
        sent = receiver.inbox.received[0]
        advance(client, 60)
        redelivered = client.post(f"/_emulator/callbacks/{item_id(sent)}/redeliver")
        assert redelivered.status_code == 202
        flush(client)
    again = receiver.inbox.received[-1]
    assert again.headers["webhook-id"] == sent.headers["webhook-id"] == item_id(sent)
    assert again.headers["webhook-timestamp"] == str(int(start.timestamp()) + 60)
    Webhook(STANDARD_SECRET).verify(again.body, again.headers)


def test_timestamps_are_emulator_time_even_when_libraries_refuse_them(
    receiver: Receiver,
) -> None:
    """A clock moved a day ahead stamps callbacks a day ahead: the libraries, which compare
    with the wall clock, refuse them as too new, while their signatures are good."""
    start = real_now()
    with emulator(
        receiver, start, callback_signing="standard", callback_secret=STANDARD_SECRET
    ) as client:
        advance(client, 86_400)
        meet(client)
        flush(client)
        client.put(
            "/_emulator/callbacks/config", json={"signing": "vonage", "secret": VONAGE_SECRET}
        )
        meet(client)
        flush(client)
    later = int((start + timedelta(days=1)).timestamp())
    standard, _, vonage, _ = receiver.inbox.received
    assert standard.headers["webhook-timestamp"] == str(later)
    with pytest.raises(WebhookVerificationError, match="Message timestamp too new"):
        Webhook(STANDARD_SECRET).verify(standard.body, standard.headers)
    claims = jwt.decode(
        bearer(vonage), VONAGE_SECRET, algorithms=["HS256"], options={"verify_iat": False}
    )
    assert claims["iat"] == later
    with pytest.raises(VonageVerifyJwtError, match="not yet valid"):
        verify_signature(bearer(vonage), VONAGE_SECRET)


def test_the_profile_changes_at_run_time(receiver: Receiver) -> None:
    with emulator(receiver, real_now(), callback_secret=HMAC_SECRET) as client:
        changed = client.put(
            "/_emulator/callbacks/config",
            json={"signing": "standard", "secret": STANDARD_SECRET},
        ).json()
        assert (changed["signing"], changed["secret_set"]) == ("standard", True)
        meet(client)
        flush(client)
        back = client.put("/_emulator/callbacks/config", json={"signing": None, "secret": None})
        assert back.json()["signing"] == "none"
        assert client.get("/_emulator/callbacks/config").json() == back.json()
    for item in receiver.inbox.received:
        Webhook(STANDARD_SECRET).verify(item.body, item.headers)
        assert "x-meetings-signature" not in item.headers


@pytest.mark.parametrize(
    ("start", "change", "message"),
    [
        ({}, {"signing": "jwt"}, '"signing" must be one of [none, hmac, vonage, standard]'),
        ({}, {"signing": 1}, '"signing" must be one of [none, hmac, vonage, standard]'),
        (
            {},
            {"signing": "vonage"},
            '"secret" is needed to sign callbacks with the vonage profile',
        ),
        (
            {"callback_secret": HMAC_SECRET},
            {"signing": "standard"},
            '"secret" must be whsec_ and then base64 (a Standard Webhooks secret) to sign'
            " callbacks with the standard profile",
        ),
        (
            {"callback_secret": STANDARD_SECRET, "callback_signing": "standard"},
            {"secret": "whsec_not base64"},
            '"secret" must be whsec_ and then base64 (a Standard Webhooks secret) to sign'
            " callbacks with the standard profile",
        ),
        (
            {"callback_secret": HMAC_SECRET, "callback_signing": "hmac"},
            {"secret": None},
            '"secret" is needed to sign callbacks with the hmac profile',
        ),
    ],
)
def test_a_change_that_cannot_sign_is_refused(
    receiver: Receiver, start: dict[str, str], change: dict[str, Any], message: str
) -> None:
    with emulator(receiver, real_now(), **start) as client:
        before = client.get("/_emulator/callbacks/config").json()
        answer = client.put("/_emulator/callbacks/config", json=change)
        assert (answer.status_code, answer.json()) == (
            400,
            {"message": message, "name": "InputValidationError", "status": 400},
        )
        assert client.get("/_emulator/callbacks/config").json() == before


@pytest.mark.parametrize(
    ("signing", "secret"),
    [("hmac", HMAC_SECRET), ("vonage", VONAGE_SECRET), ("standard", STANDARD_SECRET)],
)
@pytest.mark.parametrize("right", [True, False])
def test_the_receiver_command_checks_every_profile(signing: str, secret: str, right: bool) -> None:
    """`meetings-emulator receiver --secret` says whether each signature is good, whatever
    the profile, on a clock moved a day ahead (it checks no time)."""
    out, inbox = io.StringIO(), Inbox()
    checked_with = secret if right else "whsec_" + base64.b64encode(b"not the key").decode()
    app = create_receiver(out, inbox=inbox, secret=checked_with)
    with serving(app) as url:
        target = Receiver(url, inbox)
        with emulator(target, real_now(), callback_signing=signing, callback_secret=secret) as c:
            advance(c, 86_400)
            meet(c)
            flush(c)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    mark = "  [signature ok]" if right else "  [BAD SIGNATURE]"
    assert all(line.endswith(mark) for line in lines), lines
