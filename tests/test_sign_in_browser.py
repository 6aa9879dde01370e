"""The sign-in page in a real headless Chromium (Debian's, driven by Playwright) on a phone screen.

The workbench's own journeys are in tests/browser/; this checks the server-rendered page they all
start from: it fits 390 px, loads nothing from elsewhere, says what went wrong, keeps the session
cookie out of JavaScript's reach, and signs in and out for real.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .support import SCREENSHOTS, password_of


@pytest.fixture
def phone(chromium, live_server):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    yield page, live_server, requests
    context.close()


def test_signing_in_and_out_on_a_phone(phone):
    from playwright.sync_api import expect

    page, base, requests = phone
    page.goto(f"{base}/login?next=/api/v1/me")
    expect(page.get_by_role("heading")).to_contain_text("投诉处理工作台")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", "not-her-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码不正确")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sign-in-wrong-password-phone.png"))

    page.fill("input[name=password]", password_of("li.na"))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/api/v1/me")
    assert '"username":"li.na"' in page.content().replace(" ", "")
    # HttpOnly: the page's scripts cannot read the session cookie.
    assert page.evaluate("document.cookie") == ""

    status = page.evaluate("fetch('/logout', {method: 'POST'}).then(r => r.url)")
    assert urlsplit(status).path == "/login"
    assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401
    assert all(url.startswith(base) for url in requests), [u for u in requests if not u.startswith(base)]
