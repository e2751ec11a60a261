"""What every answer shares: JSON bodies with Starlette's own headers (typed as the live
service typed them), and fresh ids."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from meetings_emulator.domain.ids import Ids, _b64url
from meetings_emulator.http.responses import CONTENT_TYPE, JSONBody

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
header_names = st.sampled_from(["X-Trace", "Allow", "Content-Type", "Retry-After"])


@given(
    content=json_values,
    status=st.integers(100, 599),
    headers=st.none() | st.dictionaries(header_names, st.text("abc, /", max_size=8), max_size=2),
)
def test_json_bodies_are_written_as_starlette_writes_them(
    content: Any, status: int, headers: dict[str, str] | None
) -> None:
    ours = JSONBody(content, status, headers)
    theirs = JSONResponse(content, status, headers, media_type=CONTENT_TYPE)
    assert (ours.status_code, ours.body, ours.raw_headers) == (
        theirs.status_code,
        theirs.body,
        theirs.raw_headers,
    )


def test_what_the_fast_encoder_refuses_is_still_written() -> None:
    body = JSONBody({"big": 2**70})
    assert body.body == b'{"big":1180591620717411303424}'
    assert (b"content-length", b"30") in body.raw_headers


def test_ids_drawn_from_many_threads_at_once_are_all_distinct() -> None:
    ids = Ids()
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        for _ in range(2_000):
            into.append(ids.uuid())
            ids.meeting_code()

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [uuid for into in drawn for uuid in into]
    assert len(set(every)) == len(every) == 16_000
    version4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(version4.match(uuid) for uuid in every)


@given(bits=st.integers(0, 2**128 - 1))
def test_a_uuid_from_any_bits_is_the_standard_version_4_form_of_them(bits: int) -> None:
    assert Ids().uuid(bits) == str(uuid.UUID(int=bits, version=4))


@given(seed=st.integers(0, 2**32))
def test_seeded_uuids_are_the_version_4_form_of_the_seeded_draws(seed: int) -> None:
    import random

    draws = random.Random(seed)
    draws.randbytes(32)  # the token key, drawn first
    expected = str(uuid.UUID(int=draws.getrandbits(128), version=4))
    assert Ids(seed).token_key_id == expected


@given(data=st.binary(max_size=80))
def test_token_parts_are_unpadded_url_safe_base64(data: bytes) -> None:
    assert _b64url(data) == base64.urlsafe_b64encode(data).rstrip(b"=")
