"""`openapi/meetings-emulator.yaml` against the app it describes.

The document must be valid OpenAPI 3.1, name exactly the routes the app serves, and every
answer the app gives to requests generated from it must conform to it (schemathesis, run
in-process against the ASGI app with a frozen clock and seeded ids).

One answer is a 5xx on purpose: deleting a recording that is not uploaded yet answers 500,
as the live API's reference documents. For that operation alone `not_a_server_error` is
replaced by a check that lets through that documented 500 and no other.

The document's `webhooks` are checked against the callbacks the emulator really sends in a
whole meeting, captured by an `httpx.MockTransport` (no test touches the network).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import threading
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import httpx
import jsonschema_rs
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.checks import (
    CheckContext,
    CheckFunction,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "meetings-emulator.yaml"
AUTH = {"Authorization": "Basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ=="}
SEED = 7
START = datetime(2026, 1, 1, tzinfo=UTC)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CONVERTER = re.compile(r":\w+}")
# The one API operation the live reference (and so the emulator) leaves open.
OPEN_API_OPERATIONS = frozenset({"listDialInNumbers", "betaListDialInNumbers"})
# The local meeting page: a browser page outside `/_emulator/`, open like the control plane.
OPEN_PAGE_OPERATIONS = frozenset({"openMeetingPage"})
# Left out of every schemathesis run, each covered by chosen requests instead: fault rules
# would inject errors and latency into later calls, a snapshot put back replaces the state
# mid-run, and the event stream never ends.
NOT_GENERATED_OPERATIONS = ["addFault", "addCallbackFault", "restoreSnapshot", "streamEvents"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The operations whose documented answers include a deliberate 500 (see the module docstring).
DELIBERATE_500_OPERATIONS = frozenset({"deleteRecording", "betaDeleteRecording"})
DELIBERATE_500_MESSAGE = re.compile(r"^Internal Server Error$")
# Deterministic runs, small enough for the whole file (some 60 operations) to take about a
# minute. A function-scoped `fresh_app` fixture is shared by every example of one operation on
# purpose: state built by earlier examples (rooms, a moved clock) is part of what gets tested.
FUZZ_SETTINGS = settings(
    max_examples=35,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
STATEFUL_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[],
)
# Chains of links are longer in a meeting (create -> join -> start -> stop -> get), so more steps.
# Hypothesis also draws on constants it finds in the project's own modules, so what it
# generates moves with unrelated code: the budget keeps a margin (25 examples stopped
# reaching `stopRecording` 200 when tenants came in; 60 do, in 8 s).
MEETING_STATEFUL_SETTINGS = settings(STATEFUL_SETTINGS, max_examples=60, stateful_step_count=25)


def make_app(settings: Settings | None = None) -> Starlette:
    # No background timer task: the clock is frozen, and due transitions still happen on
    # the next request. Callbacks to the rooms' (generated) URLs never reach the network.
    return create_app(
        settings,
        clock=Clock.frozen_at(START),
        ids=Ids(SEED),
        run_timers=False,
        transport=httpx.MockTransport(lambda _request: httpx.Response(204)),
    )


@cache
def load_document() -> dict[str, Any]:
    """The document, parsed once (callers only read it)."""
    with SPEC_PATH.open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.safe_load(file)
    return document


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/...`) until a node without one."""
    while "$ref" in node:
        reference: str = node["$ref"]
        assert reference.startswith("#/"), f"only local references are expected: {reference}"
        target: Any = document
        for part in reference[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in resolve(document, item)
        if method in HTTP_METHODS
    }


def served_operations(app: Starlette) -> set[tuple[str, str]]:
    """Each route's methods and path, its parameters' converters left out (`{key:path}` is
    `{key}` in the document)."""
    operations: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), f"unexpected route type: {route!r}"
        assert route.methods is not None
        path = CONVERTER.sub("}", route.path)
        operations |= {(method, path) for method in route.methods if method != "HEAD"}
    return operations


def only_the_documented_server_error(
    _ctx: CheckContext, response: schemathesis.Response, _case: schemathesis.Case
) -> None:
    """A 5xx must be the documented refusal to delete a recording not uploaded yet."""
    if response.status_code >= 500:
        assert response.status_code == 500, f"unexpected server error: {response.text}"
        message = response.json()["message"]
        assert DELIBERATE_500_MESSAGE.match(message), f"unexpected 500: {response.text}"


def checks_for(case: schemathesis.Case) -> list[CheckFunction]:
    """`CHECKS`, but for the deliberate-500 operations the narrower server-error check."""
    if case.operation.definition.raw["operationId"] in DELIBERATE_500_OPERATIONS:
        return [
            only_the_documented_server_error,
            *(check for check in CHECKS if check is not not_a_server_error),
        ]
    return CHECKS


# Characters XML 1.0 does not allow, even escaped.
NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def s3_error_fields(content: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(content)
    assert root.tag == "Error", f"not an S3 error document: {content!r}"
    return {child.tag: child.text or "" for child in root}


@schemathesis.deserializer("application/xml")
def s3_error_document(_ctx: Any, response: schemathesis.Response) -> dict[str, str]:
    """The emulated bucket's `<Error>` documents, as the object of their child elements the
    document's `S3Error` schema describes, so their answers are checked too.

    Characters XML cannot hold come back as U+FFFD (see `test_s3_errors_are_well_formed_xml`)."""
    return s3_error_fields(response.content)


SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
# Requests go in-process to the `app=` given on each call; this only names the host they carry.
SCHEMA.config.update(base_url="http://testserver")
# The longest a generated `wait=` holds an answer: 60 s (the document's bound) for each of
# dozens of cases would take the run past its budget. A number of seconds (generated as a
# number, or as text by the coverage phase) is cut to this; anything else is left as it
# is, for the 400 it earns.
MOST_GENERATED_WAIT = 0.01


def cut_wait(case: schemathesis.Case) -> None:
    """A generated case's `wait`, made short (every phase's cases, examples included)."""
    wait = (case.query or {}).get("wait")
    if isinstance(wait, bool) or not isinstance(wait, int | float | str):
        return
    try:
        seconds = float(wait)
    except ValueError:
        return
    if seconds > MOST_GENERATED_WAIT:
        assert case.query is not None
        case.query["wait"] = MOST_GENERATED_WAIT if isinstance(wait, int | float) else "0.01"


# `flush` waits (up to `timeout`, 300 s at most) for callbacks still being sent. The fuzz test
# calls it on a fresh app, with nothing to wait for; a stateful run, which makes callbacks,
# leaves it out (the chosen requests below call it with a small timeout).
# Tenants outlive a scenario's reset (a reset keeps them, as it keeps their credentials), so a
# scenario that makes one would change the next: `test_tenants.py` follows their lifecycle.
TENANT_OPERATIONS = ["createTenant", "listTenants", "getTenant", "dropTenant"]
STATEFUL_SCHEMA = SCHEMA.exclude(
    operation_id=["flushCallbacks", *TENANT_OPERATIONS, *NOT_GENERATED_OPERATIONS]
)
# The fuzz test's operations (`SCHEMA` itself keeps them all, for `Caller`).
FUZZ_SCHEMA = SCHEMA.exclude(operation_id=NOT_GENERATED_OPERATIONS)
# The meeting's operations alone, following only the links the document declares (no inferred
# ones): in a run over the whole document, the rooms' operations use up most of the steps.
MEETING_SCHEMA = schemathesis.openapi.from_path(
    SPEC_PATH,
    config=SchemathesisConfig.from_dict(
        {
            "base-url": "http://testserver",
            "phases": {"stateful": {"inference": {"algorithms": []}}},
        }
    ),
).include(
    operation_id=[
        "createRoom",
        "joinRoom",
        "getRoomSession",
        "admitParticipant",
        "leaveRoom",
        "startRecording",
        "stopRecording",
        "getRecording",
        "betaGetRecording",
        "getSessionRecordings",
        "betaGetSessionRecordings",
        "deleteRecording",
        "betaDeleteRecording",
        "downloadRecording",
    ]
)


@pytest.fixture
def fresh_app() -> Starlette:
    """A new emulator for each test (each operation, for the parametrized fuzz test)."""
    return make_app()


# -- the document itself ---------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    # Validation against the OpenAPI 3.1 meta-schema (openapi-spec-validator is not installed).
    SCHEMA.validate()


def test_operation_ids_are_unique_and_links_name_real_operations() -> None:
    document = load_document()
    operations = [
        resolve(document, item)[method]
        for path, item in document["paths"].items()
        for method in resolve(document, item)
        if method in HTTP_METHODS
    ]
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids)), "duplicate operationIds"

    linked: set[str] = set()
    for operation in operations:
        for response in operation["responses"].values():
            for link in resolve(document, response).get("links", {}).values():
                linked.add(resolve(document, link)["operationId"])
    assert linked, "the document has no links for stateful testing"
    assert linked <= set(ids)
    assert {"getRoom", "updateRoom", "betaGetRoom", "betaUpdateRoom"} <= linked
    # create theme -> get / update / delete / its rooms / logos / default, and a room with it
    assert {
        "getTheme",
        "updateTheme",
        "deleteTheme",
        "listThemeRooms",
        "finalizeLogos",
        "updateApplication",
        "createRoom",
        "betaGetTheme",
        "betaUpdateApplication",
        "redeliverCallback",
    } <= linked
    # create room -> join -> session / leave, and join -> start -> stop -> get recording
    assert {
        "joinRoom",
        "getRoomSession",
        "leaveRoom",
        "startRecording",
        "stopRecording",
        "getRecording",
        "betaGetRecording",
    } <= linked


def test_every_route_has_an_operation_and_every_operation_a_route() -> None:
    served = served_operations(make_app())
    documented = documented_operations(load_document())
    assert sorted(served - documented) == [], "routes the document does not describe"
    assert sorted(documented - served) == [], "operations the app does not serve"


def test_api_operations_require_credentials_and_control_plane_none() -> None:
    document = load_document()
    default = document["security"]
    assert {scheme for requirement in default for scheme in requirement} == {
        "basicAuth",
        "bearerAuth",
    }
    for path, item in document["paths"].items():
        for method, operation in resolve(document, item).items():
            if method not in HTTP_METHODS:
                continue
            security = operation.get("security", default)
            if (
                path.startswith("/_emulator/")
                or operation["operationId"] in OPEN_API_OPERATIONS | OPEN_PAGE_OPERATIONS
            ):
                assert security == [], f"{method.upper()} {path} should need no credentials"
            else:
                assert security == default, f"{method.upper()} {path} should need credentials"


# -- the app's answers conform to the document -----------------------------------------------


@FUZZ_SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_app_conforms_to_document(case: schemathesis.Case, fresh_app: Starlette) -> None:
    cut_wait(case)
    case.call_and_validate(app=fresh_app, headers=AUTH, checks=checks_for(case))


def follow_links(
    schema: schemathesis.BaseSchema, app: Starlette, run_settings: settings
) -> Counter[tuple[str, int]]:
    """Run `schema`'s state machine against `app`, each scenario from scratch; count the
    answers by operationId and status."""
    answers: Counter[tuple[str, int]] = Counter()
    base = schema.as_state_machine()

    class Lifecycle(base):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            app.state.emulator.reset(SEED)

        def before_call(self, case: schemathesis.Case) -> None:
            cut_wait(case)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": app, "headers": AUTH}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            answers[case.operation.definition.raw["operationId"], response.status_code] += 1
            case.validate_response(response, checks=checks_for(case), headers=kwargs.get("headers"))

    Lifecycle.run(settings=run_settings)
    return answers


def test_stateful_links_conform_to_document(fresh_app: Starlette) -> None:
    """Follow the document's links from scratch (create -> get / update / delete -> get, ...)."""
    follow_links(STATEFUL_SCHEMA, fresh_app, STATEFUL_SETTINGS)


def test_stateful_meeting_links_conform_to_document(fresh_app: Starlette) -> None:
    """create room -> join -> session / leave, join -> start recording -> stop -> get recording.

    Each answer below needs an id that only a link carries, so it shows the link was followed.
    """
    answers = follow_links(MEETING_SCHEMA, fresh_app, MEETING_STATEFUL_SETTINGS)
    followed = {
        ("joinRoom", 201),
        ("getRoomSession", 200),
        ("leaveRoom", 204),
        ("startRecording", 201),
        ("stopRecording", 200),
    }
    assert followed <= set(answers), f"links not followed: {sorted(followed - set(answers))}"
    assert answers["getRecording", 200] + answers["betaGetRecording", 200] > 0


# -- chosen requests, for the parts of the document random data rarely reaches ----------------


PARTICIPANTS = "/_emulator/rooms/{room_id}/participants"
PARTICIPANT = "/_emulator/rooms/{room_id}/participants/{participant_id}"
ADMIT = "/_emulator/rooms/{room_id}/participants/{participant_id}/admit"
ROOM_SESSION = "/_emulator/rooms/{room_id}/session"
START_RECORDING = "/_emulator/sessions/{session_id}/recordings"
STOP_RECORDING = "/_emulator/recordings/{recording_id}/stop"
DOWNLOAD = "/_emulator/recordings/{recording_id}/archive.mp4"
RECORDING = "/v1/meetings/recordings/{recording_id}"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


class Caller:
    """Sends one request described by the document and checks the answer against it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def __call__(
        self,
        method: str,
        path: str,
        *,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **case_kwargs: Any,
    ) -> Any:
        operation = SCHEMA[path][method]
        if body is not None:
            case_kwargs.setdefault("media_type", "application/json")
            case_kwargs["body"] = body
        case = operation.Case(**case_kwargs)
        response = case.call_and_validate(
            app=self.app, headers=AUTH if headers is None else headers, checks=checks_for(case)
        )
        assert response.status_code == status, response.text
        if not response.content:
            return None
        if response.headers.get("content-type", [""])[0].startswith("application/json"):
            return response.json()
        return response


def test_chosen_requests_conform_to_document(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    rooms, room = "/v1/meetings/rooms", "/v1/meetings/rooms/{room_id}"

    long_term = call(
        "POST",
        rooms,
        status=201,
        body={
            "display_name": "Team room",
            "metadata": "floor 3",
            "type": "long_term",
            "expires_at": "2026-06-30T12:00:00Z",
            "expire_after_use": True,
            "recording_options": {"auto_record": True, "record_only_owner": True},
            "theme_id": None,
            "join_approval_level": "explicit_approval",
            "initial_join_options": {"microphone_state": "off"},
            "callback_urls": {
                "rooms_callback_url": "https://hooks.example/rooms",
                "sessions_callback_url": "http://hooks.example/sessions",
            },
            "available_features": {"is_captions_available": True},
            "ui_settings": {"language": "PT-BR"},
        },
    )
    assert long_term["callback_urls"]["rooms_callback_url"] == "https://hooks.example/rooms"
    instant = call("POST", "/beta/meetings/rooms/", status=201, body={"display_name": "Sync"})
    third = call("POST", "/v1/meetings/rooms/", status=201, body={"display_name": "Third"})

    page = call("GET", rooms, status=200, query={"page_size": 1, "start_id": 2})
    assert set(page["_links"]) == {"first", "self", "prev", "next"}
    call("GET", "/beta/meetings/rooms/", status=200, query={"end_id": 3})

    updated = call(
        "PATCH",
        room,
        status=200,
        path_parameters={"room_id": long_term["id"].upper()},
        body={
            "update_details": {
                "expires_at": "2027-01-01T00:00:00.000+01:00",
                "expire_after_use": False,
                "theme_id": None,
                "join_approval_level": "none",
                "initial_join_options": {"microphone_state": "on"},
                "callback_urls": {"recordings_callback_url": "https://hooks.example/recordings"},
                "available_features": {"is_chat_available": False},
            }
        },
    )
    assert len(updated["callback_urls"]) == 3

    call("DELETE", room, status=204, path_parameters={"room_id": instant["id"]})
    gone = call(
        "GET",
        "/beta/meetings/rooms/{room_id}",
        status=200,
        path_parameters={"room_id": instant["id"]},
    )
    assert gone["is_available"] is False

    # Errors, each in the shape its response declares.
    unknown = {"room_id": "00000000-0000-4000-8000-000000000000"}
    call("GET", room, status=404, path_parameters=unknown)
    call("DELETE", room, status=404, path_parameters=unknown)
    call(
        "PATCH",
        room,
        status=404,
        path_parameters=unknown,
        body={"update_details": {"expire_after_use": True}},
    )
    call(
        "PATCH",
        room,
        status=404,
        path_parameters={"room_id": instant["id"]},
        body={"update_details": {"expire_after_use": True}},
    )
    several = call("POST", rooms, status=400, body={"type": "long_term", "colour": "red"})
    assert several["name"] == "InputValidationError"
    assert len(several["errors"]) == 3
    call("POST", rooms, status=400, body="{", media_type="text/plain")
    call("POST", rooms, status=400, body={"display_name": "x", "theme_id": unknown["room_id"]})
    call("GET", rooms, status=400, query={"page_size": 0})
    call("POST", rooms, status=413, body={"display_name": "x" * (1024 * 1024)})
    missing = call("GET", rooms, status=401, headers={})
    assert missing["title"] == "Missing Auth"
    call("GET", rooms, status=401, headers={"Authorization": "Bearer not-a-jwt"})

    # A meeting played through the control plane, and its recording read through the API.
    host = call(
        "POST",
        PARTICIPANTS,
        status=201,
        path_parameters={"room_id": third["id"]},
        body={"name": "Grace", "is_host": True, "type": "Host"},
    )
    assert host["state"] == "joined"
    meeting = call("GET", ROOM_SESSION, status=200, path_parameters={"room_id": third["id"]})
    assert meeting["session"]["session_id"] == host["session_id"]
    assert [p["participant_id"] for p in meeting["session"]["participants"]] == [
        host["participant_id"]
    ]
    started = call(
        "POST",
        START_RECORDING,
        status=201,
        path_parameters={"session_id": host["session_id"]},
        body={"participant_id": host["participant_id"]},
    )
    assert (started["status"], started["ended_at"]) == ("started", None)
    recording_id = {"recording_id": started["id"]}
    stopped = call("POST", STOP_RECORDING, status=200, path_parameters=recording_id)
    assert stopped["status"] == "stopped"
    # Not uploaded yet: no file, and deleting answers the live API's documented 500.
    call("GET", DOWNLOAD, status=404, path_parameters=recording_id)
    refused = call("DELETE", RECORDING, status=500, path_parameters=recording_id)
    assert refused["name"] == "InternalServerError"
    call("POST", "/_emulator/clock", status=200, body={"advance_seconds": 5})
    uploaded = call("GET", RECORDING, status=200, path_parameters=recording_id)
    assert uploaded["status"] == "uploaded"
    listed = call(
        "GET",
        "/beta/meetings/sessions/{session_id}/recordings",
        status=200,
        path_parameters={"session_id": host["session_id"]},
    )
    assert listed == {"_embedded": {"recordings": [uploaded]}}
    download = call("GET", DOWNLOAD, status=200, path_parameters=recording_id)
    assert download.headers["content-type"] == ["video/mp4"]
    assert download.content[4:8] == b"ftyp"
    assert uploaded["_links"]["url"]["href"] == (
        f"http://testserver/_emulator/recordings/{started['id']}/archive.mp4"
    )
    call("DELETE", RECORDING, status=204, path_parameters=recording_id)
    gone = call(
        "DELETE",
        "/beta/meetings/recordings/{recording_id}",
        status=404,
        path_parameters=recording_id,
    )
    assert gone["message"] == "Could not find recording"
    call("GET", RECORDING, status=404, path_parameters=recording_id)
    call(
        "DELETE",
        PARTICIPANT,
        status=204,
        path_parameters={"room_id": third["id"], "participant_id": host["participant_id"]},
    )
    assert (
        call("GET", ROOM_SESSION, status=200, path_parameters={"room_id": third["id"]})["session"]
        is None
    )

    # The control plane.
    call("GET", "/_emulator/health", status=200)
    call("POST", "/_emulator/clock", status=200, body={"now": "2026-02-01T00:00:00Z"})
    call("POST", "/_emulator/clock", status=400, body={"now": "2026-01-01T00:00:00Z"})
    after = call("POST", "/_emulator/clock", status=200, body={"advance_seconds": 86400 * 365})
    assert after == {"now": "2027-02-01T00:00:00.000Z", "frozen": True}
    # Expired on 30 June 2026, more than a day (`--room-retention`) before: forgotten.
    call("GET", room, status=404, path_parameters={"room_id": long_term["id"]})
    call("POST", "/_emulator/clock", status=400, body={"advance_seconds": -1, "now": "2030"})
    running = call("POST", "/_emulator/clock", status=200, body={"frozen": False})
    assert running["frozen"] is False
    call("POST", "/_emulator/reset", status=204, body={"seed": SEED})
    call("POST", "/_emulator/reset", status=400, body={"seed": "seven"})
    assert call("GET", "/_emulator/clock", status=200)["frozen"] is False


def test_meeting_answers_conform_to_document(fresh_app: Starlette) -> None:
    """The simulator's refusals, and the API's recording errors, each in its declared shape."""
    call = Caller(fresh_app)
    room = call(
        "POST",
        "/v1/meetings/rooms",
        status=201,
        body={
            "display_name": "Approval",
            "type": "long_term",
            "expires_at": "2026-06-30T12:00:00Z",
            "join_approval_level": "explicit_approval",
            "recording_options": {"record_only_owner": True},
        },
    )
    in_room = {"room_id": room["id"]}
    call("POST", PARTICIPANTS, status=400, path_parameters=in_room, body={"is_host": "yes"})
    call(
        "POST",
        PARTICIPANTS,
        status=404,
        path_parameters={"room_id": UNKNOWN_ID},
        body={"name": "Ada"},
    )
    guest = call("POST", PARTICIPANTS, status=201, path_parameters=in_room, body={"name": "Ada"})
    assert (guest["state"], guest["waiting_for"], guest["session_id"]) == (
        "waiting",
        "approval",
        None,
    )
    guest_id = {**in_room, "participant_id": guest["participant_id"]}
    unknown_participant = {**in_room, "participant_id": UNKNOWN_ID}
    call("POST", ADMIT, status=404, path_parameters=unknown_participant)
    host = call(
        "POST",
        PARTICIPANTS,
        status=201,
        path_parameters=in_room,
        body={"name": "Grace", "is_host": True},
    )
    admitted = call("POST", ADMIT, status=200, path_parameters=guest_id)
    assert admitted["state"] == "joined"
    call("POST", ADMIT, status=409, path_parameters=guest_id)

    session = {"session_id": host["session_id"]}
    call(
        "POST",
        START_RECORDING,
        status=403,
        path_parameters=session,
        body={"participant_id": guest["participant_id"]},
    )
    call(
        "POST",
        START_RECORDING,
        status=400,
        path_parameters=session,
        body={"participant_id": UNKNOWN_ID},
    )
    call("POST", START_RECORDING, status=400, path_parameters=session, body={"who": "me"})
    call("POST", START_RECORDING, status=404, path_parameters={"session_id": "2_unknown"})
    started = call("POST", START_RECORDING, status=201, path_parameters=session)
    call("POST", START_RECORDING, status=409, path_parameters=session)
    recording_id = {"recording_id": started["id"]}
    call("POST", STOP_RECORDING, status=200, path_parameters=recording_id)
    call("POST", STOP_RECORDING, status=409, path_parameters=recording_id)
    meeting = call("GET", ROOM_SESSION, status=200, path_parameters=in_room)
    assert [r["status"] for r in meeting["session"]["recordings"]] == ["stopped"]

    call("DELETE", PARTICIPANT, status=204, path_parameters=guest_id)
    call("DELETE", PARTICIPANT, status=404, path_parameters=guest_id)
    call(
        "DELETE",
        PARTICIPANT,
        status=204,
        path_parameters={**in_room, "participant_id": host["participant_id"]},
    )
    call("POST", START_RECORDING, status=409, path_parameters=session)
    call("GET", ROOM_SESSION, status=404, path_parameters={"room_id": UNKNOWN_ID})

    # An auto_record room records from the start, and cannot be stopped by hand.
    auto = call(
        "POST",
        "/beta/meetings/rooms",
        status=201,
        body={"display_name": "Auto", "recording_options": {"auto_record": True}},
    )
    joined = call(
        "POST",
        PARTICIPANTS,
        status=201,
        path_parameters={"room_id": auto["id"]},
        body={"name": "Lin"},
    )
    listed = call(
        "GET",
        "/v1/meetings/sessions/{session_id}/recordings",
        status=200,
        path_parameters={"session_id": joined["session_id"]},
    )
    (recording,) = listed["_embedded"]["recordings"]
    call("POST", STOP_RECORDING, status=409, path_parameters={"recording_id": recording["id"]})
    call(
        "DELETE",
        "/v1/meetings/rooms/{room_id}",
        status=204,
        path_parameters={"room_id": auto["id"]},
    )
    call(
        "POST",
        PARTICIPANTS,
        status=409,
        path_parameters={"room_id": auto["id"]},
        body={"name": "Kim"},
    )

    # The API's recording errors.
    unknown_recording = {"recording_id": UNKNOWN_ID}
    missing = call("GET", RECORDING, status=404, path_parameters=unknown_recording)
    assert missing["message"] == f"Recording {UNKNOWN_ID} was not found"
    call("GET", RECORDING, status=401, path_parameters=unknown_recording, headers={})
    call("DELETE", RECORDING, status=404, path_parameters=unknown_recording)
    call("POST", STOP_RECORDING, status=404, path_parameters=unknown_recording)
    call("GET", DOWNLOAD, status=404, path_parameters=unknown_recording)
    no_session = call(
        "GET",
        "/beta/meetings/sessions/{session_id}/recordings",
        status=404,
        path_parameters={"session_id": "2_unknown"},
    )
    assert no_session["message"] == "Failed to find session recordings by id: 2_unknown"


def test_limit_answers_conform_to_document() -> None:
    call = Caller(make_app(Settings(max_rooms=1, max_themes=1)))
    call("POST", "/v1/meetings/rooms", status=201, body={"display_name": "One"})
    refused = call("POST", "/v1/meetings/rooms", status=403, body={"display_name": "Two"})
    assert refused["name"] == "ForbiddenError"
    call("POST", "/v1/meetings/themes", status=201, body=THEME)
    refused = call("POST", "/beta/meetings/themes", status=403, body=THEME)
    assert refused["message"] == "Maximum number of themes for owner (1) exceeded"


# -- themes, the application, dial-in numbers, logos ------------------------------------------


THEMES, THEME_PATH = "/v1/meetings/themes", "/v1/meetings/themes/{theme_id}"
THEME_ROOMS = "/v1/meetings/themes/{theme_id}/rooms"
FINALIZE = "/v1/meetings/themes/{theme_id}/finalizeLogos"
UPLOAD_FORMS = "/v1/meetings/themes/logos-upload-urls"
BUCKET = "/_emulator/s3/roomservice-whitelabel-logos-prod"
LOGO = "/_emulator/logos/{key}"
THEME = {"main_color": "#12f64e", "brand_text": "My Company"}


def png(width: int, height: int, *, transparent: bool = True) -> bytes:
    """A logo: a white square on a transparent (or an opaque black) background."""
    background = (0, 0, 0, 0) if transparent else (0, 0, 0, 255)
    image = Image.new("RGBA", (width, height), background)
    image.paste((255, 255, 255, 255), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_theme_answers_conform_to_document(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    assert call("GET", THEMES, status=200) == []  # no themes: `[]`, as the later live service said
    plain = call("POST", THEMES, status=201, body=THEME)
    assert re.fullmatch(r"[0-9a-f-]{36}", plain["theme_name"])
    assert plain["short_company_url"] is None
    named = call(
        "POST",
        "/beta/meetings/themes",
        status=201,
        body={**THEME, "theme_name": "my_theme", "short_company_url": "my-company"},
    )
    assert call("GET", THEMES, status=200) == [plain, named]
    plain_id = {"theme_id": plain["theme_id"]}
    named_id = {"theme_id": named["theme_id"]}
    unknown = {"theme_id": UNKNOWN_ID}

    # Refusals: 400 (field by field, or a body that is no JSON), 409 for a taken name or URL.
    several = call("POST", THEMES, status=400, body={"main_color": "green", "logo": "x"})
    assert len(several["errors"]) == 3
    call("POST", THEMES, status=400, body="{", media_type="text/plain")
    call("POST", THEMES, status=400, body={**THEME, "short_company_url": "12345"})
    taken = call("POST", THEMES, status=409, body={**THEME, "theme_name": "my_theme"})
    assert taken["message"] == "theme_name already exists in application"
    call("POST", THEMES, status=409, body={**THEME, "short_company_url": "my-company"})
    call("GET", THEMES, status=401, headers={})

    read = call(
        "GET", THEME_PATH, status=200, path_parameters={"theme_id": plain["theme_id"].upper()}
    )
    assert read == plain
    missing = call("GET", THEME_PATH, status=404, path_parameters=unknown)
    assert missing["message"] == f"could not find theme {UNKNOWN_ID}"
    updated = call(
        "PATCH",
        THEME_PATH,
        status=200,
        path_parameters=plain_id,
        body={"update_details": {"main_color": "#FF0000", "short_company_url": "plain-co"}},
    )
    assert (updated["main_color"], updated["short_company_url"]) == ("#FF0000", "plain-co")
    renamed = call(
        "PATCH",
        "/beta/meetings/themes/{theme_id}",
        status=200,
        path_parameters=named_id,
        body={"update_details": {"theme_name": None, "short_company_url": None}},
    )
    assert renamed["short_company_url"] is None
    assert re.fullmatch(r"[0-9a-f-]{36}", renamed["theme_name"])
    call("PATCH", THEME_PATH, status=400, path_parameters=plain_id, body={"update_details": {}})
    call(
        "PATCH",
        THEME_PATH,
        status=404,
        path_parameters=unknown,
        body={"update_details": {"brand_text": "x"}},
    )
    call(
        "PATCH",
        THEME_PATH,
        status=409,
        path_parameters=named_id,
        body={"update_details": {"short_company_url": "plain-co"}},
    )

    # Rooms with a theme: through its short URL, and listed under it.
    room = call("POST", "/v1/meetings/rooms", status=201, body={"display_name": "x", **plain_id})
    assert room["_links"]["guest_url"]["href"] == (
        f"https://meetings.vonage.com/plain-co/{room['meeting_code']}"
    )
    call("POST", "/v1/meetings/rooms", status=400, body={"display_name": "x", **unknown})
    page = call("GET", THEME_ROOMS, status=200, path_parameters=plain_id, query={"page_size": 5})
    assert [r["id"] for r in page["_embedded"]] == [room["id"]]
    empty = call(
        "GET", "/beta/meetings/themes/{theme_id}/rooms", status=200, path_parameters=named_id
    )
    assert (empty["total_items"], empty["_embedded"]) == (0, [])
    call("GET", THEME_ROOMS, status=400, path_parameters=plain_id, query={"page_size": 0})
    gone = call("GET", THEME_ROOMS, status=404, path_parameters=unknown)
    assert gone["message"] == f"Failed to get rooms because theme id {UNKNOWN_ID} not found"

    # The application's default theme, in both body forms.
    application = call(
        "PATCH",
        "/v1/meetings/applications",
        status=200,
        body={"update_details": {"default_theme_id": named["theme_id"]}},
    )
    assert application["default_theme_id"] == named["theme_id"]
    call(
        "PATCH",
        "/beta/meetings/applications",
        status=200,
        body={"default_theme_id": plain["theme_id"].upper()},
    )
    call(
        "PATCH",
        "/v1/meetings/applications",
        status=400,
        body={"update_details": {"default_theme_id": UNKNOWN_ID}},
    )
    call("PATCH", "/v1/meetings/applications", status=400, body={"update_details": {}})

    # Deleting a theme in use: refused with the reasons, unless forced.
    in_use = call(
        "DELETE", THEME_PATH, status=400, path_parameters=plain_id, query={"force": "false"}
    )
    assert in_use["message"] == "could not delete theme"
    assert in_use["errors"] == [
        f"Theme {plain['theme_id']} is used by 1 room",
        f"Theme {plain['theme_id']} is the application's default theme",
    ]
    call("DELETE", THEME_PATH, status=400, path_parameters=plain_id, query={"force": "yes"})
    call("DELETE", THEME_PATH, status=404, path_parameters=unknown)
    call("DELETE", THEME_PATH, status=204, path_parameters=plain_id, query={"force": "True"})
    call("GET", THEME_PATH, status=404, path_parameters=plain_id)
    call("DELETE", "/beta/meetings/themes/{theme_id}", status=204, path_parameters=named_id)
    assert call("GET", "/beta/meetings/themes", status=200) == []

    # Dial-in numbers need no credentials.
    numbers = call("GET", "/v1/meetings/dial-in-numbers", status=200, headers={})
    assert numbers == call("GET", "/beta/meetings/dial-in-numbers", status=200)


def test_logo_flow_conforms_to_document(fresh_app: Starlette) -> None:
    """Forms, uploads to the emulated bucket, finalizing, and the logos served."""
    call = Caller(fresh_app)
    theme_id = {"theme_id": call("POST", THEMES, status=201, body=THEME)["theme_id"]}
    forms = call("GET", UPLOAD_FORMS, status=200)
    assert [form["fields"]["logoType"] for form in forms] == ["white", "colored", "favicon"]
    assert forms[0]["url"] == "http://testserver" + BUCKET
    logos = {"white": png(200, 50), "colored": png(300, 80), "favicon": png(32, 32)}
    for form in forms:
        file = logos[form["fields"]["logoType"]]
        body = {**form["fields"], "file": file}
        assert call("POST", BUCKET, status=204, body=body, media_type="multipart/form-data") is None
    keys = [form["fields"]["key"] for form in forms]
    finalized = call(
        "PUT",
        FINALIZE,
        status=200,
        path_parameters=theme_id,
        body={"keys": [keys[0], {"key": keys[1]}, keys[2]]},
    )
    assert finalized.content == b"OK"
    theme = call("GET", THEME_PATH, status=200, path_parameters=theme_id)
    for kind, field in (
        ("white", "brand_image_white"),
        ("colored", "brand_image_colored"),
        ("favicon", "branded_favicon"),
    ):
        assert theme[f"{field}_url"] == f"http://testserver/_emulator/logos/{theme[field]}"
        image = call("GET", LOGO, status=200, path_parameters={"key": theme[field]})
        assert (image.headers["content-type"], image.content) == (["image/png"], logos[kind])

    # Used up once finalized; a logo that fails its checks; the body's own refusals.
    used = call("PUT", FINALIZE, status=400, path_parameters=theme_id, body={"keys": keys[:1]})
    assert used["errors"] == [{"logoKey": keys[0], "code": "key_not_found"}]
    [form] = [
        f for f in call("GET", UPLOAD_FORMS, status=200) if f["fields"]["logoType"] == "white"
    ]
    body = {**form["fields"], "file": png(400, 50, transparent=False)}
    call("POST", BUCKET, status=204, body=body, media_type="multipart/form-data")
    refused = call(
        "PUT",
        FINALIZE,
        status=400,
        path_parameters=theme_id,
        body={"keys": [form["fields"]["key"]]},
    )
    assert {problem.get("invalidProperty") for problem in refused["errors"]} == {
        "dimensions",
        "transparent_bg",
    }
    call("PUT", FINALIZE, status=400, path_parameters=theme_id, body={"keys": []})
    call(
        "PUT", FINALIZE, status=404, path_parameters={"theme_id": UNKNOWN_ID}, body={"keys": ["k"]}
    )

    # The bucket's refusals are S3's XML documents (checked by `s3_error_document`).
    forged = {**form["fields"], "X-Amz-Signature": "0" * 64, "file": png(10, 10)}
    call("POST", BUCKET, status=403, body=forged, media_type="multipart/form-data")
    no_file = call(
        "POST", BUCKET, status=400, body=dict(form["fields"]), media_type="multipart/form-data"
    )
    assert ElementTree.fromstring(no_file.content).findtext("Code") == "InvalidArgument"
    missing = call("GET", LOGO, status=404, path_parameters={"key": "logos/nothing.png"})
    assert ElementTree.fromstring(missing.content).findtext("Code") == "NoSuchKey"


@pytest.mark.parametrize(
    ("field", "status"),
    [
        ({"short_company_url": "my-company\n"}, 400),
        ({"main_color": "#fff\n"}, 400),
        ({"main_color": "ab#fff"}, 201),  # the live pattern has no `^`, and Joi searched
    ],
)
def test_theme_patterns_apply_as_joi_did(field: dict[str, str], status: int) -> None:
    """The published patterns: `$` is the very end (no trailing newline); a search."""
    Caller(make_app())("POST", THEMES, status=status, body={**THEME, **field})


def test_s3_errors_are_well_formed_xml(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    form = call("GET", UPLOAD_FORMS, status=200)[0]
    forged = {**form["fields"], "Policy": "a\x08b", "file": png(10, 10)}
    refused = call("POST", BUCKET, status=403, body=forged, media_type="multipart/form-data")
    assert s3_error_fields(refused.content)["Code"] == "SignatureDoesNotMatch"


# -- callbacks: the delivery log, and the requests the document's `webhooks` describe ----------


CALLBACKS = "/_emulator/callbacks"
REDELIVER = "/_emulator/callbacks/{delivery_id}/redeliver"
CALLBACK_CONFIG = "/_emulator/callbacks/config"
FLUSH = "/_emulator/callbacks/flush"


def test_callback_log_answers_conform_to_document(fresh_app: Starlette) -> None:
    """The log, its configuration, flush and redelivery (callbacks go to a MockTransport)."""
    call = Caller(fresh_app)
    config = call("GET", CALLBACK_CONFIG, status=200)
    assert (config["url"], config["secret_set"]) == (None, False)
    room = call(
        "POST", "/v1/meetings/rooms", status=201, body={"display_name": "x", "metadata": "m"}
    )
    host = call(
        "POST",
        PARTICIPANTS,
        status=201,
        path_parameters={"room_id": room["id"]},
        body={"name": "H"},
    )
    nowhere = call("GET", CALLBACKS, status=200, query={"status": "undelivered"})["deliveries"]
    assert [d["event"] for d in nowhere] == ["session:started", "session:participant:joined"]
    no_url = call("POST", REDELIVER, status=409, path_parameters={"delivery_id": nowhere[0]["id"]})
    assert no_url["message"].endswith("has no URL to be delivered to")
    call("POST", REDELIVER, status=404, path_parameters={"delivery_id": UNKNOWN_ID})

    changed = call(
        "PUT",
        CALLBACK_CONFIG,
        status=200,
        body={"url": "http://receiver.test/cb", "secret": "s3cret", "max_attempts": 3},
    )
    assert (changed["url"], changed["secret_set"], changed["max_attempts"]) == (
        "http://receiver.test/cb",
        True,
        3,
    )
    call("PUT", CALLBACK_CONFIG, status=400, body={"url": "ftp://x", "timeout": 0, "x": 1})
    call(
        "DELETE",
        PARTICIPANT,
        status=204,
        path_parameters={"room_id": room["id"], "participant_id": host["participant_id"]},
    )
    flushed = call("POST", FLUSH, status=200, body={"timeout": 5})
    assert flushed == {
        "idle": True,
        "pending": 0,
        "retrying": 0,
        "delivered": 2,
        "failed": 0,
        "undelivered": 2,
    }
    delivered = call(
        "GET", CALLBACKS, status=200, query={"room_id": room["id"], "status": "delivered"}
    )["deliveries"]
    assert [d["event"] for d in delivered] == ["session:participant:left", "session:ended"]
    assert all(d["headers"]["X-Meetings-Signature"].startswith("sha256=") for d in delivered)
    assert [a["status_code"] for a in delivered[0]["attempts"]] == [204]
    again = call("POST", REDELIVER, status=202, path_parameters={"delivery_id": delivered[0]["id"]})
    assert (again["id"], again["status"], again["attempts"]) == (delivered[0]["id"], "pending", [])
    call("GET", CALLBACKS, status=400, query={"room": room["id"]})
    query = {"room_id": room["id"], "count": 4, "wait": 5}  # the redelivery too, once sent
    waited = call("GET", CALLBACKS, status=200, query=query)
    assert waited["complete"] is True
    assert [d["status"] for d in waited["deliveries"]] == ["undelivered"] * 2 + ["delivered"] * 2
    counted = call("GET", CALLBACKS, status=200, query={"status": "failed", "count": 1})
    assert counted == {"deliveries": [], "complete": False}
    call("GET", CALLBACKS, status=400, query={"wait": -1, "count": 0})
    call("POST", FLUSH, status=400, body={"timeout": 301})
    call("POST", FLUSH, status=400, body=[])
    assert call("POST", FLUSH, status=200)["idle"] is True  # the default timeout, 10 s at most


def test_contract_answers_conform_to_document(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    assert call("GET", "/_emulator/openapi.json", status=200) == load_document()
    served = call("GET", "/_emulator/openapi.yaml", status=200)
    assert yaml.safe_load(served.content) == load_document()
    page = call("GET", "/_emulator/docs", status=200).text
    assert all(event in page for event in load_document()["webhooks"])
    call("GET", "/_emulator/tls/ca.pem", status=404)  # plain HTTP: no CA to trust


def webhook_validators(document: dict[str, Any]) -> dict[str, Any]:
    """For each webhook: a validator of its body and one of its headers (lower-cased names)."""
    validators = {}
    for event, item in document["webhooks"].items():
        operation = item["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        parameters = [resolve(document, parameter) for parameter in operation["parameters"]]
        headers = {
            "type": "object",
            "required": [p["name"].lower() for p in parameters if p.get("required")],
            "properties": {p["name"].lower(): p["schema"] for p in parameters},
        }
        validators[event] = tuple(
            jsonschema_rs.validator_for(
                {**schema, "components": document["components"]}, validate_formats=True
            )
            for schema in (body, headers)
        )
    return validators


def test_delivered_callbacks_match_the_documented_webhooks() -> None:
    """A whole meeting's callbacks, as a receiver gets them, against the document's webhooks."""
    received: list[httpx.Request] = []
    lock = threading.Lock()

    def receiver(request: httpx.Request) -> httpx.Response:
        with lock:
            received.append(request)
        return httpx.Response(204)

    metadata = "floor 3 — east/west & more"
    app = create_app(
        Settings(callback_url="http://receiver.test/cb", callback_secret="s3cret"),
        clock=Clock.frozen_at(START),
        ids=Ids(SEED),
        transport=httpx.MockTransport(receiver),
    )
    with TestClient(app, headers=AUTH) as client:
        room = client.post("/v1/meetings/rooms", json={"display_name": "x", "metadata": metadata})
        room_id = room.json()["id"]
        host = client.post(
            f"/_emulator/rooms/{room_id}/participants", json={"name": "Grace", "is_host": True}
        ).json()
        recording = client.post(
            f"/_emulator/sessions/{host['session_id']}/recordings",
            json={"participant_id": host["participant_id"]},
        ).json()
        client.post("/_emulator/clock", json={"advance_seconds": 3})
        assert client.post(f"/_emulator/recordings/{recording['id']}/stop").status_code == 200
        client.delete(f"/_emulator/rooms/{room_id}/participants/{host['participant_id']}")
        client.post("/_emulator/clock", json={"advance_seconds": 5})
        client.post("/_emulator/clock", json={"advance_seconds": 600})
        flushed = client.post("/_emulator/callbacks/flush", json={"timeout": 10}).json()
    assert flushed["idle"] is True
    assert flushed["delivered"] == len(received) == 8

    validators = webhook_validators(load_document())
    seen = []
    for request in received:
        event = request.headers["x-meetings-event"]
        body_validator, headers_validator = validators[event]
        payload = json.loads(request.content)
        errors = [error.message for error in body_validator.iter_errors(payload)]
        assert errors == [], f"{event}: {payload}"
        errors = [e.message for e in headers_validator.iter_errors(dict(request.headers))]
        assert errors == [], f"{event}: {dict(request.headers)}"
        assert request.headers["content-type"] == "application/json"
        assert unquote(request.headers["x-meetings-room-metadata"]) == metadata
        digest = hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
        assert request.headers["x-meetings-signature"] == f"sha256={digest}"
        seen.append(event)
    assert sorted(seen) == sorted(load_document()["webhooks"])
    assert seen[-1] == "room:expired"


# -- fault injection and the request journal (rules are never generated: see above) --------


FAULTS = "/_emulator/faults"
FAULT = "/_emulator/faults/{fault_id}"
CALLBACK_FAULTS = "/_emulator/callbacks/faults"
CALLBACK_FAULT = "/_emulator/callbacks/faults/{fault_id}"
REQUESTS = "/_emulator/requests"
REQUESTS_COUNT = "/_emulator/requests/count"


def test_fault_rules_and_journal_conform_to_document(fresh_app: Starlette) -> None:
    """Add a rule, see it apply (in the journal too), list, get and remove it."""
    call = Caller(fresh_app)
    rule = call(
        "POST",
        FAULTS,
        status=201,
        body={
            "method": "post",
            "path": "/v1/meetings/rooms",
            "effect": {"status": 503, "retry_after": 2},
            "times": 1,
        },
    )
    assert (rule["id"], rule["method"], rule["remaining"], rule["applied"]) == (
        "fault-1",
        "POST",
        1,
        0,
    )
    call("POST", FAULTS, status=400, body={"effect": {}})
    call("POST", FAULTS, status=400, body={"path": "/x", "path_regex": "x", "effect": {"drop": 1}})
    # The faulted call answers what no API operation documents: sent outside `Caller`.
    with TestClient(fresh_app, headers=AUTH) as client:
        faulted = client.post("/v1/meetings/rooms", json={"display_name": "x"})
        assert faulted.status_code == 503
        assert (faulted.headers["retry-after"], faulted.headers["x-meetings-emulator-fault"]) == (
            "2",
            "fault-1",
        )
        assert client.post("/v1/meetings/rooms", json={"display_name": "x"}).status_code == 201
    assert call("GET", FAULTS, status=200)["faults"] == [{**rule, "remaining": 0, "applied": 1}]
    assert call("GET", FAULT, status=200, path_parameters={"fault_id": "fault-1"})["applied"] == 1

    journal = call("GET", REQUESTS, status=200)["requests"]
    assert [(entry["status"], entry["fault"]) for entry in journal] == [
        (503, "fault-1"),
        (201, None),
    ]
    assert journal[0]["auth"] == "Basic aaa0…"
    failed = call("GET", REQUESTS, status=200, query={"status": "5xx", "limit": 5})["requests"]
    assert [entry["id"] for entry in failed] == [journal[0]["id"]]
    call("GET", REQUESTS, status=400, query={"status": "5xy"})
    call("GET", REQUESTS, status=400, query={"room": "x"})
    held = call("GET", REQUESTS, status=200, query={"status": "5xx", "count": 1, "wait": 5})
    assert (held["complete"], len(held["requests"])) == (True, 1)
    short = call("GET", REQUESTS, status=200, query={"count": 3, "wait": 0.05, "limit": 1})
    assert (short["complete"], len(short["requests"])) == (False, 1)
    call("GET", REQUESTS, status=400, query={"wait": 61})
    assert call("GET", REQUESTS_COUNT, status=200, query={"method": "POST"}) == {"count": 2}
    call("GET", REQUESTS_COUNT, status=400, query={"limit": 1})
    call("DELETE", REQUESTS, status=204)
    assert call("GET", REQUESTS, status=200) == {"requests": []}

    call("DELETE", FAULT, status=204, path_parameters={"fault_id": "fault-1"})
    gone = call("GET", FAULT, status=404, path_parameters={"fault_id": "fault-1"})
    assert gone["message"] == "Fault fault-1 was not found"
    call("DELETE", FAULT, status=404, path_parameters={"fault_id": "fault-1"})
    call("POST", FAULTS, status=201, body={"effect": {"latency_ms": [0, 1]}, "probability": 0})
    call("DELETE", FAULTS, status=204)
    assert call("GET", FAULTS, status=200) == {"faults": []}


def test_callback_fault_rules_conform_to_document(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    rule = call(
        "POST",
        CALLBACK_FAULTS,
        status=201,
        body={"event": "session:*", "effect": {"duplicate": 1, "latency_ms": 0}, "times": 2},
    )
    assert (rule["id"], rule["room_id"], rule["remaining"]) == ("callback-fault-1", None, 2)
    call("POST", CALLBACK_FAULTS, status=400, body={"effect": {"reorder": False}})
    fault_id = {"fault_id": rule["id"]}
    assert call("GET", CALLBACK_FAULTS, status=200) == {"faults": [rule]}
    assert call("GET", CALLBACK_FAULT, status=200, path_parameters=fault_id) == rule
    call("DELETE", CALLBACK_FAULT, status=204, path_parameters=fault_id)
    gone = call("GET", CALLBACK_FAULT, status=404, path_parameters=fault_id)
    assert gone["message"] == "Callback fault callback-fault-1 was not found"
    call("DELETE", CALLBACK_FAULT, status=404, path_parameters=fault_id)
    call(
        "POST",
        CALLBACK_FAULTS,
        status=201,
        body={"room_id": UNKNOWN_ID, "effect": {"reorder": True}},
    )
    call("DELETE", CALLBACK_FAULTS, status=204)
    assert call("GET", CALLBACK_FAULTS, status=200) == {"faults": []}


# -- state snapshots --------------------------------------------------------------------------


SNAPSHOT = "/_emulator/snapshot"


def test_snapshot_round_trip_conforms_to_document(fresh_app: Starlette, tmp_path: Path) -> None:
    call = Caller(fresh_app)
    room = call("POST", "/v1/meetings/rooms", status=201, body={"display_name": "Kept"})
    state = call("GET", SNAPSHOT, status=200)
    assert (state["format"], state["version"]) == ("meetings-emulator-state", 1)
    call("POST", "/_emulator/reset", status=204)
    call("GET", "/v1/meetings/rooms/{room_id}", status=404, path_parameters={"room_id": room["id"]})
    assert call("PUT", SNAPSHOT, status=204, body=state) is None
    kept = call(
        "GET", "/v1/meetings/rooms/{room_id}", status=200, path_parameters={"room_id": room["id"]}
    )
    assert kept == room
    foreign = call("PUT", SNAPSHOT, status=400, body={"format": "something-else", "version": 1})
    assert foreign["message"] == '"format" must be "meetings-emulator-state"'
    call("PUT", SNAPSHOT, status=400, body={**state, "version": 2})
    no_file = call("POST", SNAPSHOT, status=409)
    assert no_file["message"].startswith("No state file")

    target = tmp_path / "state.json"
    saved = Caller(make_app(Settings(state_file=str(target))))("POST", SNAPSHOT, status=200)
    assert (saved["saved"], saved["rooms"]) == (str(target), 0)
    assert json.loads(target.read_text(encoding="utf-8"))["saved_at"] == saved["saved_at"]


# -- the dashboard, its live state, and the local meeting page --------------------------------


def test_dashboard_pages_and_assets_conform_to_document(fresh_app: Starlette) -> None:
    call = Caller(fresh_app)
    page = call("GET", "/_emulator/ui", status=200)
    assert page.headers["content-type"][0].startswith("text/html")
    assert "/_emulator/static/dashboard.js" in page.text
    script = call(
        "GET", "/_emulator/static/{name}", status=200, path_parameters={"name": "meet.js"}
    )
    assert script.headers["content-type"][0].startswith("text/javascript")
    style = call(
        "GET", "/_emulator/static/{name}", status=200, path_parameters={"name": "emulator.css"}
    )
    assert style.headers["content-type"][0].startswith("text/css")
    call("GET", "/_emulator/static/{name}", status=404, path_parameters={"name": "secret.py"})

    # The meeting page, and joining through it.
    room = call("POST", "/v1/meetings/rooms", status=201, body={"display_name": "Stand-up"})
    code = {"meeting_code": room["meeting_code"]}
    meeting = call(
        "GET", "/meet/{rest}", status=200, path_parameters={"rest": room["meeting_code"]}
    )
    assert "Stand-up" in meeting.text
    call("GET", "/meet/{rest}", status=404, path_parameters={"rest": "nothing"})
    join = "/_emulator/meet/{meeting_code}/participants"
    guest = call("POST", join, status=201, path_parameters=code, body={"name": "Ada"})
    assert (guest["room_id"], guest["state"]) == (room["id"], "joined")
    forged = call(
        "POST",
        join,
        status=201,
        path_parameters=code,
        body={"name": "Eve", "participant_token": "x"},
    )
    assert forged["is_host"] is False
    call("POST", join, status=400, path_parameters=code, body={"name": "Bo", "is_host": True})
    missing = call(
        "POST", join, status=404, path_parameters={"meeting_code": "nothing"}, body={"name": "A"}
    )
    assert missing["message"] == "Meeting nothing was not found"
    call(
        "DELETE",
        "/v1/meetings/rooms/{room_id}",
        status=204,
        path_parameters={"room_id": room["id"]},
    )
    call("POST", join, status=409, path_parameters=code, body={"name": "Late"})


def test_event_stream_conforms_to_document(fresh_app: Starlette) -> None:
    """The stream never ends: read its first state message, then hang up."""
    call = Caller(fresh_app)
    room = call("POST", "/v1/meetings/rooms", status=201, body={"display_name": "Live"})
    call("GET", "/_emulator/events", status=400, query={"room": room["id"]})
    call("GET", "/_emulator/events", status=404, query={"room_id": UNKNOWN_ID})
    documented = load_document()["paths"]["/_emulator/events"]["get"]["responses"]["200"]
    assert list(documented["content"]) == ["text/event-stream"]
    with (
        TestClient(fresh_app) as client,
        client.stream("GET", "/_emulator/events", params={"room_id": room["id"]}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        assert next(lines) == ""
        assert next(lines) == "event: state"
        data = next(lines)
    state = json.loads(data.removeprefix("data: "))
    assert (state["room_id"], [r["id"] for r in state["rooms"]]) == (room["id"], [room["id"]])
