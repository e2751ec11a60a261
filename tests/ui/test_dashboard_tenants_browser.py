"""The dashboard's tenant selector in headless Chromium, driven by Playwright (see
conftest.py): it shows one tenant's world at a time, acts on that tenant alone, and keeps
the choice in the page's address."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ..conftest import BASIC
from .conftest import Live, serve_live

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.network

ROOMS = "/v1/meetings/rooms"
TOKEN = "dashboard-control-token"


def make_tenant(http: httpx.Client, name: str, **headers: str) -> dict[str, Any]:
    made = http.post("/_emulator/tenants", json={"name": name, "frozen": True}, headers=headers)
    assert made.status_code == 201, made.text
    tenant: dict[str, Any] = made.json()
    return tenant


def basic(tenant: dict[str, Any]) -> str:
    pair = f"{tenant['api_key']}:{tenant['api_secret']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def make_room(http: httpx.Client, authorization: str, name: str) -> dict[str, Any]:
    made = http.post(ROOMS, json={"display_name": name}, headers={"Authorization": authorization})
    assert made.status_code == 201, made.text
    room: dict[str, Any] = made.json()
    return room


def room_names(http: httpx.Client, authorization: str) -> list[str]:
    listed = http.get(ROOMS, headers={"Authorization": authorization})
    assert listed.status_code == 200, listed.text
    return sorted(room["display_name"] for room in listed.json()["_embedded"])


def clock_of(http: httpx.Client, tenant: str | None, **headers: str) -> str:
    params = {} if tenant is None else {"tenant": tenant}
    answer = http.get("/_emulator/clock", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    now: str = answer.json()["now"]
    return now


def shown_rooms(page: Page) -> Any:
    return page.locator("article.room h3")


@pytest.fixture
def two_tenants(live: Live) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tenants alpha and beta, each with one room made with its own credentials."""
    alpha = make_tenant(live.http, "alpha")
    beta = make_tenant(live.http, "beta")
    make_room(live.http, basic(alpha), "Alpha room")
    make_room(live.http, basic(beta), "Beta room")
    return alpha, beta


def test_the_selector_shows_one_tenant_and_moves_its_clock_alone(
    live: Live,
    two_tenants: tuple[dict[str, Any], dict[str, Any]],
    new_page: Callable[[], Page],
    expect: Callable[..., Any],
) -> None:
    alpha, beta = two_tenants
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    selector = page.get_by_label("Tenant")
    expect(selector.locator("option")).to_have_text(["default", "alpha", "beta"])
    expect(selector).to_have_value("default")
    expect(page.locator("#rooms .empty")).to_be_visible()
    expect(shown_rooms(page)).to_have_count(0)

    # Pick alpha: its room alone, and the address says so.
    selector.select_option("alpha")
    expect(page).to_have_url(f"{live.url}/_emulator/ui?tenant=alpha")
    expect(shown_rooms(page)).to_have_text(["Alpha room"])
    expect(page.locator("#now")).to_have_text("2026-03-02 09:30:00 UTC")
    expect(page).to_have_title("alpha · Meetings emulator")

    # Its clock moves, and no other: its room expires, beta's does not.
    page.click("#advance-10m")
    expect(page.locator("#now")).to_have_text("2026-03-02 09:40:00 UTC")
    assert clock_of(live.http, "alpha") == "2026-03-02T09:40:00.000Z"
    assert clock_of(live.http, "beta") == "2026-03-02T09:30:00.000Z"
    assert clock_of(live.http, None) == "2026-03-02T09:30:00.000Z"
    card = page.locator("article.room")
    expect(card.locator(".badge.off")).to_have_text("expired")
    (beta_room,) = live.http.get(ROOMS, headers={"Authorization": basic(beta)}).json()["_embedded"]
    assert beta_room["is_available"] is True

    # A room made from the page is made in alpha, with alpha's credentials filled in.
    expect(page.locator("#authorization")).to_have_value(basic(alpha))
    page.fill("#create-room input[name=display_name]", "Made here")
    page.click("#create-room button[type=submit]")
    expect(shown_rooms(page)).to_have_text(["Made here", "Alpha room"])
    assert room_names(live.http, basic(alpha)) == ["Alpha room", "Made here"]
    assert room_names(live.http, BASIC) == []

    # A guest joins from the page: in alpha.
    made_here = page.locator("article.room", has=page.locator("h3", has_text="Made here"))
    made_here.locator("input[name=name]").fill("Ann")
    made_here.locator("button.join-guest").click()
    expect(made_here.locator(".person.joined .name")).to_have_text(["Ann"])
    expect(page.locator("#deliveries .event").first).to_have_text("session:participant:joined")

    # A reload keeps alpha.
    page.reload()
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.get_by_label("Tenant")).to_have_value("alpha")
    expect(shown_rooms(page)).to_have_text(["Made here", "Alpha room"])
    expect(page.locator("#now")).to_have_text("2026-03-02 09:40:00 UTC")

    # Back to the default: neither tenant's rooms, the default's clock, the default's key.
    page.get_by_label("Tenant").select_option("default")
    expect(page).to_have_url(f"{live.url}/_emulator/ui")
    expect(page.locator("#rooms .empty")).to_be_visible()
    expect(shown_rooms(page)).to_have_count(0)
    expect(page.locator("#now")).to_have_text("2026-03-02 09:30:00 UTC")
    expect(page.locator("#authorization")).to_have_value("Basic ZGFzaGJvYXJkOmRhc2hib2FyZA==")
    expect(page.locator("#deliveries .event")).to_have_count(0)

    # The browser's Back button returns to alpha.
    page.go_back()
    expect(page).to_have_url(f"{live.url}/_emulator/ui?tenant=alpha")
    expect(page.get_by_label("Tenant")).to_have_value("alpha")
    expect(shown_rooms(page)).to_have_text(["Made here", "Alpha room"])


def test_the_list_follows_tenants_made_and_a_deleted_tenant_falls_back_to_the_default(
    live: Live,
    two_tenants: tuple[dict[str, Any], dict[str, Any]],
    new_page: Callable[[], Page],
    expect: Callable[..., Any],
) -> None:
    page = new_page()
    page.goto(f"{live.url}/_emulator/ui?tenant=beta")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.get_by_label("Tenant")).to_have_value("beta")
    expect(shown_rooms(page)).to_have_text(["Beta room"])

    # A tenant made after the page opened joins the list by itself.
    make_tenant(live.http, "gamma")
    expect(page.get_by_label("Tenant").locator("option")).to_have_text(
        ["default", "alpha", "beta", "gamma"]
    )

    # The tenant shown is deleted: the page says so and shows the default.
    assert live.http.delete("/_emulator/tenants/beta").status_code == 204
    expect(page.locator("#message")).to_have_text(
        "Tenant beta no longer exists (it was deleted): showing the default tenant."
    )
    expect(page.get_by_label("Tenant")).to_have_value("default")
    expect(page.get_by_label("Tenant").locator("option")).to_have_text(
        ["default", "alpha", "gamma"]
    )
    expect(page).to_have_url(f"{live.url}/_emulator/ui")
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#rooms .empty")).to_be_visible()


def test_a_tenant_rooms_meeting_page_follows_that_tenant(
    live: Live,
    two_tenants: tuple[dict[str, Any], dict[str, Any]],
    new_page: Callable[[], Page],
    expect: Callable[..., Any],
) -> None:
    alpha, _ = two_tenants
    (room,) = live.http.get(ROOMS, headers={"Authorization": basic(alpha)}).json()["_embedded"]
    guest = new_page()
    guest.goto(room["_links"]["guest_url"]["href"])
    expect(guest.locator("#connection")).to_have_text("live")
    guest.fill("#join input[name=name]", "Gil")
    guest.click("#join button[type=submit]")
    expect(guest.locator("#participants .person.me .name")).to_have_text("Gil")

    dashboard = new_page()
    dashboard.goto(f"{live.url}/_emulator/ui?tenant=alpha")
    expect(dashboard.locator("article.room .person.joined .name")).to_have_text(["Gil"])
    guest.click("#leave")
    expect(guest.locator("#message")).to_have_text("You left the meeting.")
    expect(dashboard.locator("article.room .person.joined")).to_have_count(0)


@pytest.fixture
def guarded() -> Iterator[Live]:
    with serve_live(control_token=TOKEN) as served:
        yield served


def test_with_a_control_token_the_page_switches_tenants_on_its_cookie(
    guarded: Live, browser: Any, expect: Callable[..., Any]
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    alpha = make_tenant(guarded.http, "alpha", **bearer)
    beta = make_tenant(guarded.http, "beta", **bearer)
    make_room(guarded.http, basic(alpha), "Alpha room")
    make_room(guarded.http, basic(beta), "Beta room")
    assert guarded.http.get("/_emulator/ui", params={"tenant": "alpha"}).status_code == 401

    context = browser.new_context()
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{guarded.url}/_emulator/ui?tenant=alpha&token={TOKEN}")
        expect(page.locator("#connection")).to_have_text("live")
        expect(shown_rooms(page)).to_have_text(["Alpha room"])
        selector = page.get_by_label("Tenant")
        expect(selector.locator("option")).to_have_text(["default", "alpha", "beta"])
        selector.select_option("beta")
        expect(page).to_have_url(f"{guarded.url}/_emulator/ui?tenant=beta&token={TOKEN}")
        expect(shown_rooms(page)).to_have_text(["Beta room"])
        page.click("#advance-1m")
        expect(page.locator("#now")).to_have_text("2026-03-02 09:31:00 UTC")
        assert clock_of(guarded.http, "beta", **bearer) == "2026-03-02T09:31:00.000Z"
        assert clock_of(guarded.http, "alpha", **bearer) == "2026-03-02T09:30:00.000Z"
        # The cookie alone carries the page on: without the token in its address too.
        page.goto(f"{guarded.url}/_emulator/ui?tenant=alpha")
        expect(page.locator("#connection")).to_have_text("live")
        expect(shown_rooms(page)).to_have_text(["Alpha room"])
    finally:
        context.close()
    assert problems == []
