"""The `meetings_tenant` fixture, as a suite meets it: a world of its own for each test on
one server, dropped after the test; and a parallel suite under pytest-xdist, with a server
per worker and with one server shared by every worker."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.settings import Settings

from ..conftest import START, serving
from .process import Running

pytestmark = pytest.mark.network

RUN = ("-q", "-p", "no:cacheprovider")

# Forty tests, each on a tenant of its own: a room made at the start, the tenant's clock
# moved by an amount of its own, a second room, the clock moved past the first room's
# expiry. Had another test's move reached this tenant, a clock or a room would show it.
PARALLEL_SUITE = """
import os
from datetime import timedelta

import pytest

ROOMS = "/v1/meetings/rooms"


@pytest.mark.parametrize("n", range(40))
def test_a_room_expires_on_its_own_tenants_clock(meetings_tenant, n):
    tenant = meetings_tenant
    start = tenant.now()
    first = tenant.http.post(ROOMS, json={"display_name": f"first {n}"}).json()
    assert tenant.advance(300 + n) == start + timedelta(seconds=300 + n)
    second = tenant.http.post(ROOMS, json={"display_name": f"second {n}"}).json()
    assert tenant.advance(301) == start + timedelta(seconds=601 + n)

    assert tenant.http.get(f"{ROOMS}/{first['id']}").json()["is_available"] is False
    assert tenant.http.get(f"{ROOMS}/{second['id']}").json()["is_available"] is True
    assert tenant.http.get(ROOMS).json()["total_items"] == 2
    expired = tenant.deliveries(event="room:expired")
    assert [delivery["room_id"] for delivery in expired] == [first["id"]]
    assert tenant.now() == start + timedelta(seconds=601 + n)

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.environ["SEEN_FILE"], "a") as seen:
        seen.write(f"{worker} {tenant.base_url} {tenant.name}\\n")
"""


@pytest.fixture(autouse=True)
def _no_url_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suites below choose their server themselves."""
    monkeypatch.delenv("MEETINGS_EMULATOR_URL", raising=False)


@pytest.fixture
def shared_server() -> Iterator[str]:
    """An emulator in this process, with a frozen clock, for suites given its URL."""
    app = create_app(Settings(seed=3), clock=Clock.frozen_at(START))
    with serving(app) as url:
        yield url


def tenants_on(url: str) -> list[str]:
    return [t["name"] for t in httpx.get(f"{url}/_emulator/tenants").json()["tenants"]]


def seen_lines(path: Path) -> list[tuple[str, str, str]]:
    lines = path.read_text().splitlines()
    return [(worker, url, name) for worker, url, name in (line.split() for line in lines)]


def test_each_test_gets_a_tenant_of_its_own_dropped_after_it(
    pytester: pytest.Pytester, shared_server: str
) -> None:
    pytester.makepyfile(
        test_tenants="""
        import base64
        from datetime import timedelta

        ROOMS = "/v1/meetings/rooms"
        earlier = {}


        def test_first(meetings_tenant):
            tenant = meetings_tenant
            pair = base64.b64encode(f"{tenant.api_key}:{tenant.api_secret}".encode()).decode()
            assert tenant.auth_header == "Basic " + pair
            assert tenant.http.headers["Authorization"] == tenant.auth_header
            assert tenant.api_url == tenant.base_url + "/v1/meetings"
            room = tenant.http.post(ROOMS, json={"display_name": "first's"}).json()
            earlier.update(room=room, name=tenant.name, start=tenant.now())
            tenant.advance(timedelta(hours=1))
            assert tenant.http.get(f"{ROOMS}/{room['id']}").json()["is_available"] is False


        def test_second_sees_nothing_of_the_first(meetings_tenant, meetings_emulator):
            tenant = meetings_tenant
            assert tenant.name != earlier["name"]
            assert tenant.now() == earlier["start"]  # the first test's move is not ours
            assert tenant.http.get(ROOMS).json()["total_items"] == 0
            assert tenant.http.get(f"{ROOMS}/{earlier['room']['id']}").status_code == 404
            tenants = meetings_emulator.http.get("/_emulator/tenants").json()["tenants"]
            assert [t["name"] for t in tenants] == [tenant.name]  # the first one is gone


        def test_a_failing_test_drops_its_tenant_too(meetings_tenant):
            meetings_tenant.http.post(ROOMS, json={"display_name": "left behind?"})
            assert False, "this test fails on purpose"
        """
    )
    result = pytester.runpytest_subprocess(*RUN, f"--meetings-emulator-url={shared_server}")
    result.assert_outcomes(passed=2, failed=1)
    assert tenants_on(shared_server) == []
    # The default tenant of the shared server was left alone.
    assert httpx.get(f"{shared_server}/_emulator/clock").json()["now"] == (
        "2026-03-02T09:30:00.125Z"
    )


def test_a_tenant_plays_people_recordings_and_reads_its_own_callbacks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_people="""
        ROOMS = "/v1/meetings/rooms"


        def test_a_meeting_in_a_tenant(meetings_tenant, meetings_emulator):
            tenant = meetings_tenant
            room = tenant.http.post(ROOMS, json={"display_name": "standup"}).json()
            host = tenant.join(room["id"], "Avital", is_host=True)
            guest = tenant.join(room["id"], "Noa")
            session = tenant.session(room["id"])["session"]
            assert session["session_id"] == host["session_id"]
            assert len(session["participants"]) == 2
            recording = tenant.start_recording(host["session_id"], host["participant_id"])
            tenant.advance(30)
            tenant.stop_recording(recording["id"])
            tenant.leave(room["id"], guest["participant_id"])
            tenant.leave(room["id"], host["participant_id"])
            tenant.advance(10)
            assert tenant.flush()["idle"] is True

            delivered = tenant.deliveries(status="delivered")
            assert {d["room_id"] for d in delivered} == {room["id"]}
            assert [d["event"] for d in delivered].count("session:participant:joined") == 2
            assert "recording:uploaded" in [d["event"] for d in delivered]
            # None of it is the default tenant's, nor any other's.
            default = meetings_emulator.http.get("/_emulator/callbacks").json()
            assert default["deliveries"] == []
            assert meetings_emulator.http.get(ROOMS).json()["total_items"] == 0
        """
    )
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=1)


def test_clocks_start_where_the_option_says_and_move_apart(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmeetings_emulator_start = 2031-05-06T07:08:09Z\n")
    pytester.makepyfile(
        test_start="""
        from datetime import datetime, timezone

        START = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


        def test_one(meetings_tenant, meetings_clock):
            assert meetings_tenant.now() == START
            assert meetings_tenant.advance(3600).isoformat() == "2031-05-06T08:08:09+00:00"
            assert meetings_clock.now() == START  # the server's own clock stays


        def test_two(meetings_tenant):
            assert meetings_tenant.now() == START
            when = datetime(2032, 1, 1, tzinfo=timezone.utc)
            assert meetings_tenant.set(when) == when
        """
    )
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=2)


def test_forty_tests_under_xdist_with_one_server_per_worker(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.txt"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    result = pytester.runpytest_subprocess(*RUN, "-n", "4", timeout=600)
    result.assert_outcomes(passed=40)

    lines = seen_lines(seen)
    assert len(lines) == 40
    assert len({name for _, _, name in lines}) == 40
    workers = {worker for worker, _, _ in lines}
    assert workers == {"gw0", "gw1", "gw2", "gw3"}
    url_of = {worker: {url for w, url, _ in lines if w == worker} for worker in workers}
    assert all(len(urls) == 1 for urls in url_of.values())  # one server a worker...
    assert len(set.union(*url_of.values())) == 4  # ...and none shared


def test_forty_tests_under_xdist_sharing_one_served_emulator(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.txt"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    with Running.start("--port", "0", "--seed", "11") as server:
        result = pytester.runpytest_subprocess(
            *RUN, "-n", "4", f"--meetings-emulator-url={server.url}", timeout=600
        )
        result.assert_outcomes(passed=40)
        assert tenants_on(server.url) == []
        stopped = server.stop()
    assert stopped.status == 0

    lines = seen_lines(seen)
    assert {worker for worker, _, _ in lines} == {"gw0", "gw1", "gw2", "gw3"}
    assert {url for _, url, _ in lines} == {server.url}
    made = re.findall(r"tenant (\S+) made", stopped.stderr)
    dropped = re.findall(r"tenant (\S+) dropped", stopped.stderr)
    assert sorted(made) == sorted(dropped) == sorted(name for _, _, name in lines)
    assert Counter(made).most_common(1)[0][1] == 1


def test_the_url_can_come_from_the_environment(
    pytester: pytest.Pytester, shared_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEETINGS_EMULATOR_URL", shared_server)
    pytester.makepyfile(
        test_env=f"""
        def test_the_given_server_is_used(meetings_tenant, meetings_base_url):
            assert meetings_tenant.base_url == meetings_base_url == "{shared_server}"
        """
    )
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=1)


def test_a_url_where_nothing_answers_is_said_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ..conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    pytester.makepyfile(test_none="def test_it(meetings_tenant):\n    pass\n")
    result = pytester.runpytest_subprocess(*RUN, f"--meetings-emulator-url={url}")
    result.assert_outcomes(errors=1)
    assert f"meetings-emulator: nothing answers at {url}" in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_the_docs_tenant_example_passes(pytester: pytest.Pytester) -> None:
    """The recipe's example (docs/recipes/pytest.md, `sample: pytest-tenant`), twice in one
    run: two tests, each moving its own tenant's clock."""
    from ..project.samples import named

    example = named("pytest-tenant").text
    second = example.replace("def test_my_room_expires", "def test_my_room_expires_too")
    pytester.makepyfile(test_tenant_example=example + "\n\n" + second)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
