"""Tenants made in the control plane: each a world of its own, over a real server, with a
real callback receiver."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from meetings_emulator.app import create_app
from meetings_emulator.callbacks.receiver import Inbox, create_receiver
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START, serving

pytestmark = pytest.mark.network

ROOMS = "/v1/meetings/rooms"


def basic(tenant: dict[str, Any]) -> dict[str, str]:
    pair = f"{tenant['api_key']}:{tenant['api_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@pytest.fixture
def inbox() -> Iterator[tuple[str, Inbox]]:
    box = Inbox()
    with serving(create_receiver(inbox=box)) as url:
        yield url, box


@pytest.fixture
def server(inbox: tuple[str, Inbox]) -> Iterator[httpx.Client]:
    settings = Settings(seed=7, callback_url=inbox[0] + "/hooks")
    app = create_app(settings, clock=Clock.frozen_at(START), ids=Ids(7))
    with serving(app) as url, httpx.Client(base_url=url, headers={"Authorization": BASIC}) as c:
        yield c


def make_tenant(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/_emulator/tenants", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_tenant_is_made_with_credentials_that_reach_it(server: httpx.Client) -> None:
    response = server.post("/_emulator/tenants", json={"name": "alpha", "frozen": True})
    assert response.status_code == 201
    assert response.headers["location"] == "/_emulator/tenants/alpha"
    tenant = response.json()
    assert set(tenant) == {"name", "api_key", "api_secret", "application_id", "now", "frozen"}
    assert tenant["name"] == "alpha"
    assert tenant["frozen"] is True
    assert tenant["now"] == "2026-03-02T09:30:00.125Z"  # the shared clock's time, by default
    assert len(tenant["api_key"]) == 8
    assert len(tenant["api_secret"]) == 16

    made = server.post(ROOMS, json={"display_name": "alpha's"}, headers=basic(tenant))
    assert made.status_code == 201
    shared = server.get(ROOMS).json()
    assert shared["total_items"] == 0  # the default tenant sees none of it
    theirs = server.get(ROOMS, headers=basic(tenant)).json()
    assert [room["display_name"] for room in theirs["_embedded"]] == ["alpha's"]
    assert server.get(f"{ROOMS}/{made.json()['id']}").status_code == 404


def test_a_wrong_secret_for_a_tenant_key_is_refused(server: httpx.Client) -> None:
    tenant = make_tenant(server, name="beta")
    wrong = {**tenant, "api_secret": "x" * 16}
    assert server.get(ROOMS, headers=basic(wrong)).status_code == 401


def test_a_jwt_naming_the_tenants_application_reaches_it(server: httpx.Client) -> None:
    tenant = make_tenant(server, name="gamma")
    claims = {"application_id": tenant["application_id"], "exp": int(time.time()) + 600}
    token = jwt.encode(claims, "any key: no public key is configured", algorithm="HS256")
    made = server.post(
        ROOMS, json={"display_name": "by jwt"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 201
    listing = server.get(ROOMS, headers=basic(tenant)).json()
    assert listing["total_items"] == 1


def test_two_tenants_clocks_move_apart_with_their_own_expiries_and_callbacks(
    server: httpx.Client, inbox: tuple[str, Inbox]
) -> None:
    _, box = inbox
    a = make_tenant(server, name="a", frozen=True)
    b = make_tenant(server, name="b", frozen=True)
    room_a = server.post(ROOMS, json={"display_name": "A"}, headers=basic(a)).json()
    room_b = server.post(ROOMS, json={"display_name": "B"}, headers=basic(b)).json()

    moved = server.post("/_emulator/clock?tenant=a", json={"advance_seconds": 601})
    assert moved.json() == {"now": "2026-03-02T09:40:01.125Z", "frozen": True}
    assert server.get("/_emulator/clock?tenant=b").json()["now"] == "2026-03-02T09:30:00.125Z"
    assert server.get("/_emulator/clock").json()["now"] == "2026-03-02T09:30:00.125Z"

    assert server.get(f"{ROOMS}/{room_a['id']}", headers=basic(a)).json()["is_available"] is False
    assert server.get(f"{ROOMS}/{room_b['id']}", headers=basic(b)).json()["is_available"] is True
    [expired] = box.wait_for(1)
    assert expired.event == "room:expired"
    assert expired.payload["room_id"] == room_a["id"]

    # The tenant's own delivery log, waited on: no sleep, no polling.
    waited = server.get("/_emulator/callbacks?tenant=a&event=room:expired&wait=5").json()
    assert waited["complete"] is True
    assert [(d["event"], d["status"]) for d in waited["deliveries"]] == [
        ("room:expired", "delivered")
    ]
    other = server.get("/_emulator/callbacks?tenant=b&wait=0.2").json()
    assert other == {"deliveries": [], "complete": False}

    server.post("/_emulator/clock?tenant=b", json={"advance_seconds": 601})
    second = box.wait_for(2)[1]
    assert second.event == "room:expired"
    assert second.payload["room_id"] == room_b["id"]
    assert box.events.count("room:expired") == 2


def test_meeting_codes_are_unique_across_tenants_that_share_a_seed(server: httpx.Client) -> None:
    first = make_tenant(server, name="one", seed=5)
    second = make_tenant(server, name="two", seed=5)
    code_a = server.post(ROOMS, json={"display_name": "x"}, headers=basic(first)).json()
    code_b = server.post(ROOMS, json={"display_name": "x"}, headers=basic(second)).json()
    # Same seed, same id sequence: the same draw came first, and the second tenant skipped it.
    assert code_a["id"] == code_b["id"]
    assert code_a["meeting_code"] != code_b["meeting_code"]
    page = server.get(f"/meet/{code_b['meeting_code']}")
    assert page.status_code == 200
    assert "x" in page.text


def test_tenants_are_listed_read_and_dropped(server: httpx.Client) -> None:
    one = make_tenant(server, name="one", frozen=True)
    make_tenant(server, frozen=True)  # named for it
    listing = server.get("/_emulator/tenants").json()
    assert [t["name"] for t in listing["tenants"]] == ["one", "tenant-1"]
    assert server.get("/_emulator/tenants/one").json() == listing["tenants"][0]

    server.post(ROOMS, json={"display_name": "gone with it"}, headers=basic(one))
    assert server.delete("/_emulator/tenants/one").status_code == 204
    # Its key is now one like any other: the default tenant (which takes any pair, as no
    # key is configured) answers, and the tenant's room went with it.
    assert server.get(ROOMS, headers=basic(one)).json()["total_items"] == 0
    missing = server.get("/_emulator/tenants/one")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "No tenant named one",
        "name": "NotFoundError",
        "status": 404,
    }
    assert server.get("/_emulator/clock?tenant=one").status_code == 404
    assert server.delete("/_emulator/tenants/default").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "no spaces"}, '"name" must be 1 to 64 letters'),
        ({"name": "default"}, '"name" cannot be "default"'),
        ({"frozen": "yes"}, '"frozen" must be a boolean'),
        ({"now": "soon"}, '"now" must be a valid date'),
        ({"seed": 1.5}, '"seed" must be an integer'),
        ({"colour": "red"}, '"colour" is not allowed'),
    ],
)
def test_a_bad_tenant_is_refused_naming_the_field(
    server: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = server.post("/_emulator/tenants", json=body)
    assert response.status_code == 400
    assert response.json()["name"] == "InputValidationError"
    assert message in response.json()["message"]


def test_a_name_is_taken_once(server: httpx.Client) -> None:
    make_tenant(server, name="twice")
    again = server.post("/_emulator/tenants", json={"name": "twice"})
    assert again.status_code == 409
    assert again.json()["message"] == "A tenant named twice already exists"


def test_a_seeded_server_gives_each_named_tenant_the_same_ids_every_run(
    inbox: tuple[str, Inbox],
) -> None:
    def first_room() -> tuple[str, dict[str, Any]]:
        app = create_app(Settings(seed=11), clock=Clock.frozen_at(START), ids=Ids(11))
        with serving(app) as url, httpx.Client(base_url=url) as client:
            tenant = make_tenant(client, name="repeat", frozen=True)
            made = client.post(ROOMS, json={"display_name": "r"}, headers=basic(tenant)).json()
            return made["id"], tenant

    (room_1, tenant_1), (room_2, tenant_2) = first_room(), first_room()
    assert room_1 == room_2
    assert tenant_1 == tenant_2


def test_reset_with_a_tenant_resets_it_alone_and_without_resets_every_tenant(
    server: httpx.Client,
) -> None:
    a = make_tenant(server, name="a")
    b = make_tenant(server, name="b")
    for tenant in (a, b):
        server.post(ROOMS, json={"display_name": "r"}, headers=basic(tenant))
    server.post(ROOMS, json={"display_name": "shared"})

    def counts() -> list[int]:
        return [
            server.get(ROOMS, headers=headers).json()["total_items"]
            for headers in (basic(a), basic(b), {"Authorization": BASIC})
        ]

    assert server.post("/_emulator/reset?tenant=a", json={}).status_code == 204
    assert counts() == [0, 1, 1]
    assert server.post("/_emulator/reset?tenant=default", json={}).status_code == 204
    assert counts() == [0, 1, 0]
    server.post(ROOMS, json={"display_name": "shared"})
    assert server.post("/_emulator/reset", json={}).status_code == 204
    assert counts() == [0, 0, 0]
    # The tenants stay, with their credentials.
    assert server.post(ROOMS, json={"display_name": "r"}, headers=basic(b)).status_code == 201


def test_each_tenant_has_its_own_journal_and_fault_rules(server: httpx.Client) -> None:
    a = make_tenant(server, name="a")
    rule = {"method": "POST", "path": ROOMS, "effect": {"status": 503}, "times": 1}
    assert server.post("/_emulator/faults?tenant=a", json=rule).status_code == 201
    assert server.post(ROOMS, json={"display_name": "d"}).status_code == 201  # default: no fault
    assert server.post(ROOMS, json={"display_name": "a"}, headers=basic(a)).status_code == 503
    journal_a = server.get("/_emulator/requests?tenant=a").json()["requests"]
    assert [(entry["status"], entry["tenant"]) for entry in journal_a] == [(503, "a")]
    journal = server.get("/_emulator/requests").json()["requests"]
    assert [entry["status"] for entry in journal] == [201]


def test_a_tenants_recording_links_name_the_tenant(server: httpx.Client) -> None:
    tenant = make_tenant(server, name="rec", frozen=True)
    room = server.post(ROOMS, json={"display_name": "r"}, headers=basic(tenant)).json()
    joined = server.post(
        f"/_emulator/rooms/{room['id']}/participants?tenant=rec", json={"name": "Ann"}
    )
    assert joined.status_code == 201, joined.text
    session = server.get(f"/_emulator/rooms/{room['id']}/session?tenant=rec").json()
    started = server.post(
        f"/_emulator/sessions/{session['session']['session_id']}/recordings?tenant=rec", json={}
    )
    assert started.status_code == 201, started.text
    recording_id = started.json()["id"]
    server.post("/_emulator/clock?tenant=rec", json={"advance_seconds": 30})
    stopped = server.post(f"/_emulator/recordings/{recording_id}/stop?tenant=rec")
    assert stopped.status_code == 200, stopped.text
    server.post("/_emulator/clock?tenant=rec", json={"advance_seconds": 10})

    read = server.get(f"/v1/meetings/recordings/{recording_id}", headers=basic(tenant)).json()
    href = read["_links"]["url"]["href"]
    assert href.endswith(f"/_emulator/recordings/{recording_id}/archive.mp4?tenant=rec")
    assert server.get(href).status_code == 200
    uploaded = server.get("/_emulator/callbacks?tenant=rec&event=recording:uploaded&wait=5").json()[
        "deliveries"
    ]
    assert uploaded[0]["payload"]["url"].endswith(f"{recording_id}/archive.mp4?tenant=rec")
