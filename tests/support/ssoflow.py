"""An SSO login without a browser, and what a signed-in person does with it: requests through
the gateway's ``/sso/login/<provider>`` and the IdP's login form (an
:class:`~tests.support.oidcserver.OidcProviderServer`) to the callback, the xAuthToken cookie
it sets, and app passwords made and revoked on the account page."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import unquote

import requests

from tests.support.oidcserver import DEFAULT_PASSWORD, OidcProviderServer

APP_PASSWORD = re.compile(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<')
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def browser() -> requests.Session:
    """A cookie jar that ignores proxy settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


def callback_url(
    gateway, idp: OidcProviderServer, provider: str, username: str, session: requests.Session
) -> str:
    """Start an SSO login at ``provider`` and sign in at the IdP as ``username``; the callback
    URL the IdP sends the browser back to (not yet followed)."""
    started = session.get(f"{gateway.url}/sso/login/{provider}", allow_redirects=False, timeout=10)
    assert started.status_code == 302, started.text
    return idp.login_with_requests(started.headers["Location"], username, DEFAULT_PASSWORD, session=session)


def sso_login(
    gateway, idp: OidcProviderServer, provider: str, username: str, session: requests.Session | None = None
) -> requests.Response:
    """The whole SSO login; the gateway's answer at the callback (302 with the cookie on a grant)."""
    session = session or browser()
    url = callback_url(gateway, idp, provider, username, session)
    return session.get(url, allow_redirects=False, timeout=10)


def xauth_token(callback: requests.Response) -> tuple[str, str]:
    """The Registry token and the logout URL in the xAuthToken cookie a callback set."""
    for header in callback.raw.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if "xAuthToken" in cookie:
            token, _, logout_url = unquote(cookie["xAuthToken"].value).partition("|")
            return token, logout_url
    raise AssertionError("no xAuthToken cookie")


def new_app_password(
    gateway, idp: OidcProviderServer, provider: str, username: str
) -> tuple[str, requests.Session]:
    """An app password made on the account page after an SSO login, and that signed-in browser."""
    session = browser()
    assert sso_login(gateway, idp, provider, username, session).status_code == 302
    account = session.get(f"{gateway.url}/account", timeout=10)
    created = session.post(
        f"{gateway.url}/account/app-passwords",
        data={"name": "ddb", "csrf_token": CSRF.search(account.text).group(1)},
        allow_redirects=False,
        timeout=10,
    )
    # Post-redirect-get: the new password is shown once, on the account page the 303 leads to.
    assert created.status_code == 303, created.text
    shown = session.get(f"{gateway.url}/account", timeout=10)
    return APP_PASSWORD.search(shown.text).group(1), session


def revoke_app_password(gateway, session: requests.Session, password: str) -> None:
    """Revoke ``password`` on the account page of the browser that made it."""
    account = session.get(f"{gateway.url}/account", timeout=10)
    revoked = session.post(
        f"{gateway.url}/account/app-passwords/{password.split('_')[1]}/revoke",
        data={"csrf_token": CSRF.search(account.text).group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert revoked.status_code == 303, revoked.text
