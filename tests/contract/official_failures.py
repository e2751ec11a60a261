"""What schemathesis finds when it runs Vonage's definition with every one of its checks.

`test_official_contract.py` runs schemathesis against the emulator with the official file
(`vonage-meetings-openapi.yml`, its paths converted and its response schemas tolerating the
listed `DIFFERENCES`), with all of schemathesis's checks, in positive and negative modes.
Each failure it reports falls in a class: the check, the operation and a description made
from the answer (its status, and the emulator's reasons with field names kept and values
dropped), such as

    positive_data_acceptance  PATCH /rooms/{room_id}  400 "update_details" must have at least 1 key

`FAILURES` below says what each class is:
- SPEC: the official file is wrong. The row carries the narrowest correction of the test's
  copy of the file, and the evidence. The run against the corrected copy must not show it.
- CHOICE: the emulator answers so on purpose; docs/fidelity.md ("The official definition
  under every check") has the row: the evidence, what the emulator does, and why.
- EMULATOR: the emulator was wrong and has been fixed (a test in `tests/http/` shows it);
  the class must not come back.

A row matches the classes of its check whose operation it lists and whose description its
pattern matches in full. With the file as published, every class must match exactly one SPEC
or CHOICE row; with the corrected copy, exactly one CHOICE row and no other. Every operation a
SPEC row lists must show its class with the file as published, and every operation a CHOICE
row lists in one of the two runs, so the table can neither miss a failure nor keep one that
is gone.
"""

from __future__ import annotations

import copy
import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Patch = Callable[[dict[str, Any]], None]


class Kind(enum.StrEnum):
    SPEC = "the official file is wrong; its copy is corrected"
    CHOICE = "the emulator differs on purpose"
    EMULATOR = "the emulator was wrong; fixed"


@dataclass(frozen=True, order=True)
class FailureClass:
    check: str
    operation: str  # schemathesis's label: `POST /rooms`
    description: str

    def __str__(self) -> str:
        return f"{self.check} | {self.operation} | {self.description}"


@dataclass(frozen=True)
class Row:
    kind: Kind
    ledger: str  # the first cell of its row in docs/fidelity.md
    check: str
    operations: tuple[str, ...]
    description: str  # a regular expression for `FailureClass.description`, matched in full
    evidence: str
    correction: Patch | None = field(default=None, compare=False, repr=False)

    def covers(self, failure: FailureClass) -> bool:
        return (
            failure.check == self.check
            and failure.operation in self.operations
            and re.fullmatch(self.description, failure.description) is not None
        )


# -- classes, from a failure and the answer that caused it ------------------------------------

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
# One of Joi's sentences: a quoted label, then what is wrong with it; sentences are joined
# with ". ". A label is a field's path, or a key the request made up, which may hold quotes:
# a quote belongs to the label unless what is wrong follows it.
PREDICATE = r"(?:is|must|length|with value)\b"
JOI_SENTENCE = re.compile(
    rf'"(?P<label>(?:[^"]|"(?! {PREDICATE}))*)" (?P<rest>{PREDICATE}.*?)(?=\. "|$)', re.DOTALL
)
FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _label(label: str, *, unknown: bool) -> str:
    """A field's path with indices dropped (`keys[3]` -> `keys[n]`) and made-up keys replaced
    by `…`: the last part of an unknown field's path, and any part that is no field name."""
    parts = label.split(".")
    normal = []
    for n, part in enumerate(parts):
        name, bracket, _ = part.partition("[")
        if (unknown and n == len(parts) - 1) or not FIELD_NAME.fullmatch(name):
            normal.append("…")
        else:
            normal.append(name + ("[n]" if bracket else ""))
    return ".".join(normal)


def reasons(body: bytes) -> list[str]:
    """The emulator's reasons in an error body (its `message`), each once, values dropped."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return []
    message = UUID.sub("<id>", TIMESTAMP.sub("<time>", message))
    sentences = set()
    for match in JOI_SENTENCE.finditer(message):
        rest = re.sub(r'^with value ".*" fails', 'with value "…" fails', match["rest"], flags=re.S)
        label = _label(match["label"], unknown=rest == "is not allowed")
        sentences.add(f'"{label}" {rest}')
    return sorted(sentences) or [message]


def classes_of(
    check: str, operation: str, message: str, status: int | None, body: bytes
) -> list[FailureClass]:
    """The classes one failure belongs to: one per reason the emulator gave, if it gave any."""
    prefix = f"{status} " if status is not None else ""
    if check == "status_code_conformance":
        descriptions = [f"{prefix}undocumented"]
    elif check == "negative_data_rejection":
        invalid = re.findall(r"Invalid component: (.*)", message)
        descriptions = [f"{prefix}accepted, {part.strip()}" for part in invalid] or [
            f"{prefix}accepted"
        ]
    elif check in ("allow_header_conformance", "unsupported_method"):
        descriptions = [f"{prefix}{message.splitlines()[0]}" if message else prefix.strip()]
    else:
        descriptions = [prefix + reason for reason in reasons(body)] or [
            f"{prefix}{message.splitlines()[0] if message else check}"
        ]
    return [FailureClass(check, operation, d) for d in descriptions]


# -- corrections of the test's copy of the official file --------------------------------------


def _split(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/") if p]


def _own(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The schema at `pointer`, each `$ref` on the way replaced by a copy of its target, so a
    change there reaches nothing else."""
    node: Any = document
    for part in _split(pointer):
        child = node[part]
        while isinstance(child, dict) and "$ref" in child:
            target: Any = document
            for name in _split(child["$ref"].removeprefix("#")):
                target = target[name]
            child = copy.deepcopy(target)
            node[part] = child
        node = child
    assert isinstance(node, dict), pointer
    return node


def operation(path: str, method: str) -> str:
    """The pointer to an operation of the converted document."""
    return "/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def add_response(status: str, schema: dict[str, Any], description: str, *operations: str) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        for pointer in operations:
            responses = _own(document, pointer + "/responses")
            assert status not in responses, f"{pointer} documents {status} now"
            responses[status] = {
                "description": description,
                "content": {"application/json": {"schema": copy.deepcopy(schema)}},
            }

    return patch


def component(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def update_keys(pointers: Iterable[str], **values: Any) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        for pointer in pointers:
            _own(document, pointer).update(copy.deepcopy(values))

    return patch


def all_of(*patches: Patch) -> Patch:
    def patch(document: dict[str, Any]) -> None:
        for each in patches:
            each(document)

    return patch


# -- the table ---------------------------------------------------------------------------------

SPEC, CHOICE, EMULATOR = Kind.SPEC, Kind.CHOICE, Kind.EMULATOR

ROOMS = "/rooms"
ROOM = "/rooms/{room_id}"
THEMES = "/themes"
THEME = "/themes/{theme_id}"
THEME_ROOMS = "/themes/{themeId}/rooms"
FINALIZE = "/themes/{theme_id}/finalizeLogos"
RECORDING = "/recordings/{recording_id}"
APPLICATIONS = "/applications"
LISTINGS = (f"GET {ROOMS}", f"GET {THEME_ROOMS}")
BODIES = (
    f"POST {ROOMS}",
    f"PATCH {ROOM}",
    f"POST {THEMES}",
    f"PATCH {THEME}",
    f"PUT {FINALIZE}",
    f"PATCH {APPLICATIONS}",
)
THEME_UPDATE = operation(THEME, "patch") + "/requestBody/content/application~1json/schema"
FINALIZE_BODY = "/components/schemas/FinalizeThemeLogosRequestBody"
ERROR_FIELDS = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "integer"},
    },
}

FAILURES: tuple[Row, ...] = (
    # -- the official file is wrong: its copy is corrected ------------------------------------
    Row(
        SPEC,
        "`GET /rooms`, `GET /themes/{id}/rooms` answer 400",
        "status_code_conformance",
        LISTINGS,
        r"400 undocumented",
        "The file types `start_id`, `end_id` and `page_size` as integers and documents no "
        "answer to anything else. Every other operation that reads input documents 400 "
        "`BadRequestError`, and the live API refused input it could not read with 400 "
        "`InputValidationError` (`python/update_no_keys.json`).",
        add_response(
            "400",
            component("BadRequestError"),
            "Bad Request",
            operation(ROOMS, "get"),
            operation(THEME_ROOMS, "get"),
        ),
    ),
    Row(
        SPEC,
        "Three operations answer 401",
        "status_code_conformance",
        (f"PATCH {THEME}", f"PUT {FINALIZE}", f"PATCH {APPLICATIONS}"),
        r"401 undocumented",
        "The three require `bearerAuth` like every operation that documents 401; "
        "`python/unauthorized.json` is the live 401.",
        add_response(
            "401",
            component("AuthenticationError"),
            "Unauthorized",
            operation(THEME, "patch"),
            operation(FINALIZE, "put"),
            operation(APPLICATIONS, "patch"),
        ),
    ),
    Row(
        SPEC,
        "`DELETE /recordings/{id}` answers 500",
        "status_code_conformance",
        (f"DELETE {RECORDING}",),
        r"500 undocumented",
        "The operation's own description: \"The recording needs to have a 'uploaded' status to "
        'be deleted. Otherwise, you will receive a 500 response."',
        add_response("500", ERROR_FIELDS, "Internal Server Error", operation(RECORDING, "delete")),
    ),
    Row(
        SPEC,
        "An empty `update_details`",
        "positive_data_acceptance",
        (f"PATCH {ROOM}", f"PATCH {THEME}"),
        r'400 "update_details" must have at least 1 key',
        "The room update's `update_details` says \"It is mandatory to provide at least one value "
        "to update; you will receive a 400 response otherwise\", the theme update's 400 "
        'says "update_details must have at least 1 key"; `python/update_no_keys.json` is that '
        "live 400.",
        update_keys(
            (
                "/components/schemas/UpdateRoomRequest/properties/update_details",
                THEME_UPDATE + "/properties/update_details",
            ),
            minProperties=1,
        ),
    ),
    Row(
        SPEC,
        "A theme update without `update_details`",
        "positive_data_acceptance",
        (f"PATCH {THEME}",),
        r'400 "update_details" is required',
        "The room and application updates require `update_details`; the theme update's 400 "
        "names it, and every SDK sends it.",
        update_keys((THEME_UPDATE,), required=["update_details"]),
    ),
    Row(
        SPEC,
        "`theme_name: null`",
        "negative_data_rejection",
        (f"POST {THEMES}",),
        r"201 accepted, in body - theme_name: Incorrect type",
        'The file\'s own `theme_name`: "If null, a UUID will automatically be generated".',
        update_keys(
            (
                "/components/schemas/CreateThemeDetails/properties/theme_name",
                THEME_UPDATE + "/properties/update_details/properties/theme_name",
            ),
            nullable=True,
        ),
    ),
    Row(
        SPEC,
        "The keys to finalize",
        "positive_data_acceptance",
        (f"PUT {FINALIZE}",),
        r'400 "keys" is required|400 "keys\[n\]" must be a string',
        "The file's own example is `keys: [logo-key1, logo-key2]`, strings, where its schema "
        "has objects; the SDKs send strings, and `python/logo_key_error.json` answers one as "
        "its `logoKey`. The description asks for the keys of the upload step.",
        all_of(
            update_keys((FINALIZE_BODY,), required=["keys"]),
            update_keys((FINALIZE_BODY + "/properties/keys",), items={"type": "string"}),
        ),
    ),
    # -- the emulator differs on purpose ------------------------------------------------------
    Row(
        CHOICE,
        "Unknown fields",
        "positive_data_acceptance",
        BODIES,
        r'400 "[^"]*…" is not allowed',
        "The live API validated bodies with Joi, which refuses keys it does not know; its "
        "messages are Joi's (`python/update_no_keys.json`).",
    ),
    Row(
        CHOICE,
        "Empty strings",
        "positive_data_acceptance",
        (f"POST {ROOMS}", f"PATCH {THEME}", f"PUT {FINALIZE}"),
        r'400 "[a-z_.\[\]]+" is not allowed to be empty',
        'Joi\'s strings refuse `""` unless told otherwise.',
    ),
    Row(
        CHOICE,
        "`expires_at` too soon or too late",
        "positive_data_acceptance",
        (f"POST {ROOMS}",),
        r'400 "expires_at" must be (greater than|less than or equal to) "<time>" \(.*\)',
        'The file\'s `expires_at`: "The value must be greater than 10 minutes from now", which '
        "no schema can say; its example, 2023-06-06, is past.",
    ),
    Row(
        CHOICE,
        "A `theme_id` that is no theme",
        "positive_data_acceptance",
        (f"POST {ROOMS}", f"PATCH {APPLICATIONS}"),
        r"400 Failed to (create room|update room|update application) because theme id <id> "
        r"not found",
        "`python/update_application_theme_id_not_found.json`: 400 for the application; rooms "
        "answer alike.",
    ),
    Row(
        CHOICE,
        "Updating an instant room",
        "positive_data_acceptance",
        (f"PATCH {ROOM}",),
        r"400 The room with id: <id> could not be updated because of its type: temporary",
        "`python/update_room_type_error.json`.",
    ),
    Row(
        CHOICE,
        "Deleting a theme in use",
        "positive_data_acceptance",
        (f"DELETE {THEME}",),
        r"400 could not delete theme",
        "`python/delete_theme_in_use.json`; the file documents this 400 too.",
    ),
    Row(
        CHOICE,
        "Listing bounds",
        "positive_data_acceptance",
        LISTINGS,
        r'400 "(page_size|start_id|end_id)" must be (greater|less) than or equal to \d+',
        "The file's integers have no bounds; the emulator's definition documents `page_size` "
        "1 to 1000 and serials from 0.",
    ),
    Row(
        CHOICE,
        "Integers beyond 2^53",
        "positive_data_acceptance",
        (f"GET {ROOMS}",),
        r'400 "(page_size|start_id|end_id)" must be a safe number',
        "Joi's numbers are JavaScript's: it refused what a `Number` cannot hold exactly. The "
        "file says `integer` with no format.",
    ),
    Row(
        CHOICE,
        "`null` for no theme, no short URL",
        "negative_data_rejection",
        (f"POST {ROOMS}", f"POST {THEMES}"),
        r"20\d accepted, in body - (update_details -> )?(theme_id|short_company_url): "
        r"Incorrect type",
        "The live API answered these fields `null` when unset (the room and theme captures); "
        'the emulator\'s definition documents `null` here as "none".',
    ),
    Row(
        CHOICE,
        "`DELETE /rooms/{id}`",
        "unsupported_method",
        (f"GET {ROOM}",),
        r"204 Unsupported method DELETE returned 204, expected 405 Method Not Allowed",
        "The guide documents deleting a room; the later file dropped it.",
    ),
    Row(
        CHOICE,
        "`DELETE /rooms/{id}`",
        "allow_header_conformance",
        (f"GET {ROOM}",),
        r"405 `Allow: DELETE, GET, HEAD, PATCH` does not match the schema\. Undocumented "
        r"methods advertised: DELETE",
        "As above: `Allow` names the methods served.",
    ),
    Row(
        CHOICE,
        "`DELETE /recordings/{id}` answers 500",
        "not_a_server_error",
        (f"DELETE {RECORDING}",),
        r"500 Internal Server Error",
        "The file's description names this 500 (see the SPEC row).",
    ),
    Row(
        CHOICE,
        "`keys: []`",
        "positive_data_acceptance",
        (f"PUT {FINALIZE}",),
        r'400 "keys" must be an array with at least 1 item',
        "Nothing to finalize; the live API validated bodies before looking at logos "
        "(`python/update_no_keys.json`).",
    ),
    Row(
        CHOICE,
        "Keys that were never uploaded",
        "positive_data_acceptance",
        (f"PUT {FINALIZE}",),
        r"400 could not finalize logos",
        "`python/logo_key_error.json`; the file documents this 400 too.",
    ),
    # -- the emulator was wrong: fixed, and these must not come back --------------------------
    Row(
        EMULATOR,
        "Integers beyond 2^53",
        "positive_data_acceptance",
        LISTINGS,
        r'400 "(page_size|start_id|end_id)" must be a number',
        "An integer of 17 digits or more was answered `must be a number`; it is now "
        "`must be a safe number`, Joi's words (tests/http/test_official_findings.py).",
    ),
    Row(
        EMULATOR,
        "An empty logo key",
        "positive_data_acceptance",
        (f"PUT {FINALIZE}",),
        r'400 "keys\[n\]" must be a string',
        '`keys: [""]` was answered `"keys[0]" must be a string`; it is now `is not allowed to '
        "be empty`, as for every other string (tests/http/test_official_findings.py).",
    ),
)


def corrected(document: dict[str, Any]) -> dict[str, Any]:
    """The test's copy of the file with every SPEC row's correction."""
    document = copy.deepcopy(document)
    for row in FAILURES:
        if row.correction is not None:
            row.correction(document)
    return document
