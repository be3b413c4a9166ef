"""The whole single sign-on dance in headless Chromium, with two host names on one parent
domain (contract §3): the gateway at auth.example.test, a stand-in Registry at hub.example.test
(tests/support/registrystub.py: its login page reads ``document.cookie`` exactly as the Registry's web
client does and relays the token server-side, as the Registry does), the IdP a real
oidc-provider.

landing page -> IdP login form -> consent page (the IdP's client is configured to ask) ->
callback -> cookie for .example.test -> Registry page shows username, roles and an integer quota
-> self-service page, app password -> logout through the hidden iframe clears the cookie -> the
token no longer works.  Refusing consent ends on the gateway's error page.

Screenshots are kept in test-artifacts/screenshots/ (sso-NN-*.png); docs/screenshots/ holds
copies of some of them (see its README.md).
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.browser import save_screenshot
from tests.support.harness import start_gateway
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.support.registrystub import RegistryStub, logout, read_login_page
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}

# Logos on an https origin (the pages' CSP loads https images only), answered by the browser
# itself (Playwright routes), so no network and no TLS server are needed.
LOGOS = "https://logos.example.test"
LOGO_SVGS = {
    "/registry.svg": (
        '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">'
        '<rect width="32" height="32" rx="7" fill="#1f5fbf"/>'
        '<g fill="#fff"><circle cx="9" cy="9" r="4"/><circle cx="23" cy="9" r="4"/>'
        '<circle cx="9" cy="23" r="4"/><circle cx="23" cy="23" r="4"/>'
        '<rect x="12" y="12" width="8" height="8" rx="2"/></g></svg>'
    ),
    "/corp.svg": (
        '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
        '<rect width="24" height="24" rx="5" fill="#d9480f"/>'
        '<path d="M7 6h10v3H10.5v1.8H16v2.8h-5.5V15H17v3H7z" fill="#fff"/></svg>'
    ),
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    port = free_port()
    gateway_url = f"http://auth.example.test:{port}"
    registry = RegistryStub.start(f"http://127.0.0.1:{port}/api/authenticate")
    idp = OidcProviderServer.start(
        tmp_path_factory.mktemp("browser-idp"),
        users=default_users(),
        clients=[
            default_client(
                f"{gateway_url}/sso/callback/corp",
                consent="prompt",
                post_logout_redirect_uris=[f"{gateway_url}/sso/signed-out"],
            )
        ],
    )
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
    display_name: Example Corp
    logo_url: {LOGOS}/corp.svg
sso:
  registry_login_url: {registry.login_url()}
  cookie_domain: example.test
  brand: {{name: Example Drone Registry, logo_url: "{LOGOS}/registry.svg"}}
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
    gateway = start_gateway(
        tmp_path_factory.mktemp("browser-gateway"),
        config,
        users=[],
        port=port,
        extra={"GATEWAY_PUBLIC_URL": gateway_url},
    )
    yield {"gateway": gateway, "gateway_url": gateway_url, "registry": registry, "idp": idp}
    gateway.stop()
    idp.stop()
    registry.stop()


@pytest.fixture(autouse=True)
def logos(page):
    """Every test's browser gets the logos from :data:`LOGOS`."""
    page.route(f"{LOGOS}/**", _serve_logo)


def _serve_logo(route):
    path = route.request.url[len(LOGOS) :]
    if path in LOGO_SVGS:
        route.fulfill(status=200, content_type="image/svg+xml", body=LOGO_SVGS[path])
    else:
        route.fulfill(status=404, body="")


def loaded_images(page) -> dict[str, int]:
    """The page's images: src -> natural width (0 when it did not load or was blocked)."""
    return page.evaluate(
        "() => Object.fromEntries([...document.images].map("
        "i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0]))"
    )


def test_single_sign_on_to_the_registry_in_a_browser(setup, page):
    gateway_url, registry = setup["gateway_url"], setup["registry"]
    page.set_viewport_size(LAPTOP)

    # Landing page: one button per provider, labelled from its display name, reachable by
    # keyboard.
    page.goto(f"{gateway_url}/")
    assert page.title().endswith("Example Drone Registry")
    assert page.locator("#provider-corp").inner_text().strip() == "Sign in with Example Corp"
    # The brand and provider logos load: https, allowed by the page's CSP.
    assert loaded_images(page) == {f"{LOGOS}/registry.svg": 32, f"{LOGOS}/corp.svg": 24}
    save_screenshot(page, "sso-01-landing")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement && document.activeElement.id")
    assert focused == "provider-corp"

    # The IdP's own login form, then its consent page listing what the gateway asks for.
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-form")
    assert page.url.startswith(setup["idp"].issuer)
    page.fill("#login", "alice")
    page.fill("#password", DEFAULT_PASSWORD)
    save_screenshot(page, "sso-02-idp-login")
    page.click("#submit")
    assert consent_scopes(page) == ["openid", "profile", "email", "groups"]
    assert page.locator("#client").text_content() == DEFAULT_CLIENT_ID
    save_screenshot(page, "sso-03-consent")
    page.click("#approve")

    # Back through the gateway's callback to the Registry's login page on the other host.
    page.wait_for_url(f"{registry.url_for('hub.example.test')}/login")
    shown = read_login_page(page)
    save_screenshot(page, "sso-04-registry-page")
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
    assert page.locator("#account-provider").text_content() == "Example Corp"
    assert json.loads(page.locator("#registry-answer").text_content())["maxStorageMB"] == 51200
    page.fill("#name", "laptop ddb")
    page.fill("#expires_days", "90")
    page.click("#create-app-password")
    app_password = page.locator("#new-app-password").text_content()
    assert app_password.startswith("gwap_")
    save_screenshot(page, "sso-05-account")
    page.set_viewport_size(PHONE)
    page.goto(f"{gateway_url}/account")
    save_screenshot(page, "sso-06-account-phone")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the account page scrolls sideways on a phone"
    page.set_viewport_size(LAPTOP)
    page.goto(f"{gateway_url}/")
    assert page.locator("#signed-in-provider").text_content() == "Example Corp"
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
    refused = requests.post(
        f"http://127.0.0.1:{setup['gateway'].server.port}/api/authenticate", data={"token": token}, timeout=10
    )
    assert refused.status_code == 401

    # With the cookie gone, the Registry's page has nothing to relay.
    page.goto(registry.login_url())
    assert read_login_page(page)["status"] == "no-token"


def test_landing_page_on_a_phone(setup, page):
    page.set_viewport_size(PHONE)
    page.goto(f"{setup['gateway_url']}/")
    path = save_screenshot(page, "sso-07-landing-phone")
    assert path.exists()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.locator("#provider-corp").bounding_box()
    assert button["height"] >= 44  # a comfortable touch target


def test_refused_login_shows_a_clear_page(setup, page):
    page.goto(f"{setup['gateway_url']}/sso/login/corp?next=//evil.example")
    assert "not allowed" in page.locator("#error-message").text_content()
    save_screenshot(page, "sso-08-error")


def test_refusing_consent_ends_on_the_gateways_error_page(setup, page):
    """Deny on the IdP's consent page: the IdP answers the callback with error=access_denied,
    the gateway shows its sign-in problem page (401, not a 500) and sets no token cookie."""
    page.goto(f"{setup['gateway_url']}/")
    page.click("#provider-corp")
    page.fill("#login", "bob")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#submit")
    assert consent_scopes(page) == ["openid", "profile", "email", "groups"]
    with page.expect_response(lambda r: "/sso/callback/corp?" in r.url) as callback:
        page.click("#deny")
    assert "error=access_denied" in callback.value.url
    assert callback.value.status == 401
    page.wait_for_selector("#error-message")
    assert page.url.startswith(f"{setup['gateway_url']}/sso/callback/corp?")
    assert page.locator("h1").text_content() == "Sign-in problem"
    assert "Sign-in failed" in page.locator("#error-message").text_content()
    assert page.get_by_role("link", name="Back to sign-in").is_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "xAuthToken"]
    save_screenshot(page, "sso-09-consent-refused")


def consent_scopes(page) -> list[str]:
    """The scopes the IdP's consent page lists, in order (waits for the page)."""
    page.wait_for_selector("#consent-form")
    return [item.get_attribute("data-scope") for item in page.locator("#scopes li").all()]
