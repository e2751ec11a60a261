"""The pytest plugin, as a user meets it: the README's example test, run by pytest itself."""

from __future__ import annotations

import pytest

from ..project.samples import named

pytestmark = pytest.mark.network


def readme_example(name: str = "pytest") -> str:
    """A block the docs mark `sample: NAME`: README.md's `pytest` (docs/recipes/pytest.md
    includes it), the recipe's `pytest-wait`."""
    return named(name).text


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    example = readme_example()
    assert "def test_a_meeting_from_start_to_end" in example
    pytester.makepyfile(test_meetings=example)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_waiting_example_passes_without_a_sleep(pytester: pytest.Pytester) -> None:
    example = readme_example("pytest-wait")
    assert "def test_an_unused_room_expires_exactly_once" in example
    assert "sleep" not in example
    pytester.makepyfile(test_waiting=example)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_wait_for_callbacks_returns_them_as_they_land_and_fails_when_they_do_not(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_waits="""
        import time

        import pytest

        def test_a_slow_callback_is_waited_for(meetings_emulator, meetings_clock):
            rule = {"event": "room:expired", "effect": {"latency_ms": 300}}
            meetings_emulator.http.post("/_emulator/callbacks/faults", json=rule)
            rooms = [
                meetings_emulator.http.post(
                    "/v1/meetings/rooms", json={"display_name": name}
                ).json()["id"]
                for name in "ab"
            ]
            meetings_clock.advance(600)
            started = time.monotonic()
            both = meetings_emulator.wait_for_callbacks(event="room:expired", count=2)
            assert 0.2 < time.monotonic() - started < 3
            assert sorted(d["room_id"] for d in both) == sorted(rooms)

        def test_a_callback_that_never_comes_fails_the_test(meetings_emulator):
            started = time.monotonic()
            with pytest.raises(AssertionError) as failure:
                meetings_emulator.wait_for_callbacks(event="room:expired", timeout=0.3)
            assert 0.3 <= time.monotonic() - started < 3
            assert str(failure.value) == (
                "expected at least 1 callback(s) matching {'event': 'room:expired'}"
                " within 0.3 s; 0 finished: []"
            )
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_state_is_reset_between_tests_but_the_server_is_shared(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_isolation="""
        seen = []

        def test_first(meetings_emulator, meetings_inbox):
            seen.append(meetings_emulator.base_url)
            meetings_emulator.http.post("/v1/meetings/rooms", json={"display_name": "a"})
            assert meetings_emulator.http.get("/v1/meetings/rooms").json()["total_items"] == 1

        def test_second(meetings_emulator, meetings_inbox, meetings_base_url):
            assert meetings_emulator.http.get("/v1/meetings/rooms").json()["total_items"] == 0
            assert meetings_inbox.events == []
            assert seen == [meetings_base_url]
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_function_scope_gives_each_test_its_own_server(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmeetings_emulator_scope = function\n")
    pytester.makepyfile(
        test_scoped="""
        urls = []

        def test_one(meetings_base_url):
            urls.append(meetings_base_url)

        def test_two(meetings_base_url):
            assert urls and urls[0] != meetings_base_url
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_clock_fixture_moves_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_clock="""
        from datetime import timedelta

        def test_clock(meetings_emulator, meetings_clock):
            start = meetings_clock.now()
            room = meetings_emulator.http.post(
                "/v1/meetings/rooms", json={"display_name": "x"}).json()
            assert meetings_clock.advance(timedelta(minutes=10)) == start + timedelta(minutes=10)
            gone = meetings_emulator.http.get(f"/v1/meetings/rooms/{room['id']}").json()
            assert gone["is_available"] is False
            assert meetings_clock.set(start + timedelta(days=1)) == start + timedelta(days=1)
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
