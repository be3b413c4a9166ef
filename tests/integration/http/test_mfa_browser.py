"""Multi-factor sign-in in headless Chromium: an authenticator app enrolled from the page's
manual key and used at the second step (codes from pyotp), and a passkey enrolled and used
with Chromium's virtual authenticator (the DevTools protocol's WebAuthn domain through
Playwright's CDP session). The gateway's public URL is http://localhost:<port>: a secure
context, and a host name the relying party id can be.

Screenshots: test-artifacts/screenshots/mfa-{enrol,recovery-codes,second-step,passkey-step}-
{desktop,phone}.png (copies in docs/screenshots/).
"""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.integration.http.test_mfa import started
from tests.support.adminapi import PASSWORD
from tests.support.browser import save_screenshot

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = started(tmp_path_factory, "mfa-browser")
    yield gateway
    gateway.stop()


def _password(page, gateway, username: str) -> None:
    page.goto(f"{gateway.public}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in")


def _virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def _fits(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page scrolls sideways"


def test_an_authenticator_app_enrolled_and_used_in_the_browser(gateway, page):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.set_viewport_size(DESKTOP)
    _password(page, gateway, "alice")
    page.goto(f"{gateway.public}/account")
    page.click("#mfa-link")
    assert page.locator("#totp-qr").is_visible()
    assert page.locator("#passkey-enrol").is_visible()  # the script ran under the page's CSP
    save_screenshot(page, "mfa-enrol-desktop")
    page.set_viewport_size(PHONE)
    _fits(page)
    save_screenshot(page, "mfa-enrol-phone")
    page.set_viewport_size(DESKTOP)

    key = page.locator("#totp-key").text_content().replace(" ", "")
    page.fill("#totp-name", "phone")
    page.fill("#totp-code", pyotp.TOTP(key).now())
    with page.expect_navigation():
        page.click("#totp-enrol")
    assert page.locator("#notice").text_content() == "Your authenticator app was added."
    codes = page.locator("#recovery-code-list").text_content().split()
    assert len(codes) == 10
    assert page.locator("#copy-recovery-codes").is_visible()
    save_screenshot(page, "mfa-recovery-codes-desktop")
    page.set_viewport_size(PHONE)
    _fits(page)
    save_screenshot(page, "mfa-recovery-codes-phone")
    page.set_viewport_size(DESKTOP)
    page.reload()
    assert page.locator("#recovery-code-list").count() == 0  # shown once

    page.click("#sign-out")
    page.context.clear_cookies()
    _password(page, gateway, "alice")
    assert page.url == f"{gateway.public}/login/mfa"
    save_screenshot(page, "mfa-second-step-desktop")
    page.set_viewport_size(PHONE)
    _fits(page)
    save_screenshot(page, "mfa-second-step-phone")
    page.fill("#code", pyotp.TOTP(key).at(time.time() + 30))  # the enrolment used this step's code
    with page.expect_navigation():
        page.click("#verify-code")
    assert page.url == f"{gateway.public}/account"
    assert page.locator("#account-user").text_content() == "alice"
    assert not errors, errors


def test_a_passkey_enrolled_and_used_with_the_virtual_authenticator(gateway, page):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _virtual_authenticator(page)
    page.set_viewport_size(DESKTOP)
    _password(page, gateway, "bob")
    page.goto(f"{gateway.public}/account/mfa")
    page.fill("#passkey-name", "laptop")
    with page.expect_navigation():
        page.click("#passkey-enrol")
    assert page.locator("#notice").text_content() == "Your passkey was added.", page.content()[:2000]
    assert "laptop" in page.locator("#factor-list").text_content()
    assert page.locator("#recovery-code-list").text_content().split()

    page.click("#sign-out")
    page.context.clear_cookies()
    _password(page, gateway, "bob")
    assert page.url == f"{gateway.public}/login/mfa"
    assert page.locator("#use-passkey").is_visible()
    assert page.locator("#code").count() == 0  # bob has no authenticator app
    save_screenshot(page, "mfa-passkey-step-desktop")
    page.set_viewport_size(PHONE)
    _fits(page)
    save_screenshot(page, "mfa-passkey-step-phone")
    with page.expect_navigation():
        page.click("#use-passkey")
    assert page.url.startswith(f"{gateway.public}/admin") or page.url == f"{gateway.public}/account"
    page.goto(f"{gateway.public}/account/mfa")
    row = page.locator("#factor-list tbody tr").first.text_content()
    assert "Passkey" in row and "never" not in row  # last used is recorded
    assert not errors, errors


@pytest.fixture(scope="module")
def required(tmp_path_factory):
    gateway = started(tmp_path_factory, "mfa-browser-required", CONFIG_REQUIRED)
    yield gateway
    gateway.stop()


CONFIG_REQUIRED = """
usernames: {lowercase: true}
mfa: {admins_required: true}
mapping:
  rules:
    - {name: admins-mfa, match: {group: drone-admins}, require_mfa: true}
"""


def test_a_require_mfa_member_sets_up_a_passkey_before_any_session(required, page):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _virtual_authenticator(page)
    page.set_viewport_size(DESKTOP)
    _password(page, required, "bob")
    assert page.url == f"{required.public}/login/mfa"
    assert page.locator("h1").text_content() == "Set up a second step"
    save_screenshot(page, "mfa-forced-enrol-desktop")
    page.set_viewport_size(PHONE)
    _fits(page)
    save_screenshot(page, "mfa-forced-enrol-phone")
    assert page.context.request.get(f"{required.public}/account", max_redirects=0).status == 303
    page.fill("#passkey-name", "phone")
    with page.expect_navigation():
        page.click("#passkey-enrol")
    assert page.url == f"{required.public}/account/mfa#recovery-codes"
    assert len(page.locator("#recovery-code-list").text_content().split()) == 10
    assert "phone" in page.locator("#factor-list").text_content()
    assert not errors, errors
