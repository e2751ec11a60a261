"""Snapshots that must not get in: `PUT /_emulator/snapshot` checks the whole document before
anything changes. A refused one answers 400 naming its first problem, and the state stays
exactly as it was; an accepted one leaves an emulator that still works."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from meetings_emulator.app import create_app
from meetings_emulator.domain import models, themes
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.rooms import NOT_SAVED
from meetings_emulator.domain.sessions import Sessions
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START

V1 = "/v1/meetings"
SNAPSHOT = "/_emulator/snapshot"
REFUSED = "The snapshot could not be read, and nothing was changed: "
STARTED = START + timedelta(seconds=13)  # where the clock stands once `build` is done


def new_client() -> TestClient:
    app = create_app(Settings(seed=7), clock=Clock.frozen_at(START), ids=Ids(7))
    return TestClient(app, headers={"Authorization": BASIC})


def join(client: TestClient, room_id: str, name: str, *, host: bool = False) -> dict[str, Any]:
    answer = client.post(
        f"/_emulator/rooms/{room_id}/participants", json={"name": name, "is_host": host}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def long_term(client: TestClient, name: str, **extra: Any) -> dict[str, Any]:
    expires = format_iso(START + timedelta(days=30))
    body = {"display_name": name, "type": "long_term", "expires_at": expires, **extra}
    answer = client.post(f"{V1}/rooms", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def build(client: TestClient) -> dict[str, Any]:
    """Something of every kind: a theme, available and deleted rooms, a live meeting with a
    waiting guest and recordings in each state, and a meeting that has ended."""
    theme = client.post(f"{V1}/themes", json={"main_color": "#0a0b0c", "brand_text": "B"}).json()
    instant = client.post(f"{V1}/rooms", json={"display_name": "instant"}).json()
    gone = client.post(f"{V1}/rooms", json={"display_name": "gone"}).json()
    client.delete(f"{V1}/rooms/{gone['id']}")
    ended = long_term(client, "ended")
    host = join(client, ended["id"], "Early", host=True)
    earlier = client.post(f"/_emulator/sessions/{host['session_id']}/recordings").json()
    client.delete(f"/_emulator/rooms/{ended['id']}/participants/{host['participant_id']}")
    live = long_term(client, "live", join_approval_level="explicit_approval", metadata="m")
    host = join(client, live["id"], "Host", host=True)
    guest = join(client, live["id"], "Guest")
    session = host["session_id"]
    uploaded = client.post(f"/_emulator/sessions/{session}/recordings").json()
    client.post(f"/_emulator/recordings/{uploaded['id']}/stop")
    client.post("/_emulator/clock", json={"advance_seconds": 10})
    pending = client.post(f"/_emulator/sessions/{session}/recordings").json()
    client.post("/_emulator/clock", json={"advance_seconds": 1})
    client.post(f"/_emulator/recordings/{pending['id']}/stop")  # uploaded 5 s later
    running = client.post(f"/_emulator/sessions/{session}/recordings").json()
    client.post("/_emulator/clock", json={"advance_seconds": 2})
    assert client.get("/_emulator/clock").json()["now"] == format_iso(STARTED)
    return {
        "theme": theme,
        "instant": instant,
        "gone": gone,
        "ended": ended,
        "earlier": earlier,
        "live": live,
        "host": host,
        "guest": guest,
        "session": session,
        "uploaded": uploaded,
        "pending": pending,
        "running": running,
    }


@pytest.fixture(scope="module")
def saved() -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid snapshot of `build`'s state, and what `build` made."""
    with new_client() as client:
        made = build(client)
        state = client.get(SNAPSHOT).json()
    statuses = {r["id"]: r["status"] for r in state["sessions"]["recordings"]}
    assert [
        statuses[made[name]["id"]] for name in ("earlier", "uploaded", "pending", "running")
    ] == [
        "uploaded",
        "uploaded",
        "stopped",
        "started",
    ]
    return state, made


@pytest.fixture
def client(saved: tuple[dict[str, Any], dict[str, Any]]) -> Iterator[TestClient]:
    with new_client() as fresh:
        assert fresh.put(SNAPSHOT, json=saved[0]).status_code == 204
        yield fresh


def at(items: list[dict[str, Any]], item_id: str, key: str = "id") -> int:
    return next(n for n, item in enumerate(items) if item[key] == item_id)


def not_a_date(path: str, state: dict[str, Any]) -> str:
    """The problem of a date that is none, or outside what a snapshot may hold: from 1970 to
    five years and a day past its clock."""
    clock = datetime.fromisoformat(state["clock"]["now"])
    latest = format_iso(clock.replace(year=clock.year + 5) + timedelta(days=1))
    return f'"{path}" must be a date-time from 1970-01-01 to {latest}'


Damage = Callable[[dict[str, Any], dict[str, Any]], str]


def null_created_at(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["rooms"]["rooms"], made["instant"]["id"])
    state["rooms"]["rooms"][n]["created_at"] = None
    return not_a_date(f"rooms.rooms[{n}].created_at", state)


def null_expires_at(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["rooms"]["rooms"], made["live"]["id"])
    state["rooms"]["rooms"][n]["expires_at"] = None
    return not_a_date(f"rooms.rooms[{n}].expires_at", state)


def year_one_with_an_offset(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["sessions"]["sessions"], made["session"])
    state["sessions"]["sessions"][n]["started_at"] = "0001-01-01T00:00:00+01:00"
    return not_a_date(f"sessions.sessions[{n}].started_at", state)


def recording_of_a_missing_room(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["sessions"]["recordings"], made["pending"]["id"])
    missing = str(uuid.UUID(int=12345))
    state["sessions"]["recordings"][n]["room_id"] = missing
    return (
        f'"sessions.recordings[{n}].room_id" names room {missing}, which the snapshot lacks:'
        " a stopped recording needs its room, for its upload"
    )


def recording_in_another_room_than_its_session(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["sessions"]["recordings"], made["uploaded"]["id"])
    state["sessions"]["recordings"][n]["room_id"] = made["instant"]["id"]
    return (
        f'"sessions.recordings[{n}].room_id" must be {made["live"]["id"]}, the room of its session'
    )


def serial_below_those_present(state: dict[str, Any], made: dict[str, Any]) -> str:
    state["rooms"]["next_serial"] = 2
    largest = max(room["serial"] for room in state["rooms"]["rooms"])
    return f'"rooms.next_serial" must be greater than every room\'s serial ({largest})'


def serial_that_is_text(state: dict[str, Any], made: dict[str, Any]) -> str:
    state["rooms"]["next_serial"] = "5"
    return '"rooms.next_serial" must be an integer from 1 to 9007199254740991'


def code_of_another_available_room(state: dict[str, Any], made: dict[str, Any]) -> str:
    rooms = state["rooms"]["rooms"]
    first, second = at(rooms, made["instant"]["id"]), at(rooms, made["live"]["id"])
    code = rooms[first]["meeting_code"]
    rooms[second]["meeting_code"] = code
    return (
        f'"rooms.rooms[{second}].meeting_code" repeats {code}, the code of another available room'
    )


def two_live_sessions_in_a_room(state: dict[str, Any], made: dict[str, Any]) -> str:
    sessions = state["sessions"]["sessions"]
    second = copy.deepcopy(sessions[at(sessions, made["session"])])
    second["id"] = second["id"][:-4] + "AAfg"
    for person in second["participants"]:
        person["id"] = str(uuid.uuid4())
        person["session_id"] = second["id"]
    second["recordings"] = []
    sessions.append(second)
    n = len(sessions) - 1
    return f'"sessions.sessions[{n}]" is a second live session in room {made["live"]["id"]}'


def started_recording_of_an_ended_session(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["sessions"]["recordings"], made["earlier"]["id"])
    recording = state["sessions"]["recordings"][n]
    recording.update(status="started", ended_at=None, uploaded_at=None, upload_due=None)
    return f'"sessions.recordings[{n}].status" is started, but its session has ended'


def duplicate_room_ids(state: dict[str, Any], made: dict[str, Any]) -> str:
    rooms = state["rooms"]["rooms"]
    n = at(rooms, made["gone"]["id"])
    rooms[n]["id"] = made["instant"]["id"]
    return f'"rooms.rooms[{n}].id" repeats {made["instant"]["id"]}, the id of another room'


def metadata_that_is_an_object(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["rooms"]["rooms"], made["live"]["id"])
    state["rooms"]["rooms"][n]["settings"]["metadata"] = {"a": 1}
    return f'"rooms.rooms[{n}].settings.metadata" must be text or null'


def waiting_without_arrival(state: dict[str, Any], made: dict[str, Any]) -> str:
    n = at(state["sessions"]["waiting"], made["guest"]["participant_id"])
    state["sessions"]["waiting"][n]["arrived_at"] = None
    return not_a_date(f"sessions.waiting[{n}].arrived_at", state)


def clock_in_year_8999(state: dict[str, Any], made: dict[str, Any]) -> str:
    state["clock"]["now"] = "8999-01-01T00:00:00+00:00"
    bound = format_iso(STARTED.replace(year=STARTED.year + 5))
    return (
        f'"clock.now" must be a date-time from 1970-01-01 to {bound}'
        " (5 years past the emulator's clock)"
    )


HOSTILE: list[Damage] = [
    null_created_at,
    null_expires_at,
    year_one_with_an_offset,
    recording_of_a_missing_room,
    recording_in_another_room_than_its_session,
    serial_below_those_present,
    serial_that_is_text,
    code_of_another_available_room,
    two_live_sessions_in_a_room,
    started_recording_of_an_ended_session,
    duplicate_room_ids,
    metadata_that_is_an_object,
    waiting_without_arrival,
    clock_in_year_8999,
]


@pytest.mark.parametrize("damage", HOSTILE, ids=[damage.__name__ for damage in HOSTILE])
def test_a_hostile_snapshot_is_refused_and_changes_nothing(
    damage: Damage, saved: tuple[dict[str, Any], dict[str, Any]], client: TestClient
) -> None:
    state, made = copy.deepcopy(saved[0]), saved[1]
    problem = damage(state, made)
    before = client.get(SNAPSHOT).content
    callbacks = client.get("/_emulator/callbacks").content
    answer = client.put(SNAPSHOT, json=state)
    assert answer.status_code == 400
    assert answer.json() == {
        "message": REFUSED + problem,
        "name": "InputValidationError",
        "status": 400,
    }
    assert client.get(SNAPSHOT).content == before
    assert client.get("/_emulator/callbacks").content == callbacks
    works(client)


def test_a_failure_the_check_did_not_foresee_still_changes_nothing(
    saved: tuple[dict[str, Any], dict[str, Any]],
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_self: Sessions, _state: dict[str, Any]) -> None:
        raise RuntimeError("a gap in the check")

    before = client.get(SNAPSHOT).content
    callbacks = client.get("/_emulator/callbacks").content
    monkeypatch.setattr(Sessions, "restore", broken)
    answer = client.put(SNAPSHOT, json=saved[0])
    monkeypatch.undo()
    assert answer.status_code == 400
    assert answer.json()["message"] == REFUSED + "RuntimeError a gap in the check"
    assert client.get(SNAPSHOT).content == before
    assert client.get("/_emulator/callbacks").content == callbacks
    works(client)


def test_the_valid_snapshot_is_taken_back_whole(
    saved: tuple[dict[str, Any], dict[str, Any]], client: TestClient
) -> None:
    state = client.get(SNAPSHOT).json()
    assert state == saved[0]
    works(client)


def test_a_snapshot_from_the_future_within_the_bound_moves_the_clock(
    saved: tuple[dict[str, Any], dict[str, Any]], client: TestClient
) -> None:
    state = copy.deepcopy(saved[0])
    later = STARTED.replace(year=STARTED.year + 5)
    state["clock"]["now"] = later.isoformat()
    assert client.put(SNAPSHOT, json=state).status_code == 204
    assert client.get("/_emulator/clock").json()["now"] == format_iso(later)


def test_every_saved_field_is_checked() -> None:
    """Each kind of saved object has its fields listed for the check: a field added to a
    model must be added there too, or it would get in unchecked."""
    from meetings_emulator.domain.snapshot_check import FIELDS

    expected = {
        "room": {*models.Room.__dataclass_fields__} - set(NOT_SAVED),
        "room settings": {*models.RoomSettings.__dataclass_fields__},
        "participant": {*models.Participant.__dataclass_fields__},
        "recording": {*models.Recording.__dataclass_fields__},
        "session": {*models.Session.__dataclass_fields__},
        "theme": {*themes.Theme.__dataclass_fields__},
        "application": {*themes.Application.__dataclass_fields__},
    }
    assert {kind: set(FIELDS[kind]) for kind in expected} == expected


def works(client: TestClient) -> None:
    """What a caller does next all answers, never with a 500."""
    state = client.get(SNAPSHOT)
    assert state.status_code == 200
    json.dumps(state.json(), ensure_ascii=False).encode("utf-8")  # it could be saved
    listing = client.get(f"{V1}/rooms", params={"page_size": 100})
    assert listing.status_code == 200
    for room in listing.json()["_embedded"]:
        assert client.get(f"{V1}/rooms/{room['id']}").status_code == 200
        meeting = client.get(f"/_emulator/rooms/{room['id']}/session")
        assert meeting.status_code == 200
        session = meeting.json()["session"]
        if session is not None:
            found = client.get(f"{V1}/sessions/{session['session_id']}/recordings")
            assert found.status_code in (200, 404)
        if room["is_available"]:
            assert client.post(
                f"/_emulator/rooms/{room['id']}/participants", json={"name": "Later"}
            ).status_code in (201, 409)
    assert client.get(f"{V1}/themes").status_code == 200
    assert client.get("/_emulator/callbacks").status_code == 200
    assert client.get("/_emulator/ui").status_code == 200
    assert client.post(f"{V1}/rooms", json={"display_name": "after"}).status_code == 201
    assert client.post("/_emulator/clock", json={"advance_seconds": 86400}).status_code == 200
    assert client.get("/_emulator/callbacks").status_code == 200
    assert client.get(f"{V1}/rooms", params={"page_size": 100}).status_code == 200
    again = client.get(SNAPSHOT).json()
    assert client.put(SNAPSHOT, json=again).status_code == 204
    assert client.get(SNAPSHOT).json() == again


# -- any one field damaged -----------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-03-02T09:30:00",
            "2026-03-02T09:30:00+14:00",
            "1969-12-31T23:59:59+00:00",
            "2100-01-01T00:00:00+00:00",
            "started",
            "stopped",
            "paused",
            "uploaded",
            "expired",
            "deleted",
            "waiting",
            "joined",
            "left",
            "host",
            "approval",
            "long_term",
            "instant",
            "default",
            "123456789",
            str(uuid.UUID(int=1)),
        ]
    ),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "id", "status"]), st.integers(0, 3), max_size=2),
)


def paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document, but not inside the id sequence's long state."""
    if here[:2] == ("ids", "position") and len(here) > 2:
        return
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*here, index))


def copy_of(value: Any) -> Any:
    return copy.deepcopy(value)


@st.composite
def damaged(draw: st.DrawFn, state: dict[str, Any]) -> dict[str, Any]:
    """`state` with one place changed: a value replaced, a key removed, an item repeated or
    taken from another place of the same kind."""
    where = draw(
        st.sampled_from([p for p in paths(state) if p and p[0] not in ("format", "version")])
    )
    hurt = copy_of(state)
    parent = hurt
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    how = draw(st.sampled_from(["replace", "remove", "repeat", "borrow"]))
    if how == "remove":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif how == "repeat" and isinstance(parent, list):
        parent.append(copy_of(parent[last]))
    elif how == "borrow":
        siblings = [p for p in paths(state) if len(p) == len(where) and p[-1] == last]
        source = draw(st.sampled_from(siblings))
        value: Any = state
        for step in source:
            value = value[step]
        parent[last] = copy_of(value)
    else:
        parent[last] = draw(ODD_VALUES)
    return hurt


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_one_damaged_field_is_taken_into_a_working_emulator_or_refused_whole(
    data: st.DataObject, saved: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    state = data.draw(damaged(saved[0]))
    with new_client() as client:
        assert client.put(SNAPSHOT, json=saved[0]).status_code == 204
        before = client.get(SNAPSHOT).content
        answer = client.put(SNAPSHOT, json=state)
        assert answer.status_code in (204, 400), answer.text
        if answer.status_code == 400:
            body = answer.json()
            assert body["name"] == "InputValidationError"
            assert "errors" not in body  # one problem, named
            assert client.get(SNAPSHOT).content == before
        works(client)


def test_a_lone_surrogate_never_gets_in(
    saved: tuple[dict[str, Any], dict[str, Any]], client: TestClient
) -> None:
    state = copy.deepcopy(saved[0])
    state["rooms"]["rooms"][0]["settings"]["display_name"] = "\ud800"
    body = json.dumps(state).encode()  # \ud800 escaped, as a client may send it
    before = client.get(SNAPSHOT).content
    answer = client.put(SNAPSHOT, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert client.get(SNAPSHOT).content == before


def test_dates_are_read_in_utc_whatever_their_offset(
    saved: tuple[dict[str, Any], dict[str, Any]], client: TestClient
) -> None:
    state = copy.deepcopy(saved[0])
    made = saved[1]
    n = at(state["rooms"]["rooms"], made["live"]["id"])
    expires = datetime.fromisoformat(state["rooms"]["rooms"][n]["expires_at"])
    state["rooms"]["rooms"][n]["expires_at"] = expires.astimezone(
        datetime.now(UTC).astimezone().tzinfo
    ).isoformat()
    state["rooms"]["rooms"][n]["created_at"] = "2026-03-02T10:30:00.125+01:00"
    assert client.put(SNAPSHOT, json=state).status_code == 204
    room = client.get(f"{V1}/rooms/{made['live']['id']}").json()
    assert room["expires_at"] == format_iso(expires)
    assert room["created_at"] == "2026-03-02T09:30:00.125Z"
    works(client)


def test_a_snapshot_whose_sessions_outlive_their_room_is_taken_back() -> None:
    """Days after a room is gone, the emulator may forget it while keeping its meetings and
    recordings: its own export of that state must load again, here or at the next start."""
    with new_client() as first:
        room = first.post(f"{V1}/rooms", json={"display_name": "brief"}).json()
        host = join(first, room["id"], "Host", host=True)
        first.post(f"/_emulator/sessions/{host['session_id']}/recordings")
        first.delete(f"/_emulator/rooms/{room['id']}/participants/{host['participant_id']}")
        first.post("/_emulator/clock", json={"advance_seconds": 3 * 86400})
        state = first.get(SNAPSHOT).json()
    with new_client() as second:
        assert second.put(SNAPSHOT, json=state).status_code == 204
        assert second.get(SNAPSHOT).json() == state
        works(second)
