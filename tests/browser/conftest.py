"""Fixtures for the workbench's browser tests: the built web application, Debian's Chromium driven
by Playwright, and people who sign in through the real sign-in page of the live server.

The service runs behind waitress (`live_server`) on SQLite and on PostgreSQL like every other
database test. A missing `web/dist` build or Chromium skips these tests with the reason outside CI
and fails them under CI=true (`scripts/test` builds the one and installs the other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..conftest import IN_CI, ROOT
from ..support import SCREENSHOTS, password_of

WEB_INDEX = ROOT / "web" / "dist" / "index.html"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture(scope="session")
def web_build() -> Path:
    """The built workbench (`npm run build` in web/, which scripts/test runs)."""
    if not WEB_INDEX.exists():
        message = f"{WEB_INDEX} is missing: build the workbench (cd web && npm ci && npm run build)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return WEB_INDEX.parent


@pytest.fixture(scope="session")
def browser(chromium, web_build):
    """The run's one headless Chromium (each person gets a fresh context: own cookies)."""
    return chromium


@dataclass
class Person:
    """One user at one browser: their page, and the JavaScript errors it raised (must stay none)."""

    username: str
    page: object
    base: str
    page_errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def path(self) -> str:
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def sign_in(self, path: str = "/") -> None:
        """Open `path`; a person with no session lands on sign-in and, signed in, back on `path`."""
        from playwright.sync_api import expect

        self.page.goto(self.url(path))
        expect(self.page.locator("input[name=password]")).to_be_visible()
        assert urlsplit(self.page.url).path == "/login"
        self.page.fill("input[name=username]", self.username)
        self.page.fill("input[name=password]", password_of(self.username))
        self.page.locator("input[name=password]").press("Enter")
        self.page.wait_for_url(lambda url: urlsplit(url).path == urlsplit(path).path)
        expect(self.page.locator("header.top")).to_be_visible()

    def no_sideways_scroll(self) -> None:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        viewport = self.page.viewport_size["width"]
        assert width <= viewport, f"{self.path()} is {width}px wide on a {viewport}px screen"

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture
def person(browser, live_server) -> Iterator[Callable[..., Person]]:
    """`person("li.na", phone=True)` → a signed-out user in a browser context of their own."""
    contexts = []
    people: list[Person] = []

    def make(username: str, phone: bool = False) -> Person:
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            device_scale_factor=1,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        someone = Person(username, page, live_server)
        page.on("pageerror", lambda error: someone.page_errors.append(str(error)))
        people.append(someone)
        return someone

    yield make
    for context in contexts:
        context.close()
    for someone in people:
        assert someone.page_errors == [], f"{someone.username}'s page raised {someone.page_errors}"
