"""Who may call: Basic (the guide), Bearer application JWTs (the SDKs), and configured checks."""

from __future__ import annotations

import base64
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

ROOMS = "/v1/meetings/rooms"
MISSING = {"title": "Missing Auth", "detail": "Auth header is required"}
WRONG = {"title": "Unauthorized", "detail": "You did not provide correct credentials"}


@pytest.fixture(scope="module")
def key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public_pem


def application_jwt(private: rsa.RSAPrivateKey, **overrides: object) -> str:
    """As both SDKs make it: RS256, application_id, iat, jti, exp = iat + 900."""
    now = int(time.time())
    claims = {
        "application_id": str(uuid.uuid4()),
        "iat": now,
        "jti": str(uuid.uuid4()),
        "exp": now + 900,
        **overrides,
    }
    claims = {key: value for key, value in claims.items() if value is not None}
    return jwt.encode(claims, private, algorithm="RS256")


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def anonymous() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def status_and_body(client: TestClient, header: str | None) -> tuple[int, object]:
    headers = {} if header is None else {"Authorization": header}
    response = client.post(ROOMS, json={"display_name": "x"}, headers=headers)
    return response.status_code, response.json()


def test_missing_header_is_401_missing_auth(anonymous: TestClient) -> None:
    assert status_and_body(anonymous, None) == (401, MISSING)
    assert status_and_body(anonymous, "   ") == (401, MISSING)


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-key").decode(),
        "Bearer",
        "Bearer not.a.jwt",
        "Token abc",
    ],
)
def test_malformed_credentials_are_401_unauthorized(anonymous: TestClient, header: str) -> None:
    assert status_and_body(anonymous, header) == (401, WRONG)


def test_any_well_formed_basic_pair_is_accepted_by_default(anonymous: TestClient) -> None:
    assert status_and_body(anonymous, basic("aaa012", "abc123456789"))[0] == 201
    assert status_and_body(anonymous, "basic " + basic("k", "")[6:])[0] == 201


def test_unsigned_checked_jwt_accepted_by_default(anonymous: TestClient, key_pair) -> None:
    private, _ = key_pair
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert status_and_body(anonymous, f"Bearer {application_jwt(private)}")[0] == 201
    assert status_and_body(anonymous, f"Bearer {application_jwt(other)}")[0] == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 120},
        {"exp": None},
        {"exp": "tomorrow"},
        {"application_id": None},
        {"application_id": ""},
    ],
)
def test_jwt_needs_a_future_exp_and_an_application_id(
    anonymous: TestClient, key_pair, overrides: dict[str, object]
) -> None:
    private, _ = key_pair
    assert status_and_body(anonymous, f"Bearer {application_jwt(private, **overrides)}") == (
        401,
        WRONG,
    )


def test_configured_api_key_and_secret_are_enforced() -> None:
    app = create_app(Settings(api_key="key1", api_secret="s3cret"))
    with TestClient(app) as client:
        assert status_and_body(client, basic("key1", "s3cret"))[0] == 201
        assert status_and_body(client, basic("key1", "wrong")) == (401, WRONG)
        assert status_and_body(client, basic("key2", "s3cret")) == (401, WRONG)


def test_configured_public_key_enforces_jwt_signatures(key_pair) -> None:
    private, public_pem = key_pair
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with TestClient(create_app(Settings(public_key=public_pem))) as client:
        assert status_and_body(client, f"Bearer {application_jwt(private)}")[0] == 201
        assert status_and_body(client, f"Bearer {application_jwt(impostor)}") == (401, WRONG)
        hs256 = jwt.encode({"application_id": "a", "exp": int(time.time()) + 60}, "k" * 32)
        assert status_and_body(client, f"Bearer {hs256}") == (401, WRONG)


def test_jwt_expiry_follows_real_time_not_the_emulator_clock(
    anonymous: TestClient, key_pair
) -> None:
    private, _ = key_pair
    anonymous.post("/_emulator/clock", json={"advance_seconds": 86400})
    assert status_and_body(anonymous, f"Bearer {application_jwt(private)}")[0] == 201


def test_every_api_route_requires_credentials(anonymous: TestClient) -> None:
    room_path = f"{ROOMS}/00000000-0000-4000-8000-000000000000"
    calls = [
        ("GET", ROOMS),
        ("POST", ROOMS),
        ("GET", room_path),
        ("PATCH", room_path),
        ("DELETE", room_path),
        ("GET", "/beta/meetings/rooms/"),
    ]
    for method, path in calls:
        response = anonymous.request(method, path)
        assert (response.status_code, response.json()) == (401, MISSING), (method, path)


def test_an_accepted_token_still_expires_on_time(key_pair) -> None:
    from datetime import timedelta

    from freezegun import freeze_time

    private, _ = key_pair
    with freeze_time("2026-05-01T12:00:00Z") as frozen, TestClient(create_app()) as client:
        token = jwt.encode(
            {"application_id": "a", "exp": int(time.time()) + 60}, private, algorithm="RS256"
        )
        header = f"Bearer {token}"
        assert status_and_body(client, header)[0] == 201
        assert status_and_body(client, header)[0] == 201  # the second time from the cache
        frozen.tick(timedelta(seconds=91))  # past exp and the 30 s leeway
        assert status_and_body(client, header) == (401, WRONG)
