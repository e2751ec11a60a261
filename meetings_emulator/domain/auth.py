"""Who is calling: `Authorization: Basic` (the public guide) or `Bearer <JWT>` (the SDKs).

By default any well-formed credential is accepted: a Basic pair with a non-empty key, or
an application JWT with `application_id` and an `exp` still ahead (its signature is not
checked). Configured with an api key and secret, Basic must match them; configured with
an application's public key, a JWT must be signed by its private key (RS256).
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
    ) -> None:
        self._clock = clock
        self._api_key = api_key
        self._api_secret = api_secret
        self._public_key = public_key
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
        if scheme.lower() == "basic" and credential:
            return self._basic(credential), None
        if scheme.lower() == "bearer" and credential:
            return self._bearer(credential)
        raise AuthenticationError.invalid()

    def _basic(self, credential: str) -> Principal:
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
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
                claims = jwt.decode(token, options={**options, "verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationError.invalid() from None
        application_id = claims.get("application_id")
        exp = claims.get("exp")
        if not isinstance(application_id, str) or not application_id:
            raise AuthenticationError.invalid()
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AuthenticationError.invalid()
        if self._expired(exp):
            raise AuthenticationError.invalid()
        return Principal("application", application_id), float(exp)
