"""The emulator's answers against Vonage's own reference, `vonage-meetings-openapi.yml`.

`test_openapi.py` holds the emulator to the project's own document. This module holds it to
the definition Vonage published (OpenAPI 3.0.2, server `https://api-eu.vonage.com/v1/meetings`)
for the operations both have. First for response conformance alone: an answer whose status
the file documents must have the documented media type and match the documented body schema.
Then under every check schemathesis has (status codes, server errors, valid input accepted and
invalid refused, credentials, methods, resources after deletion, ...), where each failure
found is classified in `official_failures.py`: the file's error (corrected in the test's
copy), the emulator's deliberate difference, or the emulator's error (fixed).

The file cannot be loaded as published. In memory only, and before anything else:
- its Express-style paths (`/rooms/:room_id`) become templates (`/rooms/{room_id}`), each
  with an `in: path` parameter: the file declares `room_id`, `recording_id` and `theme_id` as
  `in: query` components, and no operation uses them;
- its server becomes the emulator's `/v1/meetings`.

Every other way the emulator's answers differ from the official schemas is listed in
`DIFFERENCES`: the operations concerned, what differs, and why. Each is either (b) what the
live API did (the captures in `tests/fixtures/live/` are responses it gave) or (c) an error in
the official file. Each carries the narrowest change to the official schemas that tolerates it;
the "tolerated" document is the official one with exactly those changes. Four runs:
- generated requests (schemathesis, seeded, derandomized) against a freshly seeded emulator,
  validated against the tolerated document;
- a deterministic pass that gives the emulator real data and calls every official operation,
  validating each answer against the tolerated document (schemathesis) and, separately,
  against the unchanged official schemas (`jsonschema_rs`, the validator schemathesis uses):
  the mismatches found there must be exactly the listed ones. A new mismatch fails, and so
  does a listed one that no longer happens;
- every check of schemathesis, every phase (examples, coverage, fuzzing, stateful), positive
  and negative, seeded and derandomized, against a seeded emulator, twice: with the tolerated
  document, where every failure class must be in `FAILURES`, and with it corrected as the
  SPEC rows say, where only the emulator's deliberate differences may remain. A class the
  table lacks fails, and so does a row whose class no longer happens. One check,
  `object_level_authorization`, compares what several identities may read; with the one
  identity here it finds nothing to compare.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture import providers
from PIL import Image
from schemathesis import engine
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import (
    content_type_conformance,
    load_all_checks,
    response_schema_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import events
from schemathesis.python import asgi
from starlette.applications import Starlette
from starlette.routing import Route

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from tests.contract.official_failures import (
    FAILURES,
    FailureClass,
    Kind,
    Row,
    classes_of,
    corrected,
)

SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "specs"
OFFICIAL_PATH = SPECS / "vonage-meetings-openapi.yml"

AUTH = {"Authorization": "Basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ=="}
SEED = 7
START = datetime(2026, 1, 1, tzinfo=UTC)
API_PREFIX = "/v1/meetings"
BASE_URL = "http://testserver" + API_PREFIX
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Response conformance only: the official file is too incomplete for status-code checks.
CHECKS = [response_schema_conformance, content_type_conformance]
# `:room_id` in the official paths; the name may be camelCase (`:themeId`).
EXPRESS_PARAMETER = re.compile(r":([A-Za-z_]\w*)")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def make_app() -> Starlette:
    return create_app(
        clock=Clock.frozen_at(START),
        ids=Ids(SEED),
        transport=httpx.MockTransport(lambda _request: httpx.Response(204)),
        run_timers=False,
    )


# -- the official file, loaded --------------------------------------------------------------


def load_official() -> dict[str, Any]:
    with OFFICIAL_PATH.open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.safe_load(file)
    return document


def _split(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/") if p]


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def lookup(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in _split(pointer.removeprefix("#")):
        node = node[part]
    return node


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until a node without one."""
    while isinstance(node, dict) and "$ref" in node:
        node = lookup(document, node["$ref"])
    return node


def _path_parameter(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The `in: path` parameter for `:name`: the file's component for it, if it has one."""
    components = document["components"]["parameters"]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()  # themeId -> theme_id
    component = components.get(f"{snake}_parameter")
    if component is not None and snake == name:
        return {"$ref": f"#/components/parameters/{snake}_parameter"}
    if component is not None:
        return {**copy.deepcopy(component), "name": name}
    schema = {"$ref": "#/components/schemas/SessionId"} if name == "session_id" else {}
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def convert(official: dict[str, Any]) -> dict[str, Any]:
    """The official document as the emulator serves it: `{param}` paths under `/v1/meetings`."""
    document = copy.deepcopy(official)
    components = document["components"]["parameters"]
    # Declared `in: query`, though each names a path segment; no operation refers to them.
    for name in ("room_id_parameter", "recording_id_parameter", "theme_id_parameter"):
        assert components[name]["in"] == "query", f"{name} changed in the official file"
        components[name]["in"] = "path"
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        names = EXPRESS_PARAMETER.findall(path)
        if names:
            item = {
                **item,
                "parameters": [_path_parameter(document, n) for n in names]
                + item.get("parameters", []),
            }
        paths[EXPRESS_PARAMETER.sub(r"{\1}", path)] = item
    document["paths"] = paths
    document["servers"] = [{"url": API_PREFIX}]
    return document


OFFICIAL = convert(load_official())


def operations_of(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """operationId -> (method, path)."""
    return {
        operation["operationId"]: (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


# -- the differences: each mismatch found, and why it stays --------------------------------

LIVE = "(b) the live API did so"
SPEC = "(c) the official file is wrong"
ROOM_ANSWERS = frozenset({"createRoom", "getRoom", "updateRoom", "getRooms", "getRoomsByThemeId"})
THEME_ANSWERS = frozenset({"createTheme", "getThemes", "getThemeById", "updateTheme"})
RECORDING_ANSWERS = frozenset({"getRecording", "getSessionRecordings"})
IN_ROOM = r"(/_embedded/\*)?"  # a room's fields, alone or in a listing page
IN_THEME = r"(/\*)?"  # a theme's fields, alone or in the list
IN_RECORDING = r"(/_embedded/recordings/\*)?"
LOGO_FIELDS = (
    "brand_image_colored",
    "brand_image_white",
    "branded_favicon",
    "brand_image_colored_url",
    "brand_image_white_url",
    "branded_favicon_url",
)
CALLBACK_URL_FIELDS = ("rooms_callback_url", "sessions_callback_url", "recordings_callback_url")

Patch = Callable[[dict[str, Any]], None]


def _own(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The schema at `pointer`, made that place's own: each `$ref` met on the way is replaced
    by a copy of its target, so a change there reaches nothing else that uses the target."""
    node: Any = document
    for part in _split(pointer):
        child = node[part]
        if isinstance(child, dict) and "$ref" in child:
            child = copy.deepcopy(resolve(document, child))
            node[part] = child
        node = child
    assert isinstance(node, dict), pointer
    return node


def nullable(*pointers: str) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        for pointer in pointers:
            _own(document, pointer)["nullable"] = True

    return patch


def set_keys(pointers: tuple[str, ...], **values: Any) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        for pointer in pointers:
            _own(document, pointer).update(values)

    return patch


def add_to_enum(pointer: str, value: str) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        _own(document, pointer)["enum"].append(value)

    return patch


def or_else(pointer: str, alternative: dict[str, Any]) -> Patch:
    """The schema at `pointer`, or `alternative`."""

    def patch(document: dict[str, Any]) -> None:
        node = _own(document, pointer)
        original = dict(node)
        node.clear()
        node["anyOf"] = [original, alternative]

    return patch


@dataclass(frozen=True)
class Mismatch:
    """Where an answer breaks the official schema: `location` is a JSON pointer into the body
    (array items as `*`), `keyword` the schema keyword that fails."""

    operation: str
    status: int
    location: str
    keyword: str
    detail: str = field(compare=False)

    def __str__(self) -> str:
        where = self.location or "/"
        return f"{self.operation} {self.status} {where} [{self.keyword}]: {self.detail}"


@dataclass(frozen=True)
class Difference:
    operations: frozenset[str]
    location: str  # a regular expression for `Mismatch.location`
    keyword: str  # a regular expression for `Mismatch.keyword`
    kind: str  # LIVE or SPEC
    what: str
    why: str
    tolerate: Patch = field(compare=False, repr=False)

    def covers(self, mismatch: Mismatch) -> bool:
        return (
            mismatch.operation in self.operations
            and re.fullmatch(self.keyword, mismatch.keyword) is not None
            and re.fullmatch(self.location, mismatch.location) is not None
        )


ROOM = "/components/schemas/Room/properties"
THEME = "/components/schemas/Theme/properties"
DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        ROOM_ANSWERS,
        rf"{IN_ROOM}/(created_at|expires_at)",
        "format",
        SPEC,
        "`created_at`, `expires_at` are date-times (`2026-01-01T00:00:00.000Z`); the file says "
        "`format: date`",
        "the file's own examples and descriptions are ISO 8601 date-times, as every fixture",
        set_keys(
            ("/components/schemas/Room_CreatedAt", "/components/schemas/Room_ExpiresAt"),
            format="date-time",
        ),
    ),
    Difference(
        ROOM_ANSWERS,
        rf"{IN_ROOM}/metadata",
        "type",
        LIVE,
        "`metadata` is `null` when not set; the file types it string, not nullable",
        "every room fixture has `metadata: null`",
        nullable(f"{ROOM}/metadata"),
    ),
    Difference(
        ROOM_ANSWERS,
        rf"{IN_ROOM}/theme_id",
        "type",
        LIVE,
        "`theme_id` is `null` for a room without a theme; the file types it string",
        "the room fixtures without a theme have `theme_id: null`",
        nullable(f"{ROOM}/theme_id"),
    ),
    Difference(
        ROOM_ANSWERS,
        rf"{IN_ROOM}/ui_settings/language",
        "enum",
        LIVE,
        '`ui_settings.language` is `"default"` when not set; not in the file\'s enum',
        'every room fixture has `"language": "default"` (docs/emulated.md, deliberate choices)',
        add_to_enum(f"{ROOM}/ui_settings/properties/language", "default"),
    ),
    Difference(
        ROOM_ANSWERS,
        rf"{IN_ROOM}/callback_urls/({'|'.join(CALLBACK_URL_FIELDS)})",
        "pattern",
        SPEC,
        "`callback_urls.*` fail the file's pattern `^https?:\\\\/\\\\/.*$`",
        "the pattern is escaped twice: it asks for a backslash before each slash, so no URL "
        "(not even the file's example `https://example.com/rooms`) matches; read as the "
        "intended `^https?:\\/\\/.*$`",
        set_keys(
            tuple(f"/components/schemas/CallbackUrls/properties/{f}" for f in CALLBACK_URL_FIELDS),
            pattern=r"^https?:\/\/.*$",
        ),
    ),
    Difference(
        THEME_ANSWERS,
        rf"{IN_THEME}/({'|'.join(LOGO_FIELDS)})",
        "type",
        LIVE,
        "the logo keys and links are `null` until logos are finalized; the file types them string",
        "fixtures `theme.json`, `list_themes.json`, `updated_theme.json` have them `null`",
        nullable(*(f"{THEME}/{name}" for name in LOGO_FIELDS)),
    ),
    Difference(
        THEME_ANSWERS,
        rf"{IN_THEME}/short_company_url",
        "type",
        LIVE,
        "`short_company_url` is `null` for a theme created without one; the file types it string",
        "it is optional on create; no fixture has a theme without one, but the live API "
        "wrote every unset field as `null` (the room's `metadata`, `theme_id`, the theme's "
        "logos), and so does the emulator",
        nullable(f"{THEME}/short_company_url"),
    ),
    Difference(
        RECORDING_ANSWERS,
        rf"{IN_RECORDING}/ended_at",
        "type",
        LIVE,
        "`ended_at` is `null` while a recording is `started`; the file types it date-time",
        "the recording fixtures are all uploaded; `null` follows the live API's way with "
        "unset fields (as above)",
        nullable("/components/schemas/Recording/properties/ended_at"),
    ),
    Difference(
        frozenset({"finalizeLogosForTheme"}),
        r"/(name|message)|/errors/\*",
        "enum|type",
        SPEC,
        "a malformed body (no `keys`, `keys: []`, `keys: [{}]`) answers 400 "
        "`InputValidationError` with its reasons (in `errors`, as strings, when several); "
        'the file allows only `BadRequestError` "could not finalize logos" with logo errors',
        "the file's 400 covers only the logo checks; the live API validated every request "
        "body first, with the generic shape (fixture `update_no_keys.json`)",
        or_else(
            "/paths/~1themes~1{theme_id}~1finalizeLogos/put/responses/400/content/"
            "application~1json/schema",
            {"$ref": "#/components/schemas/BadRequestError"},
        ),
    ),
)


def tolerated(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for difference in DIFFERENCES:
        difference.tolerate(document)
    return document


TOLERATED = tolerated(OFFICIAL)


class StrictValidator:
    """Every mismatch of an answer with the unchanged official schema for its status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[tuple[str, int], jsonschema_rs.Validator | None] = {}

    def _validator(self, operation_id: str, status: int) -> jsonschema_rs.Validator | None:
        if (operation_id, status) not in self._validators:
            method, path = operations_of(self.document)[operation_id]
            response = resolve(
                self.document, self.document["paths"][path][method]["responses"].get(str(status))
            )
            content = (response or {}).get("content", {}).get("application/json")
            validator = None
            if content is not None and "schema" in content:
                # OpenAPI 3.0 schemas are JSON Schema draft 4 (schemathesis validates them so).
                root = {
                    "$ref": "#/definitions/answer",
                    "definitions": {"answer": content["schema"]},
                    "components": self.document["components"],
                }
                validator = jsonschema_rs.Draft4Validator(root, validate_formats=True)
            self._validators[operation_id, status] = validator
        return self._validators[operation_id, status]

    def mismatches(self, operation_id: str, status: int, body: Any) -> list[Mismatch]:
        validator = self._validator(operation_id, status)
        if validator is None:
            return []
        return [
            Mismatch(
                operation_id,
                status,
                "".join("/*" if isinstance(p, int) else f"/{_escape(p)}" for p in e.instance_path),
                str(e.schema_path[-1]),
                e.message,
            )
            for e in validator.iter_errors(body)
        ]


STRICT = StrictValidator(OFFICIAL)


def load_schema(document: dict[str, Any]) -> schemathesis.BaseSchema:
    config = {
        # Requests go in-process to the `app=` given on each call; this only names where they go.
        "base-url": BASE_URL,
        # The coverage phase's boundary cases for these schemas take minutes to build at
        # collection; the examples and fuzzing phases are kept.
        "phases": {"coverage": {"enabled": False}},
        # Valid requests only: every call carries its credentials, and answers are what is
        # judged, not the refusal of invalid requests.
        "generation": {"mode": "positive"},
    }
    return schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(config))


TOLERATED_SCHEMA = load_schema(TOLERATED)


# -- the emulator with real data ------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    theme_id: str
    room_id: str  # long-term, with the theme, metadata and callback URLs
    instant_room_id: str
    session_id: str  # the long-term room's meeting
    recording_id: str


def json_of(response: schemathesis.Response) -> Any:
    is_json = response.headers.get("content-type", [""])[0].startswith("application/json")
    return response.json() if is_json else None


def _sent(response: requests.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def seed(client: asgi.ASGIClient, *, upload: bool) -> Seeded:
    """Reset the emulator, then: a theme; a long-term room with it; an instant room; a host
    in the long-term room, recorded and stopped; with `upload`, 5 s later (uploaded)."""
    _sent(client.post("/_emulator/reset", json={"seed": SEED}), 204)

    def api(method: str, path: str, body: Any, status: int) -> Any:
        return _sent(client.request(method, API_PREFIX + path, json=body, headers=AUTH), status)

    theme = api(
        "POST",
        "/themes",
        {
            "theme_name": "Brand",
            "main_color": "#12f64e",
            "brand_text": "Brand Inc.",
            "short_company_url": "brand-inc",
        },
        201,
    )
    room = api(
        "POST",
        "/rooms",
        {
            "display_name": "Weekly",
            "type": "long_term",
            "expires_at": "2026-06-30T12:00:00.000Z",
            "theme_id": theme["theme_id"],
            "metadata": "team=core",
            "callback_urls": {
                "rooms_callback_url": "https://hooks.example/rooms",
                "sessions_callback_url": "https://hooks.example/sessions",
                "recordings_callback_url": "https://hooks.example/recordings",
            },
        },
        201,
    )
    instant = api("POST", "/rooms", {"display_name": "Standup"}, 201)
    host = _sent(
        client.post(
            f"/_emulator/rooms/{room['id']}/participants", json={"name": "A", "is_host": True}
        ),
        201,
    )
    recording = _sent(client.post(f"/_emulator/sessions/{host['session_id']}/recordings"), 201)
    _sent(client.post(f"/_emulator/recordings/{recording['id']}/stop"), 200)
    if upload:
        _sent(client.post("/_emulator/clock", json={"advance_seconds": 5}), 200)
    return Seeded(
        theme_id=theme["theme_id"],
        room_id=room["id"],
        instant_room_id=instant["id"],
        session_id=host["session_id"],
        recording_id=recording["id"],
    )


# -- generated requests -----------------------------------------------------------------------


def _seeded_ids() -> Seeded:
    """The ids `seed` gives (they are the same every time: a seed, and a clock that does not
    move unless `upload`)."""
    with asgi.get_client(make_app()) as client:
        return seed(client, upload=False)


SEEDED = _seeded_ids()
# An expiry a long-term room accepts (more than 10 minutes, at most 5 years ahead).
ACCEPTED_EXPIRY = "2026-03-01T00:00:00.000Z"
# The theme update's request body (its schema is written in place, not a component).
THEME_UPDATE_BODY = "/paths/~1themes~1{theme_id}/patch/requestBody/content/application~1json/schema"


def _inlined(document: dict[str, Any], node: Any) -> Any:
    """A copy of `node` with every `$ref` in it replaced by a copy of its target."""
    node = resolve(document, node)
    if isinstance(node, dict):
        return {key: _inlined(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(document, value) for value in node]
    return node


def _as_joi_checks(schema: Any) -> None:
    """Joi's defaults, with which the live API validated every body: no unknown fields and
    no empty strings."""
    if not isinstance(schema, dict):
        return
    if "properties" in schema:
        schema.setdefault("additionalProperties", False)
    if schema.get("type") == "string" and "enum" not in schema:
        schema["minLength"] = max(1, schema.get("minLength", 0))
    for subschema in schema.get("properties", {}).values():
        _as_joi_checks(subschema)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for subschema in schema.get(keyword, []):
            _as_joi_checks(subschema)
    _as_joi_checks(schema.get("items"))


def with_seeded_values(
    document: dict[str, Any], seeded: Seeded, *, running_recording_id: str | None = None
) -> dict[str, Any]:
    """`document` with the seeded ids offered for its path parameters, and the seeded theme
    and an accepted expiry offered in bodies, each besides whatever the schema allows: the
    values it accepts stay the same, only more of the generated ones reach real data."""
    document = copy.deepcopy(document)
    recordings = [seeded.recording_id]
    if running_recording_id is not None:
        recordings.append(running_recording_id)
    values = {
        "room_id": [seeded.room_id, seeded.instant_room_id],
        "theme_id": [seeded.theme_id],
        "themeId": [seeded.theme_id],
        "recording_id": recordings,
        "session_id": [seeded.session_id],
    }
    for item in document["paths"].values():
        parameters = [copy.deepcopy(resolve(document, p)) for p in item.get("parameters", [])]
        for parameter in parameters:
            if parameter["in"] == "path":
                schema = parameter["schema"]
                parameter["schema"] = {"anyOf": [{"enum": values[parameter["name"]]}, schema]}
        if parameters:
            item["parameters"] = parameters
    schemas = document["components"]["schemas"]
    for name, offered in (
        ("Theme_Id", [seeded.theme_id]),
        ("Application_DefaultThemeId", [seeded.theme_id]),
        ("Room_ExpiresAt", [ACCEPTED_EXPIRY]),
    ):
        schemas[name] = {"anyOf": [{"enum": offered}, schemas[name]]}
    return document


def steered(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with its requests steered towards what the seeded emulator accepts, so
    generated requests reach real answers and not only refusals. Requests only: each change
    is to a schema no answer uses, or adds to a schema values it already allows, so no
    response schema becomes looser or stricter."""
    document = with_seeded_values(document, SEEDED)
    # Each request body becomes its own copy, checked as the live API checked it. Updates
    # need at least one field (as the file's descriptions say), a theme update its details.
    for item in document["paths"].values():
        for method, operation in item.items():
            if method in HTTP_METHODS and "requestBody" in operation:
                content = operation["requestBody"]["content"]["application/json"]
                content["schema"] = _inlined(document, content["schema"])
                _as_joi_checks(content["schema"])
                details = content["schema"].get("properties", {}).get("update_details")
                if details is not None:
                    details["minProperties"] = 1
    _own(document, THEME_UPDATE_BODY)["required"] = ["update_details"]
    return document


FUZZ_SCHEMA = load_schema(steered(TOLERATED))
# Deterministic, and small enough for the whole module to take well under a minute.
FUZZ_SETTINGS = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    # `fresh_app` is one app per operation, reset and seeded again before each example that
    # may change it.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def fresh_app() -> Starlette:
    return make_app()


@FUZZ_SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_answers_to_generated_requests_conform(
    case: schemathesis.Case, fresh_app: Starlette
) -> None:
    # Reads change nothing: the emulator is seeded again only before a change.
    if case.method.upper() != "GET" or not hasattr(fresh_app.state, "seeded"):
        with asgi.get_client(fresh_app) as client:
            fresh_app.state.seeded = seed(client, upload=False)
        assert fresh_app.state.seeded == SEEDED
    response = case.call_and_validate(app=fresh_app, headers=AUTH, checks=CHECKS)
    # The tolerated document lets through what `DIFFERENCES` lists; this holds each answer to
    # the list itself.
    operation_id = case.operation.definition.raw["operationId"]
    unexpected = [
        str(m)
        for m in STRICT.mismatches(operation_id, response.status_code, json_of(response))
        if not any(d.covers(m) for d in DIFFERENCES)
    ]
    assert unexpected == [], "mismatches with the official schemas not in DIFFERENCES"


# -- the document and the app -----------------------------------------------------------------


def test_converted_paths_have_their_path_parameters() -> None:
    for path, item in OFFICIAL["paths"].items():
        declared = sorted(
            resolve(OFFICIAL, p)["name"]
            for p in item.get("parameters", [])
            if resolve(OFFICIAL, p)["in"] == "path"
        )
        assert declared == sorted(re.findall(r"{(\w+)}", path)), path
        assert ":" not in path, path
    assert len(operations_of(OFFICIAL)) == 17
    TOLERATED_SCHEMA.validate()  # the converted document is valid OpenAPI 3.0


def test_every_official_operation_is_served() -> None:
    def normal(path: str) -> str:
        return re.sub(r"{[^}]+}", "{}", path)

    served = {
        (method, normal(route.path))
        for route in make_app().routes
        if isinstance(route, Route) and route.methods
        for method in route.methods
    }
    official = {
        (method.upper(), normal(API_PREFIX + path))
        for method, path in operations_of(OFFICIAL).values()
    }
    assert sorted(official - served) == []


# -- a deterministic pass over real data ------------------------------------------------------


class Official:
    """Calls an official operation; checks its answer against the tolerated document
    (schemathesis) and collects its mismatches with the unchanged official schema."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.answered: set[tuple[str, int]] = set()
        self.mismatches: list[Mismatch] = []
        self.failures: list[str] = []

    def __call__(
        self,
        operation_id: str,
        status: int | None,
        *,
        path_parameters: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        operation = TOLERATED_SCHEMA.find_operation_by_id(operation_id)
        extra: dict[str, Any] = {}
        if body is not None:
            extra = {"body": body, "media_type": "application/json"}
        case = operation.Case(path_parameters=path_parameters or {}, query=query or {}, **extra)
        response = case.call(app=self.app, headers=AUTH)
        answered = response.status_code
        assert status in (None, answered), f"{operation_id}: {answered} {response.text}"
        self.answered.add((operation_id, answered))
        data = json_of(response)
        self.mismatches += STRICT.mismatches(operation_id, answered, data)
        try:
            case.validate_response(response, checks=CHECKS, headers=AUTH)
        except (AssertionError, BaseExceptionGroup) as failure:  # one failure, or a group
            self.failures.append(f"{operation_id} {answered}: {failure}")
        return data

    def unexpected(self) -> list[str]:
        """The mismatches `DIFFERENCES` does not list."""
        return [str(m) for m in self.mismatches if not any(d.covers(m) for d in DIFFERENCES)]


def png(width: int, height: int) -> bytes:
    """A logo the emulator accepts: a white bar on a transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((255, 255, 255, 255), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


LOGO_SIZES = {"white": (200, 50), "colored": (300, 80), "favicon": (32, 32)}


def deterministic_pass() -> Official:
    """Give an emulator real data, call every official operation, and return what was seen."""
    app = make_app()
    call = Official(app)
    with asgi.get_client(app) as client:
        call("getThemes", 200)  # none yet
        seeded = seed(client, upload=True)
        theme = {"theme_id": seeded.theme_id}
        room = {"room_id": seeded.room_id}
        instant = {"room_id": seeded.instant_room_id}
        unknown_theme = {"theme_id": UNKNOWN_ID}

        # Themes.
        plain = call("createTheme", 201, body={"main_color": "#FF0000", "brand_text": "Plain"})
        taken = {"theme_name": "Brand", "main_color": "#fff", "brand_text": "Taken"}
        call("createTheme", 409, body=taken)
        call("getThemes", 200)
        call("getThemeById", 200, path_parameters=theme)
        call("getThemeById", 404, path_parameters=unknown_theme)
        rename = {"update_details": {"brand_text": "Brand", "main_color": "#0A0B0C"}}
        call("updateTheme", 200, path_parameters=theme, body=rename)
        call("updateTheme", 404, path_parameters=unknown_theme, body=rename)

        # Logos: upload one of each type to its presigned form, then finalize them.
        keys = []
        for form in call("getUploadUrlsForTheme", 200):
            data = png(*LOGO_SIZES[form["fields"]["logoType"]])
            file = {"file": ("logo.png", data)}
            _sent(client.post(form["url"], data=form["fields"], files=file), 204)
            keys.append(form["fields"]["key"])
        call("finalizeLogosForTheme", 200, path_parameters=theme, body={"keys": keys})
        call("finalizeLogosForTheme", 400, path_parameters=theme, body={"keys": ["not-a-key"]})
        call("finalizeLogosForTheme", 400, path_parameters=theme, body={})
        call("finalizeLogosForTheme", 400, path_parameters=theme, body={"keys": [{}, 1]})
        call("finalizeLogosForTheme", 404, path_parameters=unknown_theme, body={"keys": keys})
        with_logos = call("getThemeById", 200, path_parameters=theme)
        assert with_logos["branded_favicon_url"] is not None

        # Rooms.
        call("createRoom", 201, body={"display_name": "Instant", "ui_settings": {"language": "es"}})
        call(
            "createRoom",
            201,
            body={
                "display_name": "Quarterly",
                "type": "long_term",
                "expires_at": "2026-12-31T00:00:00.000Z",
                "expire_after_use": True,
                "join_approval_level": "explicit_approval",
                "available_features": {"is_captions_available": True},
            },
        )
        call("createRoom", 400, body={"display_name": "x", "type": "long_term"})
        call("getRoom", 200, path_parameters=room)
        call("getRoom", 200, path_parameters=instant)
        call("getRoom", 404, path_parameters={"room_id": UNKNOWN_ID})
        call(
            "updateRoom",
            200,
            path_parameters=room,
            body={"update_details": {"initial_join_options": {"microphone_state": "off"}}},
        )
        expire = {"update_details": {"expire_after_use": True}}
        call("updateRoom", 400, path_parameters=instant, body=expire)  # an instant room
        call("updateRoom", 404, path_parameters={"room_id": UNKNOWN_ID}, body=expire)
        call("getRooms", 200)
        page = call("getRooms", 200, query={"page_size": 1, "start_id": 2})
        assert {"prev", "next"} <= set(page["_links"])
        call("getRoomsByThemeId", 200, path_parameters={"themeId": seeded.theme_id})
        call("getRoomsByThemeId", 404, path_parameters={"themeId": UNKNOWN_ID})

        # Recordings: the seeded one (uploaded), and one still running in another meeting.
        recording = {"recording_id": seeded.recording_id}
        assert call("getRecording", 200, path_parameters=recording)["status"] == "uploaded"
        call("getSessionRecordings", 200, path_parameters={"session_id": seeded.session_id})
        joining = f"/_emulator/rooms/{seeded.instant_room_id}/participants"
        guest = _sent(client.post(joining, json={"name": "B"}), 201)
        running = _sent(client.post(f"/_emulator/sessions/{guest['session_id']}/recordings"), 201)
        running_id = {"recording_id": running["id"]}
        assert call("getRecording", 200, path_parameters=running_id)["status"] == "started"
        call("getSessionRecordings", 200, path_parameters={"session_id": guest["session_id"]})
        call("deleteRecording", 500, path_parameters=running_id)  # undocumented: not judged
        call("deleteRecording", 204, path_parameters=recording)
        call("deleteRecording", 404, path_parameters=recording)
        call("getRecording", 404, path_parameters=recording)
        call("getSessionRecordings", 404, path_parameters={"session_id": "2_unknown"})

        # The application, dial-in numbers.
        for theme_id, status in ((seeded.theme_id, 200), (UNKNOWN_ID, 400)):
            body = {"update_details": {"default_theme_id": theme_id}}
            call("updateApplication", status, body=body)
        call("getDialInNumbers", 200)

        # Deleting themes: in use, unused, forced.
        call("deleteTheme", 400, path_parameters=theme)
        call("deleteTheme", 204, path_parameters={"theme_id": plain["theme_id"]})
        call("deleteTheme", 204, path_parameters=theme, query={"force": True})
        call("deleteTheme", 404, path_parameters=theme)
    return call


def test_real_answers_conform_but_for_the_listed_differences() -> None:
    call = deterministic_pass()
    succeeded = {operation for operation, status in call.answered if status < 300}
    assert sorted(set(operations_of(OFFICIAL)) - succeeded) == [], "operations never answered 2xx"
    assert call.unexpected() == [], "mismatches with the official schemas not in DIFFERENCES"
    stale = [d.what for d in DIFFERENCES if not any(d.covers(m) for m in call.mismatches)]
    assert stale == [], "DIFFERENCES no longer observed: drop them"
    assert call.failures == [], "answers that break even the tolerated document"


def test_differences_are_explained() -> None:
    for difference in DIFFERENCES:
        assert difference.kind in (LIVE, SPEC)
        assert difference.operations <= set(operations_of(OFFICIAL)), difference.what
        assert difference.what
        assert difference.why


# -- a bug this module found, fixed: values ending in a newline broke the official patterns ----


@pytest.mark.parametrize(
    "body",
    [
        {"main_color": "#fff\n", "brand_text": "Brand"},
        {"main_color": "#fff", "brand_text": "Brand", "short_company_url": "brand\n"},
    ],
    ids=["main_color", "short_company_url"],
)
def test_theme_values_ending_in_a_newline_are_refused_or_conform(body: dict[str, str]) -> None:
    call = Official(make_app())
    call("createTheme", None, body=body)
    assert call.unexpected() == []
    assert call.failures == []


# -- every check schemathesis has, in both generation modes -----------------------------------

# Every check of the installed schemathesis. (`max_response_time` is not a registered check:
# it runs only with a time limit, and timings would make the run unrepeatable.)
load_all_checks()
EVERY_CHECK = tuple(REGISTERED_CHECKS.get_all_names())
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Per operation and phase: each of the two runs takes about 12 s of one core.
EVERY_CHECK_EXAMPLES = 20


@dataclass
class CheckRun:
    """What a run of every check saw: each failure class with a request that shows it."""

    classes: dict[FailureClass, str] = field(default_factory=dict)
    checks: set[str] = field(default_factory=set)  # the checks that judged an answer
    modes: set[str] = field(default_factory=set)  # generation modes of the requests sent
    phases: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def add(self, failure: Failure, check: str, operation: str, response: Any, sample: str) -> None:
        status = response.status_code if response is not None else None
        body = (response.content or b"") if response is not None else b""
        for each in classes_of(check, operation, failure.message, status, body):
            self.classes.setdefault(each, f"{sample[:300]} -> {status} {body[:200]!r}")


def _every_check_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            # Requests go in-process to the app the schema is given; this only names where.
            "base-url": BASE_URL,
            "headers": AUTH,
            "seed": SEED,
            "workers": 1,
            # Nothing learnt in one run may steer the next, and nothing is written to disk.
            "cache": {"enabled": False},
            # Every distinct failure of an operation, not only its first.
            "continue-on-failure": True,
            "generation": {
                "mode": "all",
                "deterministic": True,
                "max-examples": EVERY_CHECK_EXAMPLES,
                "database": "none",
            },
            "phases": {
                **{phase: {"enabled": True} for phase in PHASES},
                # Generation that learns from the emulator's error messages would change
                # with their wording: the failures found must depend on the data, not on it.
                "fuzzing": {"enabled": True, "error-feedback": {"enabled": False}},
            },
            "checks": {name: {"enabled": True} for name in EVERY_CHECK},
        }
    )


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis mixes into what it generates literals it finds in the source of the local
    modules imported so far (the emulator's). What a run sends would then depend on which
    modules other tests happened to import, and on every literal in the emulator's code; so
    while a run lasts, it finds none."""
    empty = providers.Constants()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(providers, "_get_local_constants", lambda: empty)
        providers.CONSTANTS_CACHE.cache.clear()
        try:
            yield
        finally:
            providers.CONSTANTS_CACHE.cache.clear()


def run_every_check(document: dict[str, Any]) -> CheckRun:
    """Seed an emulator (with one recording uploaded and one still running), then let
    schemathesis run every phase and every check against it with `document`."""
    app = make_app()
    with asgi.get_client(app) as client:
        seeded = seed(client, upload=True)
        joining = f"/_emulator/rooms/{seeded.instant_room_id}/participants"
        guest = _sent(client.post(joining, json={"name": "B"}), 201)
        running = _sent(client.post(f"/_emulator/sessions/{guest['session_id']}/recordings"), 201)
    steered_ids = with_seeded_values(document, seeded, running_recording_id=running["id"])
    schema = schemathesis.openapi.from_dict(steered_ids, config=_every_check_config())
    schema.app = app
    run = CheckRun()
    with _without_local_constants():
        run_events = list(engine.from_schema(schema).execute())
    for event in run_events:
        if isinstance(event, events.ScenarioFinished):
            run.phases.add(event.phase.value)
            recorder = event.recorder
            for node in recorder.cases.values():
                if node.value.meta is not None:
                    run.modes.add(node.value.meta.generation.mode.value)
            for case_id, checks in recorder.checks.items():
                case = recorder.cases[case_id].value
                interaction = recorder.interactions.get(case_id)
                response = interaction.response if interaction is not None else None
                for check in checks:
                    run.checks.add(check.name)
                    if check.failure_info is not None:
                        info = check.failure_info
                        run.add(
                            info.failure,
                            check.name,
                            case.operation.label,
                            response,
                            info.code_sample,
                        )
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:  # found by checks that look at the whole run
                check = failure.checks[0] if failure.checks else type(failure).__name__
                run.add(failure, check, failure.operation or "", None, str(failure))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(repr(event))
    return run


@pytest.fixture(scope="module")
def published_run() -> CheckRun:
    """Every check, with the official file as the module loads it (paths converted, answers
    tolerated as `DIFFERENCES` says)."""
    return run_every_check(TOLERATED)


@pytest.fixture(scope="module")
def corrected_run() -> CheckRun:
    """Every check, with the official file corrected as the SPEC rows of `FAILURES` say."""
    return run_every_check(corrected(TOLERATED))


def _rows_covering(failure: FailureClass, kinds: tuple[Kind, ...]) -> list[Row]:
    return [row for row in FAILURES if row.kind in kinds and row.covers(failure)]


def _listing(classes: dict[FailureClass, str]) -> list[str]:
    return [f"{failure}\n    e.g. {example}" for failure, example in sorted(classes.items())]


def test_every_check_runs_in_both_modes_and_every_phase(
    published_run: CheckRun, corrected_run: CheckRun
) -> None:
    for run in (published_run, corrected_run):
        assert run.errors == []
        assert sorted(run.checks) == sorted(EVERY_CHECK)
        assert run.modes == {"positive", "negative"}
        assert sorted(run.phases) == sorted(PHASES)


def test_every_failure_with_the_published_file_is_in_the_table(published_run: CheckRun) -> None:
    unclassified = {
        failure: example
        for failure, example in published_run.classes.items()
        if len(_rows_covering(failure, (Kind.SPEC, Kind.CHOICE))) != 1
    }
    assert _listing(unclassified) == [], "failure classes with no row (or several) in FAILURES"


def test_with_the_corrected_file_only_deliberate_differences_remain(
    corrected_run: CheckRun,
) -> None:
    left = {
        failure: example
        for failure, example in corrected_run.classes.items()
        if len(_rows_covering(failure, (Kind.CHOICE,))) != 1
        or _rows_covering(failure, (Kind.SPEC, Kind.EMULATOR))
    }
    assert _listing(left) == [], "failures that are not deliberate differences"


def test_every_row_still_happens(published_run: CheckRun, corrected_run: CheckRun) -> None:
    seen = {
        Kind.SPEC: set(published_run.classes),
        Kind.CHOICE: set(published_run.classes) | set(corrected_run.classes),
    }
    gone = [
        f"{row.check} | {name} | {row.description}"
        for row in FAILURES
        if row.kind in seen
        for name in row.operations
        if not any(row.covers(f) and f.operation == name for f in seen[row.kind])
    ]
    assert gone == [], "rows of FAILURES whose failure no longer happens: drop them"


FIDELITY = Path(__file__).resolve().parents[2] / "docs" / "fidelity.md"
LEDGER_SECTION = "## The official definition under every check"


def test_the_table_is_explained_and_in_the_ledger() -> None:
    ledger = FIDELITY.read_text(encoding="utf-8").partition(LEDGER_SECTION)[2]
    assert ledger, f"docs/fidelity.md has no section {LEDGER_SECTION!r}"
    labels = {f"{method.upper()} {path}" for method, path in operations_of(OFFICIAL).values()}
    for row in FAILURES:
        assert row.check in EVERY_CHECK, row
        assert set(row.operations) <= labels, row
        assert row.evidence, row
        assert (row.correction is not None) == (row.kind is Kind.SPEC), row
        lines = [line for line in ledger.splitlines() if line.startswith(f"| {row.ledger}: ")]
        assert len(lines) == 1, f"docs/fidelity.md: one row for {row.ledger!r}"
        assert f"`{row.check}`" in lines[0].split(" | ")[0], f"the row names {row.check}"


def test_a_failure_class_keeps_field_names_and_drops_values() -> None:
    body = (
        b'{"message":"\\"a\\"b\\" is not allowed. \\"keys[3]\\" must be a string. '
        b'\\"update_details.callback_urls.x y\\" is not allowed. \\"expires_at\\" must be '
        b'greater than \\"2026-01-01T00:10:00.000Z\\" (more than 10 minutes from now)",'
        b'"name":"InputValidationError","status":400}'
    )
    classes = classes_of("positive_data_acceptance", "POST /rooms", "", 400, body)
    assert [c.description for c in classes] == [
        '400 "expires_at" must be greater than "<time>" (more than 10 minutes from now)',
        '400 "keys[n]" must be a string',
        '400 "update_details.callback_urls.…" is not allowed',
        '400 "…" is not allowed',
    ]
    theme = b'{"message":"could not delete theme","name":"BadRequestError","status":400}'
    in_use = classes_of("positive_data_acceptance", "DELETE /themes/{theme_id}", "", 400, theme)
    assert [c.description for c in in_use] == ["400 could not delete theme"]
    assert classes_of("status_code_conformance", "GET /rooms", "", 400, theme) == [
        FailureClass("status_code_conformance", "GET /rooms", "400 undocumented")
    ]
