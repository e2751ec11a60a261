"""How a callback shows that the emulator sent it: four signing profiles.

- `none`: no signature.
- `hmac`: `X-Meetings-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body with the
  secret. It does not depend on the time, so every attempt carries the same one.
- `vonage`: `Authorization: Bearer <JWT>`, as Vonage signs its webhooks: HS256 with the
  secret, claims `iat` (the attempt's time), `jti` (the callback's id), `iss: "Vonage"` and
  `payload_hash` (the hex SHA-256 of the raw body).
- `standard`: the Standard Webhooks scheme. `webhook-id` (the callback's id),
  `webhook-timestamp` (the attempt's time, whole seconds) and `webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the bytes the
  `whsec_<base64>` secret encodes.

Times are the emulator's. Each attempt is signed when it is sent, with the configuration
then in force: a retry or a redelivery keeps its id and carries the time of its own attempt,
as a provider's retries do, so a receiver's tolerance window is measured from the attempt,
not from the event. With no profile chosen, a secret means `hmac`, and none means `none`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

import orjson


class Signing(StrEnum):
    NONE = "none"
    HMAC = "hmac"
    VONAGE = "vonage"
    STANDARD = "standard"


PROFILES = tuple(str(profile) for profile in Signing)
SIGNATURE_HEADER = "X-Meetings-Signature"
AUTHORIZATION_HEADER = "Authorization"
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
# Every header a profile may add: what is taken away before an attempt is signed again.
SIGNATURE_HEADERS = frozenset(
    {
        SIGNATURE_HEADER,
        AUTHORIZATION_HEADER,
        WEBHOOK_ID_HEADER,
        WEBHOOK_TIMESTAMP_HEADER,
        WEBHOOK_SIGNATURE_HEADER,
    }
)
STANDARD_SECRET_PREFIX = "whsec_"
VONAGE_ISSUER = "Vonage"
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def profile_of(chosen: str | None, secret: str | None) -> Signing:
    """The profile in force: the one chosen, else `hmac` with a secret and `none` without."""
    if chosen is not None:
        return Signing(chosen)
    return Signing.HMAC if secret else Signing.NONE


def secret_problem(profile: Signing, secret: str | None) -> str | None:
    """Why `secret` cannot sign with `profile` (a phrase to follow the secret's name), or None."""
    if profile is Signing.NONE:
        return None
    if not secret:
        return f"is needed to sign callbacks with the {profile} profile"
    if profile is Signing.STANDARD and standard_key(secret) is None:
        return (
            f"must be {STANDARD_SECRET_PREFIX} and then base64 (a Standard Webhooks secret)"
            " to sign callbacks with the standard profile"
        )
    return None


def standard_key(secret: str) -> bytes | None:
    """The key a `whsec_<base64>` secret encodes; None if it is not of that form or empty."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        return None
    text = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def signature(secret: str, body: bytes) -> str:
    """The `hmac` profile's header value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def vonage_token(secret: str, callback_id: str, at: datetime, body: bytes) -> str:
    """The `vonage` profile's JWT: HS256 with the secret over `iat`, `jti`, `iss` and
    `payload_hash`."""
    claims = orjson.dumps(
        {
            "iat": int(at.timestamp()),
            "jti": callback_id,
            "iss": VONAGE_ISSUER,
            "payload_hash": hashlib.sha256(body).hexdigest(),
        }
    )
    signing_input = _JWT_HEADER + b"." + _b64url(claims)
    mac = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(mac)).decode()


def standard_signature(key: bytes, callback_id: str, timestamp: int, body: bytes) -> str:
    """The `standard` profile's `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}`."""
    signed = f"{callback_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign(
    profile: Signing, secret: str | None, callback_id: str, at: datetime, body: bytes
) -> dict[str, str]:
    """The headers that sign one attempt at a callback sent at `at` (emulator time)."""
    if profile is Signing.NONE or not secret:
        return {}
    if profile is Signing.HMAC:
        return {SIGNATURE_HEADER: signature(secret, body)}
    if profile is Signing.VONAGE:
        return {AUTHORIZATION_HEADER: "Bearer " + vonage_token(secret, callback_id, at, body)}
    key = standard_key(secret)
    if key is None:  # refused where the secret is set; never sent unsigned in silence
        raise ValueError(secret_problem(profile, secret))
    timestamp = int(at.timestamp())
    return {
        WEBHOOK_ID_HEADER: callback_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: standard_signature(key, callback_id, timestamp, body),
    }


def signed_for(profile: Signing, secret: str | None, at: datetime) -> tuple[object, ...]:
    """What an attempt's signature depends on: when it is the same as the last attempt's,
    that signature is sent again (an `hmac` one never changes; a timed one, within a second)."""
    timed = profile in (Signing.VONAGE, Signing.STANDARD)
    return (profile, secret, int(at.timestamp()) if timed else None)


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
