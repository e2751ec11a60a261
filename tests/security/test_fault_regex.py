"""A fault rule's `path_regex` cannot freeze the server: it runs on a linear-time engine
(RE2), so a pattern that backtracks catastrophically in Python's `re` answers at once."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest
from starlette.testclient import TestClient

from ..conftest import BASIC, make_app, serving

V1 = "/v1/meetings"
# `(a+)+$` tried against a run of `a`s that ends in something else: Python's `re` tries
# every way to split the run, 2**n of them (26 characters took 8 s; these take minutes).
EVIL = "(a+)+$"
CRAFTED = f"{V1}/rooms/" + "a" * 30 + "!"


def test_a_catastrophic_pattern_answers_at_once_and_the_server_keeps_answering() -> None:
    with (
        serving(make_app()) as url,
        httpx.Client(base_url=url, headers={"Authorization": BASIC}, timeout=10) as http,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        added = http.post("/_emulator/faults", json={"path_regex": EVIL, "effect": {"status": 503}})
        assert added.status_code == 201, added.text
        began = time.monotonic()
        crafted = pool.submit(http.get, CRAFTED)
        health = pool.submit(http.get, "/_emulator/health")
        assert health.result().json()["status"] == "ok"
        answer = crafted.result()
        took = time.monotonic() - began
        assert took < 2, f"the crafted path took {took:.1f} s"
        # the pattern does not match (the path ends in "!"): the real answer, no fault
        assert answer.status_code == 404
        assert answer.json()["message"] == f"Room {'a' * 30}! was not found"
        assert "x-meetings-emulator-fault" not in answer.headers
        # and it still matches what it should
        assert http.get(f"{V1}/rooms/aaaa").status_code == 503
        assert http.get(f"{V1}/rooms").status_code == 200


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "invalid escape sequence: \\1"),
        ("(?=rooms)", "invalid perl operator: (?="),
        ("(?<!x)rooms", "invalid perl operator: (?<!"),
        ("rooms[", "missing ]: ["),
    ],
)
def test_what_re2_cannot_run_is_refused_with_the_reason(
    pattern: str, why: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(make_app()) as client:
        refused = client.post(
            "/_emulator/faults", json={"path_regex": pattern, "effect": {"status": 503}}
        )
    assert refused.status_code == 400
    assert refused.json() == {
        "message": f'"path_regex" must be a valid regular expression in RE2 syntax: {why}',
        "name": "InputValidationError",
        "status": 400,
    }
    assert capfd.readouterr().err == ""  # RE2's own logging stays quiet


def test_python_style_patterns_still_match() -> None:
    with TestClient(make_app(), headers={"Authorization": BASIC}) as client:
        rule = {"path_regex": r"^/v1/meetings/rooms/(?P<id>[^/]+)$", "effect": {"status": 409}}
        assert client.post("/_emulator/faults", json=rule).status_code == 201
        assert client.get(f"{V1}/rooms/abc").status_code == 409
        assert client.get(f"{V1}/rooms").status_code == 200
        assert client.get(f"{V1}/rooms/abc/more").status_code == 404
