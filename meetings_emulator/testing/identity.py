"""Who is calling: the tenant a call belongs to, and the credential fingerprint the
request journal shows in place of the credentials."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
from collections.abc import Mapping

import jwt
from starlette.datastructures import Headers
from starlette.types import Scope

from meetings_emulator.domain.auth import Authenticator
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import AuthenticationError
from meetings_emulator.http.requests import authorization_of, caller_of


def tenant_of(
    scope_or_headers: Scope | Mapping[str, str], auth: Authenticator | None = None
) -> str | None:
    """The tenant a call belongs to, or None when its credentials are refused.

    For now the tenant is the authenticated caller's id (an api key, or a JWT's
    application id). `scope_or_headers` is an ASGI scope (whose app's emulator checks the
    credentials) or a mapping of headers (checked by `auth`, or as the default settings
    would). Swap this for the real notion of a tenant when there is one.
    """
    if isinstance(scope_or_headers, dict) and isinstance(scope_or_headers.get("headers"), list):
        scope: Scope = scope_or_headers
        if auth is None and "app" in scope:
            auth = scope["app"].state.emulator.auth
        if auth is not None:
            return scope_tenant(scope, auth)
        header = authorization_of(scope)
    else:
        header = Headers(headers=dict(scope_or_headers)).get("authorization")
    if auth is None:
        auth = Authenticator(Clock())
    try:
        return auth.authenticate(header).id
    except AuthenticationError:
        return None


def scope_tenant(scope: Scope, auth: Authenticator) -> str | None:
    """`tenant_of` for a call's scope, its credentials checked by `auth` (once per call)."""
    try:
        return caller_of(scope, auth).id
    except AuthenticationError:
        return None


@functools.lru_cache(maxsize=1024)  # a JWT decode per call cost a fifth of a GET
def redact_authorization(header: str | None) -> str | None:
    """The scheme and a short fingerprint: `Basic aaa0…` (the api key's first 4 characters,
    never the secret), `Bearer <application_id>` (read from the JWT, unverified)."""
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
        return f"Basic {key[:4]}…"
    if scheme.lower() == "bearer":
        application_id = None
        options = {"verify_signature": False, "verify_exp": False, "verify_iat": False}
        with contextlib.suppress(jwt.PyJWTError):
            application_id = jwt.decode(credential, options=options).get("application_id")
        if isinstance(application_id, str) and application_id:
            return f"Bearer {application_id[:64]}"
        return "Bearer …"
    if scheme.isalpha() and len(scheme) <= 16:
        return f"{scheme} …"
    return "…"


__all__ = ["redact_authorization", "scope_tenant", "tenant_of"]
