"""The logo store: presigned forms, the emulated S3 POST upload, and finalizing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import random
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import BadRequestError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.logos import (
    BUCKET,
    FAVICON_MAX_SIDE,
    LOGO_MAX_SIDE,
    LOGO_PATH,
    LOGO_TYPES,
    MAX_LOGO_BYTES,
    MAX_UPLOAD_BYTES,
    UPLOAD_PATH,
    LogoProblem,
    LogosInvalid,
    LogoStore,
    S3Error,
    inspect_logo,
    logo_url,
)

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SECRET = b"test-secret"
BASE = "http://localhost:8080/"
# The logo upload forms the live API handed out, as the Python SDK's test data kept them.
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/live/python/list_logo_upload_urls.json"
THEME = "6a3d9ce5-9a44-4ab1-9f69-3ab3d2b1d4c4"


# -- images --------------------------------------------------------------------------------


def png(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def logo(width: int = 240, height: int = 80) -> bytes:
    """A transparent RGBA logo with an opaque mark in the middle."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for x in range(width // 4, 3 * width // 4):
        image.putpixel((x, height // 2), (200, 30, 30, 255))
    return png(image)


def favicon(side: int = 32) -> bytes:
    return logo(side, side)


def opaque_logo() -> bytes:
    return png(Image.new("RGB", (240, 80), (255, 255, 255)))


def opaque_corner_logo() -> bytes:
    image = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    image.putpixel((239, 79), (0, 0, 0, 255))
    return png(image)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 80), (10, 20, 30)).save(out, "JPEG")
    return out.getvalue()


def oversized_logo() -> bytes:
    """A valid transparent logo padded past 1 MiB with incompressible text chunks."""
    info = PngImagePlugin.PngInfo()
    noise = random.Random(7)
    for n in range(4):
        info.add_text(f"pad{n}", "".join(noise.choice("0123456789abcdef") for _ in range(300_000)))
    image = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    data = png(image, pnginfo=info)
    assert MAX_LOGO_BYTES < len(data) < MAX_UPLOAD_BYTES
    return data


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock.frozen_at(START)


@pytest.fixture
def store(clock: Clock) -> LogoStore:
    return LogoStore(clock, Ids(3), SECRET)


def form_for(store: LogoStore, logo_type: str) -> dict[str, str]:
    [form] = [f for f in store.upload_forms(BASE) if f["fields"]["logoType"] == logo_type]
    return dict(form["fields"])


def upload(store: LogoStore, logo_type: str, data: bytes) -> str:
    fields = form_for(store, logo_type)
    store.accept_upload(fields, data, f"{logo_type}.png")
    return fields["key"]


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    return json.loads(base64.b64decode(fields["Policy"]))


def s3_error(store: LogoStore, fields: dict[str, str], data: bytes | None) -> S3Error:
    with pytest.raises(S3Error) as caught:
        store.accept_upload(fields, data, "logo.png")
    return caught.value


def problems_of(store: LogoStore, keys: list[str]) -> list[dict[str, str]]:
    with pytest.raises(LogosInvalid) as caught:
        store.finalize(THEME, keys)
    return [problem.as_json() for problem in caught.value.problems]


def invalid(key: str, prop: str) -> dict[str, str]:
    return {"logoKey": key, "code": "invalid_logo_properties", "invalidProperty": prop}


# -- the forms -----------------------------------------------------------------------------


def test_forms_one_per_logo_type_with_a_temporary_key(store: LogoStore) -> None:
    forms = store.upload_forms(BASE)
    assert [form["fields"]["logoType"] for form in forms] == list(LOGO_TYPES)
    for form in forms:
        fields = form["fields"]
        assert form["url"] == "http://localhost:8080" + UPLOAD_PATH
        assert fields["key"].startswith(f"auto-expiring-temp/logos/{fields['logoType']}/")
        assert fields["Content-Type"] == "image/png"
        assert fields["bucket"] == BUCKET
        assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert fields["X-Amz-Date"] == "20260302T093000Z"
        access_key, date, region, service, kind = fields["X-Amz-Credential"].split("/")
        assert access_key.startswith("ASIA")
        assert len(access_key) == 20
        assert (date, region, service, kind) == ("20260302", "us-east-1", "s3", "aws4_request")
        assert fields["X-Amz-Security-Token"]
    assert len({form["fields"]["key"] for form in forms}) == 3


def test_forms_are_replayable_from_the_seed(clock: Clock) -> None:
    first = LogoStore(clock, Ids(3), SECRET).upload_forms(BASE)
    again = LogoStore(clock, Ids(3), SECRET).upload_forms(BASE)
    assert first == again


def test_forms_have_the_shape_of_the_live_response(store: LogoStore) -> None:
    live = json.loads(FIXTURE.read_text())
    ours = store.upload_forms(BASE)
    assert len(ours) == len(live)
    for mine, theirs in zip(ours, live, strict=True):
        assert list(mine) == list(theirs)
        assert list(mine["fields"]) == list(theirs["fields"])
        assert mine["fields"]["logoType"] == theirs["fields"]["logoType"]
        assert mine["fields"]["bucket"] == theirs["fields"]["bucket"]
        assert mine["url"].endswith("/" + theirs["fields"]["bucket"])


def test_policy_decodes_to_the_documented_conditions(store: LogoStore) -> None:
    fields = form_for(store, "white")
    assert policy_of(fields) == {
        "expiration": "2026-03-02T10:30:00.000Z",
        "conditions": [
            {"bucket": BUCKET},
            ["eq", "$key", fields["key"]],
            ["eq", "$Content-Type", "image/png"],
            ["content-length-range", 0, MAX_UPLOAD_BYTES],
        ],
    }
    expected = hmac.new(SECRET, fields["Policy"].encode(), hashlib.sha256).hexdigest()
    assert fields["X-Amz-Signature"] == expected


# -- the S3 upload -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing", ["key", "Policy", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Date"]
)
def test_upload_without_a_required_field_is_invalid_argument(
    store: LogoStore, missing: str
) -> None:
    fields = form_for(store, "white")
    del fields[missing]
    error = s3_error(store, fields, logo())
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message.startswith(f"Bucket POST must contain a field named '{missing}'.")


def test_upload_without_a_file_is_invalid_argument(store: LogoStore) -> None:
    error = s3_error(store, form_for(store, "white"), None)
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message == "POST requires exactly one file upload per request."


def test_an_empty_form_asks_for_the_key_first(store: LogoStore) -> None:
    """What the Node SDK's empty-bodied POST meets."""
    error = s3_error(store, {}, None)
    assert error.code == "InvalidArgument"
    assert "'key'" in error.message


def test_upload_with_a_wrong_signature_is_refused(store: LogoStore) -> None:
    fields = form_for(store, "white")
    fields["X-Amz-Signature"] = "0" * 64
    error = s3_error(store, fields, logo())
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


def test_a_tampered_policy_fails_the_signature(store: LogoStore) -> None:
    fields = form_for(store, "white")
    document = policy_of(fields)
    document["conditions"][3] = ["content-length-range", 0, 10**9]
    fields["Policy"] = base64.b64encode(json.dumps(document).encode()).decode()
    assert s3_error(store, fields, logo()).code == "SignatureDoesNotMatch"


def test_upload_after_the_policy_expired_is_access_denied(store: LogoStore, clock: Clock) -> None:
    fields = form_for(store, "white")
    clock.advance(timedelta(hours=1, seconds=1))
    error = s3_error(store, fields, logo())
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.message == "Invalid according to Policy: Policy expired."


def test_upload_just_before_expiry_is_accepted(store: LogoStore, clock: Clock) -> None:
    fields = form_for(store, "white")
    clock.advance(timedelta(minutes=59, seconds=59))
    store.accept_upload(fields, logo(), "white.png")


@pytest.mark.parametrize(
    ("field", "value", "condition"),
    [
        ("key", "auto-expiring-temp/logos/white/other", '["eq", "$key", '),
        ("Content-Type", "image/jpeg", '["eq", "$Content-Type", "image/png"]'),
    ],
)
def test_a_field_against_the_policy_is_access_denied(
    store: LogoStore, field: str, value: str, condition: str
) -> None:
    fields = form_for(store, "white")
    fields[field] = value
    error = s3_error(store, fields, logo())
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.message.startswith(
        "Invalid according to Policy: Policy Condition failed: " + condition
    )


def test_a_missing_content_type_fails_its_condition(store: LogoStore) -> None:
    fields = form_for(store, "white")
    del fields["Content-Type"]
    error = s3_error(store, fields, logo())
    assert (error.code, error.status) == ("AccessDenied", 403)


def test_upload_over_the_length_range_is_entity_too_large(store: LogoStore) -> None:
    error = s3_error(store, form_for(store, "white"), b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert (error.code, error.status) == ("EntityTooLarge", 400)
    assert error.message == "Your proposed upload exceeds the maximum allowed size"
    assert error.details["MaxSizeAllowed"] == str(MAX_UPLOAD_BYTES)


def test_upload_at_the_length_limit_is_accepted(store: LogoStore) -> None:
    store.accept_upload(form_for(store, "white"), b"\0" * MAX_UPLOAD_BYTES, "big.png")


def test_extra_fields_are_ignored_and_names_match_in_any_case(store: LogoStore) -> None:
    fields = {name.lower(): value for name, value in form_for(store, "white").items()}
    fields["Authorization"] = "Bearer abc.def.ghi"
    fields["x-ignore-note"] = "anything"
    store.accept_upload(fields, logo(), None)
    assert store.finalize(THEME, [fields["key"]])["white"][1] == "image/png"


@pytest.mark.parametrize(
    "build",
    [
        lambda f: f.pop("key"),
        lambda f: f.update({"X-Amz-Signature": "bad"}),
        lambda f: f.update({"key": "a&b<c>"}),
    ],
)
def test_error_bodies_are_well_formed_s3_xml(store: LogoStore, build: Any) -> None:
    fields = form_for(store, "white")
    build(fields)
    error = s3_error(store, fields, logo())
    body = error.xml()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == error.code
    assert root.findtext("Message") == error.message
    assert len(root.findtext("RequestId") or "") == 16
    assert root.findtext("HostId")
    assert [child.tag for child in root][:2] == ["Code", "Message"]
    assert [child.tag for child in root][-2:] == ["RequestId", "HostId"]


def test_s3_error_escapes_its_text() -> None:
    error = S3Error("Code", 'a <b> & "c"', 400, {"Detail": "x<y"})
    root = ET.fromstring(error.xml())
    assert root.findtext("Message") == 'a <b> & "c"'
    assert root.findtext("Detail") == "x<y"


def test_a_new_upload_under_a_key_replaces_the_old(store: LogoStore) -> None:
    fields = form_for(store, "white")
    store.accept_upload(fields, opaque_logo(), "first.png")
    store.accept_upload(fields, logo(), "second.png")
    [(key, _)] = store.finalize(THEME, [fields["key"]]).values()
    assert store.image(key) == logo()


# -- finalizing ----------------------------------------------------------------------------


def test_round_trip_forms_upload_finalize_serve(store: LogoStore) -> None:
    images = {"white": logo(), "colored": logo(300, 100), "favicon": favicon()}
    keys = [upload(store, logo_type, data) for logo_type, data in images.items()]
    result = store.finalize(THEME, keys)
    assert set(result) == set(LOGO_TYPES)
    for logo_type, (key, content_type) in result.items():
        assert content_type == "image/png"
        assert key.startswith(f"logos/{THEME}/{logo_type}/")
        assert key.endswith(".png")
        assert store.image(key) == images[logo_type]
    # The temporary uploads are used up.
    assert problems_of(store, keys[:1]) == [{"logoKey": keys[0], "code": "key_not_found"}]


def test_logo_links_name_the_key() -> None:
    key = f"logos/{THEME}/white/x.png"
    assert logo_url(BASE, key) == "http://localhost:8080" + LOGO_PATH.format(key=key)
    assert logo_url(BASE, key).endswith("/_emulator/logos/" + key)


def test_image_of_an_unknown_or_temporary_key_is_none(store: LogoStore) -> None:
    key = upload(store, "white", logo())
    assert store.image(key) is None
    assert store.image("logos/nope.png") is None


def test_an_unknown_key_is_key_not_found(store: LogoStore) -> None:
    assert problems_of(store, ["not-a-key"]) == [{"logoKey": "not-a-key", "code": "key_not_found"}]


def test_a_key_handed_out_but_never_uploaded_is_key_not_found(store: LogoStore) -> None:
    key = form_for(store, "white")["key"]
    assert problems_of(store, [key]) == [{"logoKey": key, "code": "key_not_found"}]


def test_an_expired_temporary_upload_is_key_not_found(store: LogoStore, clock: Clock) -> None:
    key = upload(store, "white", logo())
    clock.advance(timedelta(hours=1, seconds=1))
    assert problems_of(store, [key]) == [{"logoKey": key, "code": "key_not_found"}]


def test_a_temporary_upload_lasts_an_hour(store: LogoStore, clock: Clock) -> None:
    key = upload(store, "white", logo())
    clock.advance(timedelta(hours=1))
    assert "white" in store.finalize(THEME, [key])


@pytest.mark.parametrize(
    ("logo_type", "data", "prop"),
    [
        ("white", jpeg(), "type"),
        ("white", b"not an image at all", "type"),
        ("white", logo()[: len(logo()) // 2], "type"),
        ("colored", oversized_logo(), "exceeds_size"),
        ("white", logo(2000, 2000), "dimensions"),
        ("colored", logo(LOGO_MAX_SIDE + 1, 80), "dimensions"),
        ("favicon", logo(32, 16), "dimensions"),
        ("favicon", favicon(FAVICON_MAX_SIDE * 2), "dimensions"),
        ("favicon", favicon(8), "dimensions"),
        ("white", opaque_logo(), "transparent_bg"),
        ("colored", opaque_corner_logo(), "transparent_bg"),
        ("favicon", png(Image.new("RGBA", (32, 32), (9, 9, 9, 255))), "transparent_bg"),
    ],
    ids=[
        "jpeg",
        "garbage",
        "truncated",
        "over-1MiB",
        "2000x2000",
        "too-wide",
        "favicon-not-square",
        "favicon-too-big",
        "favicon-too-small",
        "opaque-rgb",
        "opaque-corner",
        "opaque-favicon",
    ],
)
def test_each_invalid_property(store: LogoStore, logo_type: str, data: bytes, prop: str) -> None:
    key = upload(store, logo_type, data)
    assert problems_of(store, [key]) == [invalid(key, prop)]


@pytest.mark.parametrize(
    "data",
    [
        png(Image.new("RGB", (40, 20), (1, 2, 3)), transparency=(1, 2, 3)),
        png(Image.new("LA", (40, 20), (0, 0))),
        png(Image.new("P", (40, 20), 0), transparency=0),
        logo(1, 1),
        logo(LOGO_MAX_SIDE, LOGO_MAX_SIDE),
    ],
    ids=["rgb-trns", "grey-alpha", "palette-trns", "1x1", "max"],
)
def test_other_transparent_pngs_are_accepted(store: LogoStore, data: bytes) -> None:
    key = upload(store, "white", data)
    assert "white" in store.finalize(THEME, [key])


def test_a_file_can_have_several_invalid_properties() -> None:
    """Each property is its own problem: here the size, the dimensions and the background."""
    info = PngImagePlugin.PngInfo()
    noise = random.Random(1)
    info.add_text("pad", "".join(noise.choice("0123456789abcdef") for _ in range(1_100_000)))
    data = png(Image.new("RGB", (400, 40), (255, 255, 255)), pnginfo=info)
    assert inspect_logo("white", data) == ["exceeds_size", "dimensions", "transparent_bg"]


def test_a_huge_claimed_image_is_not_decoded() -> None:
    """A PNG header claiming 100000 x 100000 px fails `dimensions` without decoding."""
    data = bytearray(logo())
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    assert inspect_logo("white", bytes(data)) == ["dimensions"]


def test_all_problems_are_collected_and_nothing_changes(store: LogoStore) -> None:
    good = upload(store, "favicon", favicon())
    wrong_type = upload(store, "white", jpeg())
    opaque = upload(store, "colored", opaque_logo())
    assert problems_of(store, [good, "nope", wrong_type, opaque]) == [
        {"logoKey": "nope", "code": "key_not_found"},
        invalid(wrong_type, "type"),
        invalid(opaque, "transparent_bg"),
    ]
    # Nothing was used up: the good upload still finalizes on its own.
    [(key, _)] = store.finalize(THEME, [good]).values()
    assert store.image(key) == favicon()


def test_the_later_key_of_a_logo_type_wins(store: LogoStore) -> None:
    first = upload(store, "white", logo(100, 50))
    second = upload(store, "white", logo(200, 50))
    result = store.finalize(THEME, [first, second])
    assert list(result) == ["white"]
    assert store.image(result["white"][0]) == logo(200, 50)


def test_finalizing_again_makes_a_new_permanent_key(store: LogoStore) -> None:
    old = store.finalize(THEME, [upload(store, "white", logo())])["white"][0]
    new = store.finalize(THEME, [upload(store, "white", logo(100, 50))])["white"][0]
    assert old != new
    assert store.image(new) == logo(100, 50)


def test_logos_invalid_becomes_the_apis_400() -> None:
    problems = [
        LogoProblem("k1", "key_not_found"),
        LogoProblem("k2", "invalid_logo_properties", "type"),
    ]
    error = LogosInvalid(problems).to_error()
    assert isinstance(error, BadRequestError)
    assert error.message == "could not finalize logos"
    assert error.errors == [
        {"logoKey": "k1", "code": "key_not_found"},
        {"logoKey": "k2", "code": "invalid_logo_properties", "invalidProperty": "type"},
    ]


def test_concurrent_uploads_and_finalizes(store: LogoStore) -> None:
    results: list[str] = []

    def work() -> None:
        key = upload(store, "white", logo())
        results.append(store.finalize(THEME, [key])["white"][0])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 8
    assert all(store.image(key) == logo() for key in results)
