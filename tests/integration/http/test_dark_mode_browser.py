"""The pages in a browser that prefers a dark colour scheme (headless Chromium): the sign-in
page and the admin users table turn dark with light, readable text, and the icon loads.
Screenshots at desktop (1280×800) and phone (390×844) widths go to
test-artifacts/screenshots/ (``dark-*``)."""

from __future__ import annotations

import re

import pytest

from tests.support.adminapi import ADMIN_CONFIG, ADMIN_PASSWORD, start_admin_gateway
from tests.support.browser import PAGE_TIMEOUT_MS, save_screenshot
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
RGB = re.compile(r"rgba?\((\d+), (\d+), (\d+)")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("dark-mode"),
        ADMIN_CONFIG,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


@pytest.fixture
def dark_page(browser):
    """A page in a fresh context that prefers the dark colour scheme."""
    context = browser.new_context(color_scheme="dark", viewport=DESKTOP)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def luminance(css_colour: str) -> float:
    """The WCAG relative luminance of a computed ``rgb(...)`` colour."""
    match = RGB.match(css_colour)
    assert match, css_colour
    channels = []
    for value in match.groups():
        c = int(value) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def assert_dark_and_readable(page, text_selector: str) -> None:
    """The body background is dark, and the body text and ``text_selector``'s text are light
    with at least WCAG AA contrast (4.5:1) against the background."""
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    body_text = page.evaluate("getComputedStyle(document.body).color")
    text = page.eval_on_selector(text_selector, "element => getComputedStyle(element).color")
    assert luminance(background) < 0.05, background
    assert luminance(body_text) > 0.6, body_text
    assert contrast(body_text, background) >= 4.5
    assert contrast(text, background) >= 4.5, (text_selector, text, background)


def shoot(page, name: str) -> None:
    save_screenshot(page, f"dark-{name}-desktop")
    page.set_viewport_size(PHONE)
    save_screenshot(page, f"dark-{name}-phone")
    page.set_viewport_size(DESKTOP)


def test_the_login_and_admin_pages_are_dark_and_readable_and_the_icon_loads(gateway, dark_page):
    page = dark_page
    statuses: dict[str, int] = {}
    page.on("response", lambda response: statuses.__setitem__(response.url, response.status))
    page.goto(f"{gateway.url}/login")
    assert_dark_and_readable(page, "label[for=username]")
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon == "/static/favicon.svg"
    shoot(page, "login")

    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{gateway.url}/admin")
    page.click("#nav-users")
    page.wait_for_url(f"{gateway.url}/admin/users")
    assert_dark_and_readable(page, "#users-table tbody th")
    current = page.eval_on_selector(  # the current section: dark text on the (light) accent
        "#nav-users",
        "element => [getComputedStyle(element).color, getComputedStyle(element).backgroundColor]",
    )
    assert contrast(*current) >= 4.5, current
    assert page.get_attribute("link[rel=icon]", "href") == "/static/favicon.svg"
    shoot(page, "admin-users")

    for path in (icon, "/favicon.ico"):
        response = page.request.get(f"{gateway.url}{path}")
        assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert [url for url, status in statuses.items() if status == 404] == []
