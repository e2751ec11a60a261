"""The dashboard and the local meeting page in headless Chromium, driven by Playwright.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python; without them
these tests skip, saying why, except under CI (env `CI` set), where they fail instead
(the browser and the live emulator are in conftest.py).
With `MEETINGS_EMULATOR_SCREENSHOT=1`, the dashboard test saves `docs/dashboard.png`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..conftest import BASIC
from .conftest import CALLBACK_URL, Live

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.network

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def rooms_named(page: Page, name: str) -> Any:
    return page.locator("article.room", has=page.locator("h3", has_text=name))


def test_the_dashboard_shows_a_meeting_as_it_happens(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#now")).to_have_text("2026-03-02 09:30:00 UTC")
    expect(page.locator("#frozen")).to_be_visible()
    expect(page.locator("#rooms .empty")).to_be_visible()

    # Create a room: the API call, then the room appears by itself.
    page.fill("#create-room input[name=display_name]", "Weekly sync")
    page.click("#create-room button[type=submit]")
    card = rooms_named(page, "Weekly sync")
    expect(card).to_be_visible()
    (room,) = live.http.get("/v1/meetings/rooms", headers={"Authorization": BASIC}).json()[
        "_embedded"
    ]
    expect(card).to_have_attribute("data-meeting-code", room["meeting_code"])
    expect(card.locator(".code")).to_have_text(f"code {room['meeting_code']}")
    expect(card.locator(".badge.type")).to_have_text("instant")
    expect(card.locator(".badge.ok")).to_have_text("available")
    expect(card.locator(".expiry")).to_have_text("expires in 10:00")

    # The clock moves: the countdown follows.
    page.click("#advance-1m")
    expect(page.locator("#now")).to_have_text("2026-03-02 09:31:00 UTC")
    expect(card.locator(".expiry")).to_have_text("expires in 9:00")

    # Two guests join.
    for name in ("Ann", "Bob"):
        card.locator("input[name=name]").fill(name)
        card.locator("button.join-guest").click()
        expect(card.locator(".person.joined .name").last).to_have_text(name)
    expect(card.locator(".person.joined .name")).to_have_text(["Ann", "Bob"])
    expect(card.locator(".session-line")).to_contain_text("since 09:31:00")
    expect(card.locator(".expiry")).to_have_text("expiry held: meeting in progress")
    session = live.emulator.sessions.live_session(room["id"])
    assert session is not None
    assert [p.name for p in session.participants.values()] == ["Ann", "Bob"]

    # The callback timeline: newest first, each delivered at the first attempt.
    timeline = page.locator("#deliveries li.delivery")
    expect(timeline.locator(".event")).to_have_text(
        ["session:participant:joined", "session:participant:joined", "session:started"]
    )
    expect(timeline.locator(".badge.status")).to_have_text(["delivered"] * 3)
    expect(timeline.locator(".attempts")).to_have_text(["1 attempt: 200"] * 3)
    expect(timeline.first.locator(".url")).to_have_text(f"→ {CALLBACK_URL}")
    timeline.first.locator("summary").click()
    expect(timeline.first.locator("pre")).to_contain_text('"name": "Bob"')
    expect(timeline.first.locator("pre")).to_contain_text('"event": "session:participant:joined"')

    # A recording: started, stopped, and uploaded once the clock passes the upload delay.
    card.locator("button.start-recording").click()
    expect(card.locator(".recording .badge")).to_have_text("started")
    page.click("#advance-1m")
    expect(page.locator("#now")).to_have_text("2026-03-02 09:32:00 UTC")
    card.locator(".recording button").click()
    expect(card.locator(".recording .badge")).to_have_text("stopped")
    expect(card.locator(".recording .meta")).to_have_text("started 09:31:00 · 60 s")
    page.click("#advance-10m")
    expect(page.locator("#now")).to_have_text("2026-03-02 09:42:00 UTC")
    expect(card.locator(".recording .badge")).to_have_text("uploaded")
    expect(card.locator(".recording a")).to_have_text("download")
    expect(card.locator(".expiry")).to_have_text("expiry held: meeting in progress")
    expect(timeline.locator(".event").first).to_have_text("recording:uploaded")
    # The payload stayed unfolded through every re-render.
    expect(page.locator("#deliveries details[open]")).to_have_count(1)

    # A second room, where guests wait to be admitted.
    page.fill("#create-room input[name=display_name]", "Interviews")
    page.select_option("#create-room select[name=type]", "long_term")
    page.select_option("#create-room select[name=join_approval_level]", "explicit_approval")
    page.click("#create-room button[type=submit]")
    second = rooms_named(page, "Interviews")
    expect(second.locator(".badge.type")).to_have_text("long term")
    expect(second.locator(".expiry")).to_have_text("expires in 1 d 0 h")
    second.locator("input[name=name]").fill("Dana")
    second.locator("button.join-host").click()
    expect(second.locator(".person.joined .badge.host")).to_have_text("host")
    second.locator("input[name=name]").fill("Carla")
    second.locator("button.join-guest").click()
    expect(second.locator(".person.waiting .name")).to_have_text("Carla")
    expect(second.locator(".person.waiting .meta")).to_have_text(
        "waiting for approval since 09:42:00"
    )
    expect(page.locator("#room-counts")).to_have_text("2 available of 2")

    if os.environ.get("MEETINGS_EMULATOR_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator("#deliveries details[open] summary").click()  # fold it for the picture
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Admit, then leave: the page follows each change.
    second.locator(".person.waiting button", has_text="Admit").click()
    expect(second.locator(".person.joined .name")).to_have_text(["Dana", "Carla"])
    card.locator(".person.joined", has_text="Bob").locator("button", has_text="Leave").click()
    expect(card.locator(".person.joined .name")).to_have_text(["Ann"])
    expect(timeline.locator(".event").first).to_have_text("session:participant:left")


def test_the_dashboard_buttons_report_refusals_and_reset(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    page.click("#credentials-box summary")
    page.fill("#authorization", "")
    page.click("#create-room button[type=submit]")
    expect(page.locator("#message")).to_have_text("401: Auth header is required")
    # The browser logs the refused call; that one is expected.
    assert live.problems == [
        "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    live.problems.clear()
    page.fill("#authorization", "Basic ZGFzaGJvYXJkOmRhc2hib2FyZA==")
    page.click("#create-room button[type=submit]")
    expect(page.locator("article.room")).to_have_count(1)
    expect(page.locator("#message")).to_be_hidden()

    page.click("#reset")
    expect(page.locator("#reset")).to_have_text("Really reset?")
    page.click("#reset")
    expect(page.locator("article.room")).to_have_count(0)
    assert len(live.emulator.rooms) == 0


def test_names_are_shown_as_text_never_as_markup(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    hostile = '<img src=x onerror="window.pwned=1">'
    room = live.http.post(
        "/v1/meetings/rooms", json={"display_name": hostile}, headers={"Authorization": BASIC}
    ).json()
    live.http.post(f"/_emulator/rooms/{room['id']}/participants", json={"name": hostile})
    for path in ("/_emulator/ui", f"/meet/{room['meeting_code']}"):
        page = new_page()
        page.goto(live.url + path)
        expect(page.locator("#connection")).to_have_text("live")
        expect(page.get_by_text(hostile).first).to_be_visible()
        assert page.locator("img").count() == 0
        assert page.evaluate("window.pwned") is None


def test_a_guest_and_the_host_join_through_their_links(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    room = live.http.post(
        "/v1/meetings/rooms", json={"display_name": "Standup"}, headers={"Authorization": BASIC}
    ).json()
    guest_url = room["_links"]["guest_url"]["href"]
    host_url = room["_links"]["host_url"]["href"]
    assert guest_url == f"{live.url}/meet/{room['meeting_code']}"

    guest = new_page()
    guest.goto(guest_url)
    expect(guest.locator("#room-name")).to_have_text("Standup")
    expect(guest.locator("#who-you-are")).to_contain_text("You join as a guest.")
    expect(guest.locator("#connection")).to_have_text("live")
    expect(guest.locator("#participants")).to_have_text("Nobody yet.")
    guest.fill("#join input[name=name]", "Gil")
    guest.click("#join button[type=submit]")
    expect(guest.locator("#your-state")).to_have_text("You are in the meeting as Gil.")
    expect(guest.locator("#participants .person.me .name")).to_have_text("Gil")

    host = new_page()
    host.goto(host_url)
    expect(host.locator("#who-you-are")).to_contain_text("You are the host of this meeting")
    expect(host.locator("#participants .name")).to_have_text(["Gil"])
    host.fill("#join input[name=name]", "Hana")
    host.click("#join button[type=submit]")
    expect(host.locator("#your-state")).to_have_text("You are in the meeting as Hana (host).")
    # Each sees the other, live.
    expect(guest.locator("#participants .name")).to_have_text(["Gil", "Hana"])
    expect(
        guest.locator("#participants .person", has_text="Hana").locator(".badge.host")
    ).to_be_visible()

    session = live.emulator.sessions.live_session(room["id"])
    assert session is not None
    assert [(p.name, p.is_host) for p in session.participants.values()] == [
        ("Gil", False),
        ("Hana", True),
    ]

    guest.click("#leave")
    expect(guest.locator("#message")).to_have_text("You left the meeting.")
    expect(guest.locator("#lobby")).to_be_visible()
    expect(host.locator("#participants .name")).to_have_text(["Hana"])
    events = [event.name for event in live.emulator.events]
    assert events == [
        "session:started",
        "session:participant:joined",
        "session:participant:joined",
        "session:participant:left",
    ]


def test_a_forged_host_link_joins_as_a_guest(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    room = live.http.post(
        "/v1/meetings/rooms", json={"display_name": "Guarded"}, headers={"Authorization": BASIC}
    ).json()
    host_url = room["_links"]["host_url"]["href"]
    head, _, token = host_url.partition("participant_token=")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    page = new_page()
    page.goto(head + "participant_token=" + forged)
    expect(page.locator("#who-you-are")).to_contain_text("not this room's host token")
    page.fill("#join input[name=name]", "Mallory")
    page.click("#join button[type=submit]")
    expect(page.locator("#your-state")).to_have_text("You are in the meeting as Mallory.")
    session = live.emulator.sessions.live_session(room["id"])
    assert session is not None
    assert [p.is_host for p in session.participants.values()] == [False]


def create_room(live: Live, **body: Any) -> dict[str, Any]:
    answer = live.http.post("/v1/meetings/rooms", json=body, headers={"Authorization": BASIC})
    assert answer.status_code == 201, answer.text
    room: dict[str, Any] = answer.json()
    return room


def test_the_frozen_badge_shows_only_while_the_clock_is_frozen(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    badge = page.locator("#frozen")
    expect(badge).to_be_visible()
    assert badge.is_visible()

    assert live.http.post("/_emulator/clock", json={"frozen": False}).status_code == 200
    expect(badge).to_be_hidden()
    assert not badge.is_visible()
    expect(page.locator("#now")).not_to_have_text("2026-03-02 09:30:00 UTC")  # it runs

    assert live.http.post("/_emulator/clock", json={"frozen": True}).status_code == 200
    expect(badge).to_be_visible()
    assert badge.is_visible()


def test_each_room_shows_its_id_code_and_what_guests_wait_for(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    open_room = create_room(live, display_name="Open door")
    gated = create_room(
        live,
        display_name="Gated",
        type="long_term",
        expires_at="2026-03-03T09:30:00.000Z",
        join_approval_level="explicit_approval",
    )
    joined = live.http.post(
        f"/_emulator/rooms/{open_room['id']}/participants", json={"name": "Gus"}
    )
    assert joined.status_code == 201, joined.text

    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    card = rooms_named(page, "Open door")
    expect(card.locator(".person.joined .name")).to_have_text("Gus")
    expect(card.locator(".code")).to_have_text(f"code {open_room['meeting_code']}")
    expect(card.locator(".room-id")).to_have_text(f"id {open_room['id']}")
    expect(card.locator(".room-id")).to_be_visible()
    expect(card.locator(".approval")).to_have_text(
        "guests join at once (join_approval_level: none)"
    )
    expect(card).not_to_contain_text("guests: none")

    other = rooms_named(page, "Gated")
    expect(other.locator(".code")).to_have_text(f"code {gated['meeting_code']}")
    expect(other.locator(".room-id")).to_have_text(f"id {gated['id']}")
    expect(other.locator(".approval")).to_have_text(
        "guests wait to be admitted (join_approval_level: explicit_approval)"
    )


@pytest.mark.parametrize("live", [True, False], ids=["local-links", "vonage-links"], indirect=True)
def test_a_room_that_has_gone_offers_no_join_links(
    live: Live, new_page: Callable[[], Page], expect: Callable[..., Any]
) -> None:
    local_links = live.emulator.settings.local_links
    instant = create_room(live, display_name="Short-lived")
    lasting = create_room(
        live, display_name="Lasting", type="long_term", expires_at="2026-03-03T09:30:00.000Z"
    )
    doomed = create_room(
        live, display_name="Doomed", type="long_term", expires_at="2026-03-03T09:30:00.000Z"
    )
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    cards = [rooms_named(page, name) for name in ("Short-lived", "Lasting", "Doomed")]
    for card, room in zip(cards, (instant, lasting, doomed), strict=True):
        guest_url = room["_links"]["guest_url"]["href"]
        if local_links:
            expect(card.locator("a.guest-link")).to_be_visible()
            expect(card.locator("a.host-link")).to_be_visible()
        else:
            expect(card.locator(".links code")).to_have_text(guest_url)
        expect(card.locator("button.join-guest")).to_be_visible()

    # Unused for 10 minutes, the instant room expires; the other is deleted.
    moved = live.http.post("/_emulator/clock", json={"advance_seconds": 600})
    assert moved.status_code == 200
    deleted = live.http.delete(
        f"/v1/meetings/rooms/{doomed['id']}", headers={"Authorization": BASIC}
    )
    assert deleted.status_code == 204

    short_lived, lasting_card, doomed_card = cards
    expect(short_lived.locator(".badge.off")).to_have_text("expired")
    expect(short_lived.locator(".links")).to_have_text(
        "This room has expired: nobody can join it, so it has no join links."
    )
    expect(doomed_card.locator(".badge.off")).to_have_text("deleted")
    expect(doomed_card.locator(".links")).to_have_text(
        "This room was deleted: nobody can join it, so it has no join links."
    )
    for card, room in ((short_lived, instant), (doomed_card, doomed)):
        expect(card.locator(".links")).to_be_visible()
        expect(card.locator("a")).to_have_count(0)
        expect(card.locator("button.join-guest, button.join-host")).to_have_count(0)
        expect(card).not_to_contain_text(room["_links"]["guest_url"]["href"])
        expect(card.locator(".room-id")).to_have_text(f"id {room['id']}")
    # The room still available keeps its links.
    expect(lasting_card.locator(".badge.ok")).to_have_text("available")
    if local_links:
        expect(lasting_card.locator("a.guest-link")).to_be_visible()
        expect(lasting_card.locator("a.host-link")).to_be_visible()
    else:
        expect(lasting_card.locator(".links code")).to_have_text(
            lasting["_links"]["guest_url"]["href"]
        )
    expect(lasting_card.locator("button.join-guest")).to_be_visible()
