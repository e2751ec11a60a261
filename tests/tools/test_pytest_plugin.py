"""The pytest plugin, as a user meets it: the README's example test, run by pytest itself."""

from __future__ import annotations

import pytest

from ..project.samples import named

pytestmark = pytest.mark.network


def readme_example() -> str:
    """The block README.md marks `sample: pytest` (docs/recipes/pytest.md includes it)."""
    example = named("pytest").text
    assert "def test_a_meeting_from_start_to_end" in example
    return example


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_meetings=readme_example())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


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
