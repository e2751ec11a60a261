"""Who is calling: `Authorization: Basic` (the public guide) or `Bearer <JWT>` (the SDKs).

By default any well-formed credential is accepted: a Basic pair with a non-empty key, or
a signed application JWT with `application_id` and an `exp` still ahead (with no key to
check it against, its signature is not verified, but an unsigned `alg: none` token is
refused).

Once any credential is configured, only the configured schemes are accepted: with an api
key or secret, Basic must match them; with an application's public key, a JWT must be
signed by its private key (RS256). A scheme that was not configured answers 401, so a
forged token cannot stand in for a configured key, nor any Basic pair for a public key.
A JWT's `nbf`, when present, must have passed; its `exp` must be a date a calendar holds.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

import jwt

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import AuthenticationError

ACCEPTED_CACHE = 1024
# Clients and the emulator may disagree a little about the time.
EXPIRY_LEEWAY = timedelta(seconds=30)
LEEWAY_SECONDS = EXPIRY_LEEWAY.total_seconds()
# The last second of year 9999: an `exp` or `nbf` past it is no date at all.
LATEST_SECONDS = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an api key (Basic) or an application id (JWT)."""

    kind: str
    id: str


class Authenticator:
    def __init__(
        self,
        clock: Clock,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        public_key: str | None = None,
        application_id: str | None = None,
    ) -> None:
        self._clock = clock
        self._api_key = api_key
        self._api_secret = api_secret
        self._public_key = public_key
        # A tenant's own application: its JWTs must name it (and, with a public key, be
        # signed by the matching private key).
        self._application_id = application_id
        configured = api_key is not None or api_secret is not None or public_key is not None
        self._basic_allowed = not configured or api_key is not None or api_secret is not None
        self._bearer_allowed = (
            not configured or public_key is not None or application_id is not None
        )
        # Accepted headers, newest last: decoding and verifying a JWT costs more than the
        # rest of a request, and clients send the same token many times.
        self._accepted: OrderedDict[str, tuple[Principal, float | None]] = OrderedDict()

    def authenticate(self, header: str | None) -> Principal:
        if not header or not header.strip():
            raise AuthenticationError.missing()
        known = self._accepted.get(header)
        if known is not None:  # seen and accepted before: only its expiry can have changed
            principal, exp = known
            if exp is not None and self._expired(exp):
                del self._accepted[header]
                raise AuthenticationError.invalid()
            self._accepted.move_to_end(header)
            return principal
        principal, exp = self._check(header)
        self._accepted[header] = (principal, exp)
        if len(self._accepted) > ACCEPTED_CACHE:
            self._accepted.popitem(last=False)
        return principal

    def _expired(self, exp: float) -> bool:
        return exp < self._clock.wall_seconds() - LEEWAY_SECONDS

    def _check(self, header: str) -> tuple[Principal, float | None]:
        """The caller and, for a JWT, when its token expires; decoded once per header value."""
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() == "basic" and credential and self._basic_allowed:
            return self._basic(credential), None
        if scheme.lower() == "bearer" and credential and self._bearer_allowed:
            return self._bearer(credential)
        raise AuthenticationError.invalid()

    def _basic(self, credential: str) -> Principal:
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # not base64 (not even ASCII), or not UTF-8
            raise AuthenticationError.invalid() from None
        key, colon, secret = decoded.partition(":")
        if not colon or not key:
            raise AuthenticationError.invalid()
        if self._api_key is not None and key != self._api_key:
            raise AuthenticationError.invalid()
        if self._api_secret is not None and secret != self._api_secret:
            raise AuthenticationError.invalid()
        return Principal("api_key", key)

    def _bearer(self, token: str) -> tuple[Principal, float]:
        options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
        try:
            if self._public_key is not None:
                claims = jwt.decode(token, self._public_key, algorithms=["RS256"], options=options)
            else:
                algorithm = jwt.get_unverified_header(token).get("alg")
                if not isinstance(algorithm, str) or algorithm.lower() == "none":
                    raise AuthenticationError.invalid()  # never an unsigned token
                claims = jwt.decode(token, options={**options, "verify_signature": False})
        except (jwt.PyJWTError, ValueError):  # malformed, or not even ASCII
            raise AuthenticationError.invalid() from None
        application_id = claims.get("application_id")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(application_id, str) or not application_id:
            raise AuthenticationError.invalid()
        if self._application_id is not None and application_id != self._application_id:
            raise AuthenticationError.invalid()
        if not _is_time(exp) or self._expired(exp):
            raise AuthenticationError.invalid()
        if nbf is not None and (not _is_time(nbf) or self._not_yet(nbf)):
            raise AuthenticationError.invalid()
        return Principal("application", application_id), float(exp)

    def _not_yet(self, nbf: float) -> bool:
        return nbf > self._clock.wall_seconds() + LEEWAY_SECONDS


def _is_time(value: object) -> bool:
    """A JWT time claim a calendar holds: a finite number of seconds up to year 9999."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return 0 <= value <= LATEST_SECONDS
