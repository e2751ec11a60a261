"""What the tests of the pages share: the browser (Debian's Chromium, driven by Playwright)
and a live emulator for it to open.

Without Chromium or Playwright the browser tests skip, saying why, except under CI (env
`CI` set), where they fail instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings

from ..conftest import START, app_emulator, free_port, serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
# As root, in a sandbox with no network beyond loopback: no sandboxing of its own, no GPU,
# and none of Chromium's background connections (refused here, many at a time).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CALLBACK_URL = "http://127.0.0.1:9020/callbacks"


def missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install playwright into the venv)"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the browser tests fail instead of skipping")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def expect(browser: Browser) -> Callable[..., Any]:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@dataclass
class Live:
    url: str
    app: Starlette
    http: httpx.Client
    problems: list[str] = field(default_factory=list)

    @property
    def emulator(self) -> Emulator:
        return app_emulator(self.app)


@contextlib.contextmanager
def serve_live(local_links: bool = True, **settings: Any) -> Iterator[Live]:
    """An emulator on a real port, its clock frozen at START (to the second), whose room
    links open its own meeting page (unless `local_links` is False); callbacks go to a
    stand-in receiver that answers 200. `settings` adds to its Settings."""
    port = free_port()
    app = create_app(
        Settings(
            seed=11, port=port, local_links=local_links, callback_url=CALLBACK_URL, **settings
        ),
        clock=Clock.frozen_at(START.replace(microsecond=0)),
        ids=Ids(11),
        transport=httpx.MockTransport(lambda _request: httpx.Response(200)),
    )
    with serving(app, port=port) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Live(url, app, http)


@pytest.fixture
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    """`serve_live()`: local links, unless parametrized with False."""
    with serve_live(getattr(request, "param", True)) as served:
        yield served


@pytest.fixture
def new_page(browser: Browser, live: Live) -> Iterator[Callable[[], Page]]:
    """Pages that record every script error and console error, which the test asserts."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pages: list[Page] = []

    def make() -> Page:
        page = context.new_page()
        page.on("pageerror", lambda error: live.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                live.problems.append(f"console: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        pages.append(page)
        return page

    try:
        yield make
    finally:
        for page in pages:
            page.close()
        context.close()
    assert live.problems == []
