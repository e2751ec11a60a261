"""The signing profiles against the libraries receivers verify them with, for any body: the
official SDK's `vonage_jwt.verify_jwt.verify_signature` and `standardwebhooks.Webhook`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from vonage_jwt.errors import VonageVerifyJwtError
from vonage_jwt.verify_jwt import verify_signature

from meetings_emulator.domain.outbox import CallbackConfig
from meetings_emulator.domain.signing import (
    Signing,
    profile_of,
    secret_problem,
    sign,
    standard_key,
)

bodies = st.binary(max_size=2048)
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)
# PyJWT warns of HMAC keys under 32 bytes (InsecureKeyLengthWarning): long enough not to.
long_texts = st.text(st.characters(codec="utf-8"), min_size=32, max_size=64)
keys = st.binary(min_size=1, max_size=64)


def now() -> datetime:
    """Real time, second-exact: the libraries measure their tolerance against it."""
    return datetime.now(UTC).replace(microsecond=0)


@given(body=bodies, secret=long_texts)
def test_a_vonage_token_verifies_with_the_sdk(body: bytes, secret: str) -> None:
    callback_id, at = str(uuid.uuid4()), now()
    headers = sign(Signing.VONAGE, secret, callback_id, at, body)
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert verify_signature(token, secret) is True
    assert verify_signature(token, secret + "x") is False
    assert jwt.decode(token, secret, algorithms=["HS256"]) == {
        "iat": int(at.timestamp()),
        "jti": callback_id,
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
    }


def test_a_short_vonage_secret_is_refused_by_the_sdk_where_warnings_are_errors() -> None:
    """PyJWT warns of a key under 32 bytes; where warnings are errors (this suite's pytest
    configuration), the SDK's `verify_signature` turns that into its own error."""
    token = sign(Signing.VONAGE, "s3cret", "id", now(), b"{}")["Authorization"][7:]
    with pytest.raises(VonageVerifyJwtError, match="InsecureKeyLengthWarning"):
        verify_signature(token, "s3cret")


@given(body=bodies, key=keys)
def test_a_standard_signature_verifies_with_the_library(body: bytes, key: bytes) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    callback_id, at = str(uuid.uuid4()), now()
    headers = sign(Signing.STANDARD, secret, callback_id, at, body)
    assert headers["webhook-id"] == callback_id
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(body + b" ", headers, json_parse=False)


@given(body=bodies, secret=texts)
def test_the_hmac_signature_is_the_hex_hmac_of_the_body(body: bytes, secret: str) -> None:
    headers = sign(Signing.HMAC, secret, "id", now(), body)
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers == {"X-Meetings-Signature": f"sha256={digest}"}


@given(key=keys, padded=st.booleans())
def test_a_whsec_secret_is_read_as_the_library_reads_it(key: bytes, padded: bool) -> None:
    encoded = base64.b64encode(key).decode()
    secret = "whsec_" + (encoded if padded else encoded.rstrip("="))
    assert secret_problem(Signing.STANDARD, secret) is None
    assert standard_key(secret) == key == Webhook(secret)._whsecret


@pytest.mark.parametrize(
    "secret",
    ["s3cret", "whsec_", "whsec_not base64!", "whsec_abcde", "WHSEC_c2VjcmV0", "c2VjcmV0"],
)
def test_a_standard_secret_must_be_whsec_and_base64(secret: str) -> None:
    assert secret_problem(Signing.STANDARD, secret) == (
        "must be whsec_ and then base64 (a Standard Webhooks secret) to sign callbacks with"
        " the standard profile"
    )
    assert secret_problem(Signing.HMAC, secret) is None
    assert secret_problem(Signing.VONAGE, secret) is None


@pytest.mark.parametrize(
    ("chosen", "secret", "profile"),
    [
        (None, None, Signing.NONE),
        (None, "s3cret", Signing.HMAC),
        ("none", "s3cret", Signing.NONE),
        ("vonage", "s3cret", Signing.VONAGE),
    ],
)
def test_with_no_profile_chosen_a_secret_means_hmac(
    chosen: str | None, secret: str | None, profile: Signing
) -> None:
    assert profile_of(chosen, secret) is profile
    assert CallbackConfig(secret=secret, signing=chosen).profile is profile


def test_none_sends_no_signature_even_with_a_secret() -> None:
    assert sign(Signing.NONE, "s3cret", "id", now(), b"{}") == {}


@pytest.mark.parametrize(
    ("signing", "secret", "message"),
    [
        ("hmac", None, "the callback secret is needed to sign callbacks with the hmac profile"),
        ("vonage", None, "the callback secret is needed to sign callbacks with the vonage profile"),
        ("standard", "s3cret", "the callback secret must be whsec_ and then base64"),
        ("jwt", "s3cret", "'jwt' is not a valid Signing"),
    ],
)
def test_a_callback_configuration_that_cannot_sign_is_refused(
    signing: str, secret: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CallbackConfig(secret=secret, signing=signing)
