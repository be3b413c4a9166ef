"""The account page in headless Chromium, signed in with a local user at /login: creating an
app password is a POST-redirect-GET (a reload shows no secret and creates nothing), and the
copy button next to the secret shown once copies it to the clipboard.

Screenshots: test-artifacts/screenshots/account-app-password-{desktop,phone}.png.
"""

from __future__ import annotations

import pytest

from tests.integration.http.test_browser_login import started
from tests.support.adminapi import PASSWORD
from tests.support.browser import save_screenshot

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = started(tmp_path_factory, "account-browser")
    yield gateway
    gateway.stop()


def _sign_in(page, gateway, username: str) -> None:
    page.goto(f"{gateway.url}/login?next=/account")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.goto(f"{gateway.url}/account")
    assert page.locator("#account-user").text_content() == username


def _create(page, name: str) -> str:
    page.fill("#name", name)
    with page.expect_navigation():
        page.click("#create-app-password")
    return page.locator("#new-app-password").text_content()


def test_a_reload_after_creating_an_app_password_creates_nothing_and_shows_no_secret(gateway, page):
    _sign_in(page, gateway, "alice")
    secret = _create(page, "laptop ddb")
    assert secret.startswith("gwap_")
    assert page.url == f"{gateway.url}/account#new-app-password-box"  # the GET, never the POST's answer
    assert secret not in page.url
    assert page.locator("#app-password-list tbody tr").count() == 1

    page.reload()
    assert page.locator("#new-app-password").count() == 0
    assert secret not in page.content()
    assert page.locator("#app-password-list tbody tr").count() == 1  # still one
    # The cookie that carried the secret is gone, and it never was readable by scripts.
    assert not [c for c in page.context.cookies() if "shown_once" in c["name"]]


def test_the_copy_button_copies_the_secret_shown_once(gateway, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _sign_in(page, gateway, "bob")
    page.set_viewport_size(DESKTOP)
    secret = _create(page, "field tablet")
    button = page.locator("#copy-app-password")
    assert button.is_visible()
    button.click()
    page.wait_for_function("() => document.querySelector('#copy-app-password').textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    assert not errors, errors  # the strict policy let the static script run, no inline code needed
    save_screenshot(page, "account-app-password-desktop")

    page.set_viewport_size(PHONE)
    _create(page, "phone")
    assert page.locator("#copy-app-password").is_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the account page scrolls sideways on a phone"
    save_screenshot(page, "account-app-password-phone")
