"""The whole single sign-on dance in headless Chromium, with two host names on one parent
domain (contract §3): the gateway at auth.example.test, a stand-in Registry at hub.example.test
(tests/registrystub.py: its login page reads ``document.cookie`` exactly as the Registry's web
client does and relays the token server-side, as the Registry does), the IdP a real
oidc-provider.

landing page -> IdP login form -> consent -> callback -> cookie for .example.test -> Registry page
shows username, roles and an integer quota -> self-service page, app password -> logout through
the hidden iframe clears the cookie -> the token no longer works.

Screenshots are kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.browser import save_screenshot
from tests.integration.harness import start_gateway
from tests.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.registrystub import RegistryStub, logout, read_login_page
from tests.servers import free_port

pytestmark = pytest.mark.integration

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    port = free_port()
    gateway_url = f"http://auth.example.test:{port}"
    registry = RegistryStub.start(f"http://127.0.0.1:{port}/api/authenticate")
    idp = OidcProviderServer.start(
        tmp_path_factory.mktemp("browser-idp"), users=default_users(),
        clients=[default_client(f"{gateway_url}/sso/callback/corp",
                                post_logout_redirect_uris=[f"{gateway_url}/sso/signed-out"])])
    config = f"""
providers:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    scopes: [openid, profile, email, groups]
    label: Sign in with Example Corp
sso:
  registry_login_url: {registry.login_url()}
  cookie_domain: example.test
  brand: {{name: Example Drone Registry}}
mapping:
  default_roles: [user]
  expose: [email]
  rules:
    - name: admins
      match: {{group: registry-admins}}
      roles: [admin]
    - name: survey
      match: {{group: survey-north}}
      roles: [surveyor]
      maxStorageMB: 51200
"""
    gateway = start_gateway(tmp_path_factory.mktemp("browser-gateway"), config, users=[], port=port,
                            extra={"GATEWAY_PUBLIC_URL": gateway_url})
    yield {"gateway": gateway, "gateway_url": gateway_url, "registry": registry, "idp": idp}
    gateway.stop()
    idp.stop()
    registry.stop()


def test_single_sign_on_to_the_registry_in_a_browser(setup, page):
    gateway_url, registry = setup["gateway_url"], setup["registry"]
    page.set_viewport_size(LAPTOP)

    # Landing page: one button per provider, reachable by keyboard.
    page.goto(f"{gateway_url}/")
    assert page.title().endswith("Example Drone Registry")
    save_screenshot(page, "sso-01-landing")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement && document.activeElement.id")
    assert focused == "provider-corp"

    # The IdP's own login form; consent is automatic at this test IdP.
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-form")
    assert page.url.startswith(setup["idp"].issuer)
    page.fill("#login", "alice")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#submit")

    # Back through the gateway's callback to the Registry's login page on the other host.
    page.wait_for_url(f"{registry.url_for('hub.example.test')}/login")
    shown = read_login_page(page)
    save_screenshot(page, "sso-02-registry-page")
    assert shown["status"] == "ok", shown
    assert shown["username"] == "alice"
    assert json.loads(shown["roles"]) == ["user", "admin", "surveyor"]
    assert shown["quota"] == "51200 number integer"
    assert shown["logout-url"] == f"{gateway_url}/sso/logout"
    token = shown["token"]

    cookie = next(c for c in page.context.cookies() if c["name"] == "xAuthToken")
    assert cookie["domain"] == ".example.test" and cookie["path"] == "/"
    assert cookie["httpOnly"] is False and cookie["sameSite"] == "Lax"
    relayed = registry.calls[-1]
    assert relayed["fields"] == {"token": token} and relayed["status"] == 200

    # Self-service page on the gateway: what the Registry receives, and an app password.
    page.goto(f"{gateway_url}/account")
    assert "alice" in page.locator("#account-user").text_content()
    assert json.loads(page.locator("#registry-answer").text_content())["maxStorageMB"] == 51200
    page.fill("#name", "laptop ddb")
    page.fill("#expires_days", "90")
    page.click("#create-app-password")
    app_password = page.locator("#new-app-password").text_content()
    assert app_password.startswith("gwap_")
    save_screenshot(page, "sso-03-account")
    page.set_viewport_size(PHONE)
    page.goto(f"{gateway_url}/account")
    save_screenshot(page, "sso-04-account-phone")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the account page scrolls sideways on a phone"
    page.set_viewport_size(LAPTOP)
    # What `ddb login` does: username + app password on the Registry's password path.
    status, answer = registry.relay({"username": "alice", "password": app_password}, "password")
    assert status == 200 and answer["username"] == "alice"

    # Logout the way the Registry's client does it: the logout URL in a hidden iframe.
    page.goto(registry.login_url())
    read_login_page(page)
    result = logout(page)
    assert result["frame_text"] is not None and "Signed out" in result["frame_text"], result
    assert "xAuthToken" not in result["cookies-after"]
    assert not [c for c in page.context.cookies() if c["name"] == "xAuthToken"]
    refused = requests.post(f"http://127.0.0.1:{setup['gateway'].server.port}/api/authenticate",
                            data={"token": token}, timeout=10)
    assert refused.status_code == 401

    # With the cookie gone, the Registry's page has nothing to relay.
    page.goto(registry.login_url())
    assert read_login_page(page)["status"] == "no-token"


def test_landing_page_on_a_phone(setup, page):
    page.set_viewport_size(PHONE)
    page.goto(f"{setup['gateway_url']}/")
    path = save_screenshot(page, "sso-05-landing-phone")
    assert path.exists()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.locator("#provider-corp").bounding_box()
    assert button["height"] >= 44  # a comfortable touch target


def test_refused_login_shows_a_clear_page(setup, page):
    page.goto(f"{setup['gateway_url']}/sso/login/corp?next=//evil.example")
    assert "not allowed" in page.locator("#error-message").text_content()
    save_screenshot(page, "sso-06-error")
