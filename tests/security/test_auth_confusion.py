"""Credentials that must not work: forged, unsigned, confused algorithms, the scheme that was
not configured, and bytes that are no text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.settings import Settings

from ..conftest import serving

ROOMS = "/v1/meetings/rooms"
WRONG = {"title": "Unauthorized", "detail": "You did not provide correct credentials"}
KEY, SECRET = "aaa012", "abc123456789" * 3  # long enough to sign HS256 with
TENANT_APP = "5d7b2a10-1f0e-4c3b-9a8d-7e6f5a4b3c2d"

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    made = {"application_id": TENANT_APP, "iat": now, "jti": str(uuid.uuid4()), "exp": now + 900}
    return {**made, **overrides}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(**overrides: object) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims(**overrides)).encode())}."


def hs256_with_public_key(**overrides: object) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the server's public key PEM (PyJWT
    refuses to make one, so it is made by hand)."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(**overrides)).encode())
    mac = hmac.new(PUBLIC_PEM.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def signed(key: object, algorithm: str = "RS256", **overrides: object) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm)  # type: ignore[arg-type]


def basic(key: str = KEY, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def call() -> Iterator[object]:
    clients: list[TestClient] = []

    def status(settings: Settings, header: str) -> tuple[int, object]:
        client = TestClient(create_app(settings))
        clients.append(client)
        answer = client.post(ROOMS, json={"display_name": "x"}, headers={"Authorization": header})
        return answer.status_code, answer.json()

    yield status
    for client in clients:
        client.close()


KEY_ONLY = Settings(api_key=KEY, api_secret=SECRET)
KEY_AND_TENANTS = Settings(
    api_key=KEY,
    api_secret=SECRET,
    tenancy="isolated",
    tenants=({"name": "acme", "application_id": TENANT_APP},),
)
PUBLIC_KEY_ONLY = Settings(public_key=PUBLIC_PEM)
OPEN = Settings()


@pytest.mark.parametrize(
    ("settings", "header"),
    [
        # Only Basic is configured: no JWT of any kind stands in for it.
        (KEY_ONLY, "Bearer " + unsigned()),
        (KEY_ONLY, "Bearer " + signed(STRANGER)),
        (KEY_ONLY, "Bearer " + signed(SECRET, "HS256")),
        (KEY_AND_TENANTS, "Bearer " + unsigned()),
        (KEY_AND_TENANTS, "Bearer " + signed(STRANGER)),
        # Only a public key is configured: no Basic pair, and only RS256 by that key.
        (PUBLIC_KEY_ONLY, basic()),
        (PUBLIC_KEY_ONLY, basic("anyone", "anything")),
        (PUBLIC_KEY_ONLY, "Bearer " + unsigned()),
        (PUBLIC_KEY_ONLY, "Bearer " + signed(STRANGER)),
        (PUBLIC_KEY_ONLY, "Bearer " + hs256_with_public_key()),
        # Nothing configured: still never an unsigned token, a token not yet valid, or an
        # expiry no calendar holds.
        (OPEN, "Bearer " + unsigned()),
        (OPEN, "Bearer " + unsigned(alg="none")),
        (OPEN, "Bearer " + signed(STRANGER, nbf=int(time.time()) + 3600)),
        (OPEN, "Bearer " + signed(STRANGER, exp=10**20)),
        (OPEN, "Bearer " + signed(STRANGER, exp=1e300)),
        (OPEN, "Bearer " + signed(STRANGER, exp=True)),
    ],
)
def test_a_forged_or_unconfigured_credential_is_refused(
    call: object, settings: Settings, header: str
) -> None:
    assert call(settings, header) == (401, WRONG)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("settings", "header"),
    [
        (KEY_ONLY, basic()),
        (KEY_AND_TENANTS, basic()),
        (PUBLIC_KEY_ONLY, "Bearer " + signed(PRIVATE)),
        (PUBLIC_KEY_ONLY, "Bearer " + signed(PRIVATE, nbf=int(time.time()) - 10)),
        (OPEN, basic("anyone", "anything")),
        (OPEN, "Bearer " + signed(STRANGER)),  # no key to check it against: trusted
    ],
)
def test_the_configured_credential_still_works(
    call: object, settings: Settings, header: str
) -> None:
    status, _ = call(settings, header)  # type: ignore[operator]
    assert status == 201


@pytest.mark.parametrize("settings", [OPEN, KEY_ONLY, PUBLIC_KEY_ONLY])
@pytest.mark.parametrize(
    "credential", [b"Basic \xe9", b"Basic \xe9\xe9==", b"Bearer \xe9.\xe9.\xe9"]
)
def test_credentials_that_are_no_text_are_a_401_not_a_crash(
    settings: Settings, credential: bytes
) -> None:
    with serving(create_app(settings)) as url:
        port = int(url.rsplit(":", 1)[1])
        body = b'{"display_name":"x"}'
        request = (
            b"POST " + ROOMS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: " + credential + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 401 Unauthorized"
    assert b"content-type: application/json; charset=utf-8" in head.lower()
    assert json.loads(payload) == WRONG
