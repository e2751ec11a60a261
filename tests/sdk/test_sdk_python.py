"""The official Python SDK, `vonage==3.18.0`, unchanged, against the emulator over HTTPS.

Pointing it at the emulator takes what README shows: the host on `client.meetings`, and
the emulator's CA for `requests` (REQUESTS_CA_BUNDLE covers the SDK's session and the
logo upload, which the SDK posts with plain `requests.post`).
"""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetings_emulator.app import create_app
from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.tls import make_tls

from ..conftest import serving

vonage = pytest.importorskip("vonage", reason="the official SDK: pip install vonage==3.18.0")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from PIL import Image  # noqa: E402
from vonage.errors import AuthenticationError, ClientError, ServerError  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.network]

APPLICATION_ID = "4ea3ee57-7a2b-4a0c-9c5e-7c1a8e1c2b3d"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@pytest.fixture(scope="module")
def emulator(keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An emulator serving HTTPS, checking JWT signatures against the application's key."""
    folder = tmp_path_factory.mktemp("tls")
    tls = make_tls("127.0.0.1", folder)
    (folder / "ca.pem").write_text(tls.ca_pem)
    from ..conftest import free_port

    port = free_port()
    settings = Settings(public_key=keys[1], tls_ca_pem=tls.ca_pem, port=port)
    app = create_app(settings)
    with serving(app, tls=tls, port=port) as url:
        yield {"app": app, "url": url, "ca": folder / "ca.pem", "port": port}


@pytest.fixture
def meetings(emulator: Any, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK's client, set up as README tells a user to."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator["ca"]))
    client = vonage.Client(application_id=APPLICATION_ID, private_key=keys[0])
    client.meetings._meetings_api_host = f"localhost:{emulator['port']}/v1/meetings"
    httpx.post(f"{emulator['url']}/_emulator/reset", verify=trusting(emulator))
    return client.meetings


def trusting(emulator: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emulator["ca"]))


def control(emulator: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, emulator["url"] + path, verify=trusting(emulator), **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def long_term(**extra: Any) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"display_name": "weekly", "type": "long_term", "expires_at": expires, **extra}


def test_rooms(meetings: Any) -> None:
    room = meetings.create_room({"display_name": "my_test_room"})
    assert room["type"] == "instant"
    assert room["_links"]["guest_url"]["href"].endswith(room["meeting_code"])
    assert meetings.get_room(room["id"]) == room
    for n in range(3):
        meetings.create_room({"display_name": f"room {n}"})
    page = meetings.list_rooms(page_size=2)
    assert (page["page_size"], page["total_items"]) == (2, 4)
    rest = meetings.list_rooms(page_size=2, start_id=3)
    assert [r["display_name"] for r in rest["_embedded"]] == ["room 1", "room 2"]
    # The last page with rooms points past them, as the live service did.
    assert rest["_links"]["next"]["href"].endswith("?page_size=2&start_id=5")
    # The SDK's own expectation: `page_size` is the size asked for, not what the page holds.
    assert meetings.list_rooms(page_size=5)["page_size"] == 5

    weekly = meetings.create_room(long_term())
    updated = meetings.update_room(
        weekly["id"], {"update_details": {"available_features": {"is_chat_available": False}}}
    )
    assert updated["available_features"]["is_chat_available"] is False


def test_the_sdk_sees_the_live_errors(meetings: Any) -> None:
    instant = meetings.create_room({"display_name": "x"})
    with pytest.raises(ClientError) as refused:
        meetings.update_room(instant["id"], {"update_details": {"expire_after_use": True}})
    assert str(refused.value) == (
        "Status Code 400: BadRequestError: The room with id: "
        f"{instant['id']} could not be updated because of its type: temporary"
    )
    with pytest.raises(ClientError) as no_keys:
        meetings.update_room(instant["id"], {"update_details": {}})
    assert str(no_keys.value) == (
        'Status Code 400: InputValidationError: "update_details" must have at least 1 key'
    )
    with pytest.raises(ClientError, match="Status Code 404: NotFoundError: Recording x was"):
        meetings.get_recording("x")
    with pytest.raises(ClientError, match="Failed to find session recordings by id: s"):
        meetings.get_session_recordings("s")


def test_recordings(meetings: Any, emulator: Any) -> None:
    room = meetings.create_room({"display_name": "recorded"})
    host = control(
        emulator,
        "POST",
        f"/_emulator/rooms/{room['id']}/participants",
        json={"name": "Host", "is_host": True},
    )
    recording = control(emulator, "POST", f"/_emulator/sessions/{host['session_id']}/recordings")
    control(emulator, "POST", f"/_emulator/recordings/{recording['id']}/stop")
    with pytest.raises(ServerError):  # the live API's 500 for a recording not yet uploaded
        meetings.delete_recording(recording["id"])
    control(emulator, "POST", "/_emulator/clock", json={"advance_seconds": 5})

    fetched = meetings.get_recording(recording["id"])
    assert fetched["status"] == "uploaded"
    listed = meetings.get_session_recordings(host["session_id"])
    assert listed["_embedded"]["recordings"] == [fetched]
    media = httpx.get(fetched["_links"]["url"]["href"], verify=trusting(emulator))
    assert media.headers["content-type"] == "video/mp4"
    assert meetings.delete_recording(recording["id"]) is None


def test_dial_in_numbers(meetings: Any) -> None:
    numbers = meetings.list_dial_in_numbers()
    assert {"number", "locale", "display_name"} == set(numbers[0])


def test_themes_and_application(meetings: Any) -> None:
    assert meetings.list_themes() == []  # as the later live service answered with none
    theme = meetings.create_theme(
        {"main_color": "#12f64e", "brand_text": "My Company", "short_company_url": "my-company"}
    )
    assert meetings.get_theme(theme["theme_id"]) == theme
    assert meetings.list_themes() == [theme]
    with pytest.raises(ClientError, match="ConflictError: short_company_url already exists"):
        meetings.create_theme(
            {"main_color": "#fff", "brand_text": "x", "short_company_url": "my-company"}
        )
    updated = meetings.update_theme(theme["theme_id"], {"update_details": {"brand_text": "New"}})
    assert updated["brand_text"] == "New"

    room = meetings.create_room(long_term())
    themed = meetings.add_theme_to_room(room["id"], theme["theme_id"])
    assert themed["_links"]["guest_url"]["href"].endswith(f"/my-company/{room['meeting_code']}")
    in_theme = meetings.list_rooms_with_theme_id(theme["theme_id"], page_size=5)
    assert [r["id"] for r in in_theme["_embedded"]] == [room["id"]]

    application = meetings.update_application_theme(theme["theme_id"])
    assert application["default_theme_id"] == theme["theme_id"]
    with pytest.raises(ClientError) as in_use:
        meetings.delete_theme(theme["theme_id"])  # the SDK sends force=False
    assert "could not delete theme" in str(in_use.value)
    assert f"\nError: Theme {theme['theme_id']} is used by 1 room" in str(in_use.value)
    assert meetings.delete_theme(theme["theme_id"], force=True) is None
    with pytest.raises(ClientError, match=f"could not find theme {theme['theme_id']}"):
        meetings.get_theme(theme["theme_id"])


# The SDK opens the logo file (`open(path_to_image, "rb")`) and never closes it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_logo_upload_through_the_sdk(meetings: Any, emulator: Any, tmp_path: Path) -> None:
    theme = meetings.create_theme({"main_color": "#12f64e", "brand_text": "Co"})
    logo = Image.new("RGBA", (200, 50), (0, 0, 0, 0))
    for x in range(40, 160):
        logo.putpixel((x, 25), (255, 255, 255, 255))
    path = tmp_path / "white.png"
    logo.save(path)
    result = meetings.upload_logo_to_theme(theme["theme_id"], str(path), "white")
    assert result == f"Logo upload to theme: {theme['theme_id']} was successful."
    stored = meetings.get_theme(theme["theme_id"])
    assert stored["brand_image_white"].startswith(f"logos/{theme['theme_id']}/white/")
    image = httpx.get(stored["brand_image_white_url"], verify=trusting(emulator))
    assert image.content == path.read_bytes()

    bad = io.BytesIO()
    Image.new("RGB", (200, 50), (0, 0, 0)).save(bad, "PNG")
    opaque = tmp_path / "opaque.png"
    opaque.write_bytes(bad.getvalue())
    with pytest.raises(ClientError, match="could not finalize logos"):
        meetings.upload_logo_to_theme(theme["theme_id"], str(opaque), "white")


def test_a_token_signed_by_another_key_is_refused(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator["ca"]))
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    client = vonage.Client(application_id=APPLICATION_ID, private_key=impostor.decode())
    client.meetings._meetings_api_host = f"localhost:{emulator['port']}/v1/meetings"
    with pytest.raises(AuthenticationError):
        client.meetings.list_rooms()


def test_the_ca_is_served(emulator: Any) -> None:
    served = httpx.get(f"{emulator['url']}/_emulator/tls/ca.pem", verify=trusting(emulator))
    assert served.text == emulator["ca"].read_text()
    assert served.text.startswith("-----BEGIN CERTIFICATE-----")
