"""Every response captured from the live Meetings API, replayed against the emulator.

`tests/fixtures/live/<sdk>/` holds answers the live service gave, kept in the test data of
Vonage's SDKs (`tests/fixtures/live/SOURCES.md` says where each file comes from). For each
file, `EXCHANGES` says how to ask the emulator the same question: what has to exist first
(`given`, steps of `World`), and the request the SDK's own test shows produced the answer.
The emulator's answer must then have:
- the captured status code;
- a body of the captured shape: the same field names at every level, the same JSON types,
  `null` exactly where the capture has `null`, and strings of the same kind (uuid, ISO
  date-time, URL, 9-digit meeting code, or plain text). Values themselves differ;
- for an error, the same words: `name`, `status`, `message` and `errors` (or `title` and
  `detail` for a 401), once the capture's ids are read as the ids made here (`aliases`);
- for a page of rooms, a `page_size` that echoes the request and a `self` link that carries
  `start_id`, as the captured pages do;
- the live content type, `application/json; charset=utf-8`.

Two readings are tolerated everywhere and said here once:
- `LATER_FIELDS`: fields the live API added after most captures were made. The Python
  captures are from January 2023; by June 2023 the live room carried
  `available_features.is_captions_available` (the SDK's `meeting_room.json` and its test
  have it). An answer may hold these where an older capture lacks them.
- `redacted`: values the SDK authors replaced before publishing (an `account_id` of `"1234"`,
  an `application_id` of `"my-application-id"`); there only the JSON type is compared.

A capture the emulator does not yet answer alike still has its case, marked `xfail` (strict:
the mark must go once the emulator answers alike) with the exact difference.

Status codes: where an SDK test gave its mock an explicit status, that status is expected.
Where it left its helper's default (200 for every mock in the Python SDK), the mock says
nothing about the live status, and the status the official reference documents is expected
instead: 201 for `POST /rooms`.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START

LIVE = Path(__file__).resolve().parents[1] / "fixtures" / "live"
# The SDKs whose test data held captures of the live service; each must keep its folder.
SDKS = ("python", "java", "dotnet")
V1 = "/v1/meetings"
JSON_TYPE = "application/json; charset=utf-8"
LATER_FIELDS = (".available_features.is_captions_available",)
DEFAULT_PAGE_SIZE = 20

# Ids that the captures' requests used for things that did not exist; sent as they were.
UNKNOWN_THEME = "90a21428-b74a-4221-adc3-783935d654dc"
UNKNOWN_RECORDING = "881f0dbe-3d91-4fd6-aeea-0eca4209b512"
# Ids of things the captures' requests found; the emulator's own ids stand in for them.
PY_THEME = "90a21428-b74a-4221-adc3-783935d654db"
PY_INSTANT_ROOM = "b3142c46-d1c1-4405-baa6-85683827ed69"

THEME = {
    "theme_name": "my_theme",
    "main_color": "#12f64e",
    "brand_text": "My Company",
    "short_company_url": "my-company",
}
OTHER_THEME = {
    "theme_name": "my_other_theme",
    "main_color": "#FF0000",
    "brand_text": "My Other Company",
    "short_company_url": "my-other-company",
}
ALL_FEATURES_OFF = {
    "is_recording_available": False,
    "is_chat_available": False,
    "is_whiteboard_available": False,
}


# -- what exists before the request ---------------------------------------------------------


class World:
    """A fresh emulator, in process, and the ids of what the steps made in it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.ids: dict[str, str] = {}

    def _created(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(V1 + path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def instant_room(self) -> None:
        self.ids["room"] = self._created("/rooms", {"display_name": "my_test_room"})["id"]

    def two_instant_rooms(self) -> None:
        for _ in range(2):
            self.instant_room()

    def five_instant_rooms(self) -> None:
        for _ in range(5):
            self.instant_room()

    def long_term_room(self) -> None:
        body = {
            "display_name": "test_long_term_room",
            "type": "long_term",
            "expires_at": format_iso(START + timedelta(days=5)),
        }
        self.ids["room"] = self._created("/rooms", body)["id"]

    def theme(self) -> None:
        self.ids["theme"] = self._created("/themes", THEME)["theme_id"]

    def other_theme(self) -> None:
        self.ids["other_theme"] = self._created("/themes", OTHER_THEME)["theme_id"]

    def long_term_room_with_theme(self) -> None:
        body = {
            "display_name": "test_long_term_room",
            "type": "long_term",
            "expires_at": format_iso(START + timedelta(days=5)),
            "theme_id": self.ids["theme"],
        }
        self.ids["room"] = self._created("/rooms", body)["id"]

    def java_room(self) -> None:
        """A long-term room with every optional field the Java SDK's sample room has."""
        body = {
            "display_name": "Sina's room",
            "metadata": "foo=bar",
            "type": "long_term",
            "expires_at": format_iso(START + timedelta(days=365)),
            "initial_join_options": {"microphone_state": "off"},
            "callback_urls": {
                "rooms_callback_url": "https://example.com/rooms",
                "sessions_callback_url": "https://example.com/sessions",
                "recordings_callback_url": "https://example.com/recordings",
            },
            "ui_settings": {"language": "de"},
            "available_features": {"is_locale_switcher_available": True},
        }
        self.ids["room"] = self._created("/rooms", body)["id"]

    def meeting(self) -> None:
        """Someone hosts a meeting in an instant room: a live session."""
        self.instant_room()
        response = self.client.post(
            f"/_emulator/rooms/{self.ids['room']}/participants",
            json={"name": "Host", "is_host": True},
        )
        assert response.status_code == 201, response.text
        self.ids["session"] = response.json()["session_id"]

    def recording_started(self) -> None:
        self.meeting()
        response = self.client.post(f"/_emulator/sessions/{self.ids['session']}/recordings")
        assert response.status_code == 201, response.text
        self.ids["recording"] = response.json()["id"]
        self.advance(9)

    def recording_uploaded(self) -> None:
        self.recording_started()
        response = self.client.post(f"/_emulator/recordings/{self.ids['recording']}/stop")
        assert response.status_code == 200, response.text
        self.advance(60)
        assert self.client.get(f"{V1}/recordings/{self.ids['recording']}").json()["status"] == (
            "uploaded"
        )

    def advance(self, seconds: float) -> None:
        response = self.client.post("/_emulator/clock", json={"advance_seconds": seconds})
        assert response.status_code == 200, response.text


def post_logo_with_wrong_signature(world: World) -> httpx.Response:
    """The first presigned logo form, posted to its bucket with a signature S3 rejects."""
    forms = world.client.get(f"{V1}/themes/logos-upload-urls").json()
    form = forms[0]
    fields = dict(form["fields"], **{"X-Amz-Signature": "0" * 64})
    image = io.BytesIO()
    Image.new("RGBA", (64, 32), (0, 0, 0, 0)).save(image, "PNG")
    path = urlsplit(form["url"]).path
    return world.client.post(path, data=fields, files={"file": ("logo.png", image.getvalue())})


# -- the exchanges ------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """How to ask the emulator what the live API was asked when it gave one capture.

    `path` is under `/v1/meetings` and may name the ids steps made (`{room}`, `{theme}`,
    `{session}`, `{recording}`). `aliases` maps an id written in the capture to the name of
    the id made here that stands for it. `redacted` lists the places (`$.a.b`, `$[].c`)
    whose captured values the SDK authors replaced. `listing` marks a page of rooms.
    `send`, when given, makes a request of another kind than a JSON call to the API (then
    `method` and `path` only describe it)."""

    method: str
    path: str
    status: int
    given: tuple[str, ...] = ()
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    redacted: tuple[str, ...] = ()
    listing: bool = False
    send: Callable[[World], httpx.Response] | None = None
    xfail: str | None = None


THEME_REDACTED = ("$.account_id", "$.application_id")
STARTED_WITHOUT_END = (
    "$.ended_at (in a recording whose status is `started`): the capture has an ISO date-time, "
    "the emulator null. The .NET capture looks edited by hand (its session_id is the "
    "reference's example), so its `status` may not be what the live API said"
)

EXCHANGES: dict[str, Exchange] = {
    # -- Python SDK 3.18.0, tests/test_meetings.py -------------------------------------------
    # test_delete_recording_not_uploaded: an id the emulator has never seen.
    "python/delete_recording_not_found.json": Exchange(
        "DELETE", f"/recordings/{UNKNOWN_RECORDING}", 404
    ),
    "python/delete_theme_in_use.json": Exchange(
        "DELETE",
        "/themes/{theme}",
        400,
        given=("theme", "long_term_room_with_theme"),
        aliases={PY_THEME: "theme"},
    ),
    "python/empty_themes.json": Exchange(
        "GET",
        "/themes",
        200,
        xfail="the capture, from the older live API, is `{}` for no themes; the emulator "
        "answers `[]`, as the newer live API did: $: the capture has an object, the emulator "
        "an array",
    ),
    "python/get_recording.json": Exchange(
        "GET", "/recordings/{recording}", 200, given=("recording_uploaded",)
    ),
    "python/get_recording_not_found.json": Exchange(
        "GET", "/recordings/not-a-real-recording-id", 404
    ),
    "python/get_session_recordings.json": Exchange(
        "GET", "/sessions/{session}/recordings", 200, given=("recording_uploaded",)
    ),
    "python/get_session_recordings_not_found.json": Exchange(
        "GET", "/sessions/not-a-real-session-id/recordings", 404
    ),
    # The same capture again, for a session that exists but has no recordings.
    "python/get_session_recordings_not_found.json#session-without-recordings": Exchange(
        "GET",
        "/sessions/{session}/recordings",
        404,
        given=("meeting",),
        aliases={"not-a-real-session-id": "session"},
    ),
    "python/list_dial_in_numbers.json": Exchange("GET", "/dial-in-numbers", 200),
    "python/list_logo_upload_urls.json": Exchange("GET", "/themes/logos-upload-urls", 200),
    "python/list_rooms_theme_id_not_found.json": Exchange(
        "GET",
        f"/themes/{UNKNOWN_THEME}/rooms",
        404,
        query={"start_id": "0", "end_id": "99999999"},
    ),
    "python/list_rooms_with_theme_id.json": Exchange(
        "GET",
        "/themes/{theme}/rooms",
        200,
        given=("theme", "long_term_room_with_theme"),
        query={"page_size": "5", "start_id": "0", "end_id": "99999999"},
        listing=True,
    ),
    "python/list_themes.json": Exchange(
        "GET",
        "/themes",
        200,
        given=("other_theme", "theme"),
        redacted=("$[].account_id", "$[].application_id"),
    ),
    # test_add_logo_to_theme_key_error: the capture names the key `not-a-key` and an
    # existing theme (for an unknown theme the SDK's next test gets `theme_not_found.json`).
    "python/logo_key_error.json": Exchange(
        "PUT",
        "/themes/{theme}/finalizeLogos",
        400,
        given=("theme",),
        body={"keys": ["not-a-key"]},
    ),
    # `expires_at` written as the SDK's test wrote it, with a `+0000` offset.
    "python/long_term_room.json": Exchange(
        "POST",
        "/rooms",
        201,
        body={
            "display_name": "test_long_term_room",
            "type": "long_term",
            "expires_at": (START + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        },
    ),
    "python/long_term_room_with_theme.json": Exchange(
        "PATCH",
        "/rooms/{room}",
        200,
        given=("long_term_room", "theme"),
        body={"update_details": {"theme_id": "{theme}"}},
    ),
    "python/meeting_room.json": Exchange("GET", "/rooms/{room}", 200, given=("instant_room",)),
    "python/multiple_fewer_rooms.json": Exchange(
        "GET",
        "/rooms",
        200,
        given=("two_instant_rooms",),
        query={"page_size": "2"},
        listing=True,
    ),
    "python/multiple_rooms.json": Exchange(
        "GET",
        "/rooms",
        200,
        given=("five_instant_rooms",),
        listing=True,
    ),
    "python/theme.json": Exchange(
        "GET", "/themes/{theme}", 200, given=("theme",), redacted=THEME_REDACTED
    ),
    "python/theme_name_in_use.json": Exchange(
        "POST",
        "/themes",
        409,
        given=("theme",),
        body={"theme_name": "my_theme", "main_color": "#12f64e", "brand_text": "My Company"},
    ),
    "python/theme_not_found.json": Exchange("GET", f"/themes/{UNKNOWN_THEME}", 404),
    # The SDK sends a JWT; one the emulator cannot read is a wrong credential.
    "python/unauthorized.json": Exchange(
        "GET", "/rooms", 401, headers={"Authorization": "Bearer not-a-jwt"}
    ),
    "python/update_application_theme.json": Exchange(
        "PATCH",
        "/applications",
        200,
        given=("theme",),
        body={"update_details": {"default_theme_id": "{theme}"}},
        redacted=("$.application_id", "$.account_id"),
    ),
    "python/update_application_theme_id_not_found.json": Exchange(
        "PATCH",
        "/applications",
        400,
        body={"update_details": {"default_theme_id": "not-a-real-theme-id"}},
    ),
    "python/update_no_keys.json": Exchange(
        "PATCH", "/themes/{theme}", 400, given=("theme",), body={"update_details": {}}
    ),
    "python/update_room.json": Exchange(
        "PATCH",
        "/rooms/{room}",
        200,
        given=("long_term_room",),
        body={"update_details": {"available_features": ALL_FEATURES_OFF}},
    ),
    # The capture names the instant room of `meeting_room.json`: an update of an instant
    # room (the SDK's test mocks it for a call with no details at all).
    "python/update_room_type_error.json": Exchange(
        "PATCH",
        "/rooms/{room}",
        400,
        given=("instant_room",),
        body={"update_details": {"available_features": ALL_FEATURES_OFF}},
        aliases={PY_INSTANT_ROOM: "room"},
    ),
    "python/update_theme_already_exists.json": Exchange(
        "PATCH",
        "/themes/{theme}",
        409,
        given=("theme", "other_theme"),
        body={"update_details": {"theme_name": "my_other_theme"}},
    ),
    "python/updated_theme.json": Exchange(
        "PATCH",
        "/themes/{theme}",
        200,
        given=("theme",),
        body={
            "update_details": {
                "theme_name": "updated_theme",
                "main_color": "#FF0000",
                "brand_text": "My Updated Company Name",
                "short_company_url": "updated_company_url",
            }
        },
        redacted=THEME_REDACTED,
    ),
    # test_upload_to_aws_error: S3 refusing the logo form's signature.
    "python/upload_to_aws_error.xml": Exchange(
        "POST",
        "<the first logo form's url>",
        403,
        send=post_logo_with_wrong_signature,
    ),
    # -- Java SDK 8.10.0, MeetingsClientTest ------------------------------------------------
    # SAMPLE_ROOM_RESPONSE, which the test answers getRoom, createRoom and updateRoom with.
    "java/room.json": Exchange("GET", "/rooms/{room}", 200, given=("java_room",)),
    # testListDialNumbers
    "java/dial_in_numbers.json": Exchange("GET", "/dial-in-numbers", 200),
    # testUpdateThemeLogo: only the favicon's form was kept.
    "java/logos_upload_urls.json": Exchange("GET", "/themes/logos-upload-urls", 200),
    # -- .NET SDK 7.10.0, Vonage.Test/Meetings ----------------------------------------------
    "dotnet/get_recording.json": Exchange(
        "GET",
        "/recordings/{recording}",
        200,
        given=("recording_started",),
        xfail=STARTED_WITHOUT_END,
    ),
    "dotnet/get_recordings.json": Exchange(
        "GET",
        "/sessions/{session}/recordings",
        200,
        given=("recording_started",),
        xfail=STARTED_WITHOUT_END,
    ),
}


# -- comparing ----------------------------------------------------------------------------

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})")
# Absolute, or a host and a path without a scheme: the live listings' links were written so.
URL = re.compile(r"https?://\S+|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?/\S*")
MEETING_CODE = re.compile(r"\d{9}")


def kind(value: Any) -> str:
    """The JSON type of `value`, and for a string the kind of text it holds."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    for label, pattern in (
        ("a uuid", UUID),
        ("an ISO date-time", DATE_TIME),
        ("a URL", URL),
        ("a meeting code", MEETING_CODE),
    ):
        if pattern.fullmatch(value):
            return f"a string ({label})"
    return "a string (plain)"


def json_type(value: Any) -> str:
    return kind(value).split(" (")[0]


def shape_differences(
    capture: Any, answer: Any, redacted: frozenset[str], path: str = "$"
) -> Iterator[str]:
    """Where `answer` is not shaped as `capture`, one line each."""
    pattern = re.sub(r"\[\d+\]", "[]", path)
    if pattern in redacted:
        if json_type(capture) != json_type(answer):
            yield f"{path}: the capture has {json_type(capture)}, the emulator {json_type(answer)}"
        return
    if kind(capture) != kind(answer):
        yield f"{path}: the capture has {kind(capture)}, the emulator {kind(answer)}"
        return
    if isinstance(capture, dict):
        for key in capture:
            if key not in answer:
                yield f"{path}.{key}: in the capture, missing from the emulator's answer"
        for key in answer:
            if key not in capture and not f"{path}.{key}".endswith(LATER_FIELDS):
                yield f"{path}.{key}: in the emulator's answer, not in the capture"
        for key in capture:
            if key in answer:
                yield from shape_differences(capture[key], answer[key], redacted, f"{path}.{key}")
    elif isinstance(capture, list):
        if bool(capture) != bool(answer):
            yield f"{path}: the capture has {len(capture)} items, the emulator {len(answer)}"
            return
        for index in range(max(len(capture), len(answer))):
            theirs = capture[min(index, len(capture) - 1)]
            ours = answer[min(index, len(answer) - 1)]
            yield from shape_differences(theirs, ours, redacted, f"{path}[{index}]")


def substituted(value: Any, replacements: dict[str, str]) -> Any:
    """`value` with every captured id replaced by the one that stands for it here."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [substituted(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: substituted(item, replacements) for key, item in value.items()}
    return value


def error_differences(capture: Any, answer: Any, replacements: dict[str, str]) -> Iterator[str]:
    """An error's words: the live `{message, name, status, errors}` or `{title, detail}`."""
    expected = substituted(capture, replacements)
    for key in ("name", "status", "message", "errors", "title", "detail"):
        if key in expected and isinstance(answer, dict) and answer.get(key) != expected[key]:
            yield f"$.{key}: the capture has {expected[key]!r}, the emulator {answer.get(key)!r}"


def listing_differences(answer: Any, query: dict[str, str]) -> Iterator[str]:
    requested = int(query.get("page_size", DEFAULT_PAGE_SIZE))
    if answer.get("page_size") != requested:
        yield f"$.page_size: {requested} was asked for, the emulator says {answer.get('page_size')}"
    link = answer.get("_links", {}).get("self", {}).get("href", "")
    if "start_id" not in parse_qs(urlsplit(link).query):
        yield f"$._links.self.href: carries no start_id ({link!r})"


def xml_differences(capture: str, answer: str) -> Iterator[str]:
    """S3's errors: the same elements, in the same order, under `<Error>`."""
    # The captured text has a literal backslash-n between the declaration and `<Error>`.
    theirs = [child.tag for child in ET.fromstring(capture[capture.index("<Error") :])]
    ours = [child.tag for child in ET.fromstring(answer[answer.index("<Error") :])]
    if theirs != ours:
        yield f"<Error>: the capture has {theirs}, the emulator {ours}"


# -- the test -----------------------------------------------------------------------------


def read_capture(name: str) -> str:
    # The .NET files begin with a byte-order mark.
    return (LIVE / name).read_text(encoding="utf-8-sig")


def cases() -> list[Any]:
    return [
        pytest.param(
            key,
            exchange,
            id=key,
            marks=[pytest.mark.xfail(strict=True, reason=exchange.xfail)] if exchange.xfail else [],
        )
        for key, exchange in EXCHANGES.items()
    ]


def formatted(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [formatted(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: formatted(item, ids) for key, item in value.items()}
    return value


def answer(exchange: Exchange) -> tuple[World, httpx.Response]:
    app = create_app(Settings(seed=1), clock=Clock.frozen_at(START), ids=Ids(1))
    with TestClient(app, headers={"Authorization": BASIC}) as client:
        world = World(client)
        for step in exchange.given:
            getattr(world, step)()
        if exchange.send is not None:
            return world, exchange.send(world)
        response = client.request(
            exchange.method,
            V1 + exchange.path.format(**world.ids),
            params=exchange.query,
            json=formatted(exchange.body, world.ids),
            headers=exchange.headers,
        )
        return world, response


@pytest.mark.parametrize(("key", "exchange"), cases())
def test_the_emulator_answers_as_the_live_api_did(key: str, exchange: Exchange) -> None:
    name = key.partition("#")[0]
    capture = read_capture(name)
    world, response = answer(exchange)
    problems: list[str] = []
    if response.status_code != exchange.status:
        problems.append(
            f"status: the capture has {exchange.status}, the emulator {response.status_code}"
        )
    if name.endswith(".xml"):
        problems.extend(xml_differences(capture, response.text))
    else:
        if response.headers.get("content-type") != JSON_TYPE:
            problems.append(f"content-type: {response.headers.get('content-type')!r}")
        theirs, ours = json.loads(capture), response.json()
        problems.extend(shape_differences(theirs, ours, frozenset(exchange.redacted)))
        if exchange.status >= 400 and isinstance(theirs, dict):
            replacements = {old: world.ids[new] for old, new in exchange.aliases.items()}
            problems.extend(error_differences(theirs, ours, replacements))
        if exchange.listing:
            problems.extend(listing_differences(ours, exchange.query))
    assert not problems, "\n".join(problems)


def test_every_capture_has_an_exchange_and_every_exchange_a_capture() -> None:
    files = {
        path.relative_to(LIVE).as_posix()
        for path in LIVE.rglob("*")
        if path.suffix in (".json", ".xml")
    }
    replayed = {key.partition("#")[0] for key in EXCHANGES}
    assert sorted(files - replayed) == []
    assert sorted(replayed - files) == []


@pytest.mark.parametrize("sdk", SDKS)
def test_the_corpus_keeps_each_sdks_captures_and_licence(sdk: str) -> None:
    folder = LIVE / sdk
    assert any(folder.glob("*.json")), f"no captures from the {sdk} SDK in {folder}"
    assert (folder / "LICENSE").is_file()
    assert f"`{sdk}/" in (LIVE / "SOURCES.md").read_text(encoding="utf-8")
