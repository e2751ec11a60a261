"""Every body has a size limit, announced or chunked, on every route: the API, the control
plane, a fault answering in a handler's place, and the logo bucket standing in for S3,
which refuses as S3 does and never spools an oversized upload to disk."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from meetings_emulator.domain.logos import MAX_UPLOAD_BYTES, UPLOAD_PATH

from ..conftest import BASIC, make_app, serving
from .wire import TempFileWatch, chunked, exchange, head

V1 = "/v1/meetings"
TOKEN = "control-secret"
LIMIT = 1024 * 1024  # the JSON bodies' default limit
ENDLESS = 64 * 1024 * 1024  # "endless": far past every limit; a fixed server answers long before
BOUNDARY = "----limit-test-boundary"


@pytest.fixture
def served() -> Iterator[str]:
    with serving(make_app(control_token=TOKEN)) as url:
        yield url


def zeros(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    block = bytes(piece)
    for start in range(0, total, piece):
        yield block[: min(piece, total - start)]


def upload_form(url: str) -> dict[str, str]:
    forms = httpx.get(f"{url}{V1}/themes/logos-upload-urls", headers={"Authorization": BASIC})
    assert forms.status_code == 200, forms.text
    fields: dict[str, str] = forms.json()[0]["fields"]
    return fields


def form_head(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="logo.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    return "".join(parts).encode()


def s3_code(body: bytes) -> str | None:
    found = re.search(rb"<Code>([^<]*)</Code>", body)
    return found.group(1).decode() if found else None


def test_an_endless_chunked_upload_is_refused_as_s3_refuses_it_without_filling_the_disk(
    served: str,
) -> None:
    fields = upload_form(served)
    request = head(
        "POST",
        UPLOAD_PATH,
        served.removeprefix("http://"),
        {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Transfer-Encoding": "chunked",
        },
    )
    body = chunked([form_head(fields), *zeros(ENDLESS)])
    with TempFileWatch() as disk:
        answer = exchange(served, request, body)
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("application/xml")
    assert s3_code(answer.body) == "EntityTooLarge"
    assert b"<Message>Your proposed upload exceeds the maximum allowed size</Message>" in (
        answer.body
    )
    assert f"<MaxSizeAllowed>{MAX_UPLOAD_BYTES}</MaxSizeAllowed>".encode() in answer.body
    # refused once past the limit, not after the client gave up
    assert answer.sent_before_answer < ENDLESS // 2, answer.sent_before_answer
    # nothing spooled past the limit (the form's parts are kept in memory, within it)
    assert disk.largest <= MAX_UPLOAD_BYTES, disk.largest
    assert httpx.get(f"{served}/_emulator/health").json()["status"] == "ok"


def test_an_announced_oversized_upload_is_refused_before_its_body(served: str) -> None:
    request = head(
        "POST",
        UPLOAD_PATH,
        served.removeprefix("http://"),
        {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(ENDLESS),
        },
    )
    answer = exchange(served, request, zeros(ENDLESS))
    assert answer.status == 400
    assert s3_code(answer.body) == "EntityTooLarge"
    assert answer.sent_before_answer < ENDLESS // 2


def test_a_logo_within_the_limit_is_still_taken(served: str) -> None:
    fields = upload_form(served)
    png = b"\x89PNG\r\n\x1a\n" + bytes(2 * 1024 * 1024)  # in the policy's range; checked later
    stored = httpx.post(
        f"{served}{UPLOAD_PATH}", data=fields, files={"file": ("logo.png", png, "image/png")}
    )
    assert stored.status_code == 204, stored.text


def test_a_file_past_the_policy_but_within_the_body_limit_is_refused_by_the_policy(
    served: str,
) -> None:
    fields = upload_form(served)
    too_big = bytes(MAX_UPLOAD_BYTES + 1)
    refused = httpx.post(
        f"{served}{UPLOAD_PATH}", data=fields, files={"file": ("logo.png", too_big, "image/png")}
    )
    assert refused.status_code == 400
    assert s3_code(refused.content) == "EntityTooLarge"
    assert f"<ProposedSize>{MAX_UPLOAD_BYTES + 1}</ProposedSize>".encode() in refused.content


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"{V1}/rooms", {"Authorization": BASIC}),
        ("/_emulator/clock", {"Authorization": f"Bearer {TOKEN}"}),
        ("/_emulator/faults", {"Authorization": f"Bearer {TOKEN}"}),
    ],
)
def test_an_endless_chunked_json_body_is_413(
    served: str, path: str, headers: dict[str, str]
) -> None:
    request = head(
        "POST",
        path,
        served.removeprefix("http://"),
        {**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    answer = exchange(served, request, chunked([b'{"display_name": "', *zeros(ENDLESS)]))
    assert answer.status == 413
    assert json.loads(answer.body) == {
        "message": f"request entity too large: the limit is {LIMIT} bytes",
        "name": "PayloadTooLargeError",
        "status": 413,
    }
    assert answer.sent_before_answer < ENDLESS // 2


def test_a_fault_answering_in_the_handlers_place_reads_no_more_than_the_limit(
    served: str,
) -> None:
    rule = {"path": f"{V1}/rooms", "effect": {"status": 503}}
    added = httpx.post(
        f"{served}/_emulator/faults", json=rule, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert added.status_code == 201
    request = head(
        "POST",
        f"{V1}/rooms",
        served.removeprefix("http://"),
        {
            "Authorization": BASIC,
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
    )
    answer = exchange(served, request, chunked(zeros(ENDLESS)))
    assert answer.status == 503
    assert answer.headers["x-meetings-emulator-fault"] == "fault-1"
    assert answer.sent_before_answer < ENDLESS // 2
