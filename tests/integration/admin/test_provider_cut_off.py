"""Disabling or removing an OpenID Connect provider kept in the database cuts its users off,
over HTTP against the gateway under gunicorn (two workers) and a real oidc-provider: their app
passwords are refused on the Registry's password path (not answered from the last browser
login), and their open sessions stop working on the token path and in the browser, on every
worker within its refresh interval. Enabling the provider again lets them back in."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.adminapi import AdminClient, registry_answer, start_admin_gateway
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.support.servers import free_port, wait_for
from tests.support.ssoflow import browser, new_app_password, sso_login, xauth_token

pytestmark = pytest.mark.integration

PROVIDER = "corp"
ROUNDS = 6  # consecutive answers of each kind
# Each poll makes 18 requests, some of them argon2 checks: generous for a loaded machine.
WAIT_SECONDS = 30.0
# How often each worker reads the providers table (gateway.login.providerset.LiveProviders),
# with a margin.
REFRESH_SECONDS = 1.5


def _config() -> str:
    return """
usernames: {lowercase: true}
sso:
  registry_login_url: http://127.0.0.1:8081/login
mapping:
  default_roles: [user]
  rules: []
mapping_source: file
"""


@pytest.fixture(scope="module")
def port():
    return free_port()


@pytest.fixture(scope="module")
def idp(tmp_path_factory, port):
    callback = f"http://127.0.0.1:{port}/sso/callback/{PROVIDER}"
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("cut-off-idp"), clients=[default_client(callback)], users=default_users()
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, port):
    server = start_admin_gateway(
        tmp_path_factory.mktemp("cut-off"),
        _config(),
        users=[],
        workers=2,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _all(statuses: list[int], expected: set[int]) -> bool:
    return set(statuses) <= expected


def _answers(gateway, token: str, app_password: str) -> list[int]:
    """The Registry's answers for the session's token and the app password, ROUNDS times each."""
    statuses = []
    for _ in range(ROUNDS):
        statuses.append(registry_answer(gateway, token=token).status_code)
        statuses.append(registry_answer(gateway, username="alice", password=app_password).status_code)
    return statuses


def _account_page(gateway, session: requests.Session) -> list[int]:
    return [
        session.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code
        for _ in range(ROUNDS)
    ]


def _cut_off(gateway, token: str, app_password: str, signed_in: requests.Session) -> bool:
    """Whether the token, the app password and the browser's session are all refused now."""
    return _all(_answers(gateway, token, app_password), {401}) and _all(
        _account_page(gateway, signed_in), {303}
    )


def test_a_disabled_or_removed_idp_answers_no_app_password_and_no_session(gateway, admin, idp):
    created = admin.post(
        "/providers",
        json={
            "id": PROVIDER,
            "type": "oidc",
            "settings": {
                "issuer": idp.issuer,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "scopes": ["openid", "profile", "email", "groups"],
            },
        },
    )
    assert created.status_code == 201, created.text
    # Either worker may answer the SSO login, and which one answers a request is not ours to
    # choose: a worker reads the change at its first request once its refresh interval has
    # passed since the change, so wait for that as well as for the provider being offered.
    added = time.monotonic()
    start = f"{gateway.url}/sso/login/{PROVIDER}"
    wait_for(
        lambda: (
            time.monotonic() - added > REFRESH_SECONDS
            and all(
                browser().get(start, allow_redirects=False, timeout=10).status_code == 302
                for _ in range(ROUNDS)
            )
        ),
        timeout=WAIT_SECONDS,
        message="the new provider was not offered by every worker",
    )
    callback = sso_login(gateway, idp, PROVIDER, "alice")
    assert callback.status_code == 302, callback.text
    token, _logout = xauth_token(callback)
    app_password, signed_in = new_app_password(gateway, idp, PROVIDER, "alice")
    assert _all(_answers(gateway, token, app_password), {200})
    assert _all(_account_page(gateway, signed_in), {200})

    assert admin.post(f"/providers/{PROVIDER}/disable").json()["enabled"] is False
    # The browser's session is not honoured either. Both in one wait: which worker answers a
    # request is not ours to choose, and each reads the change within its refresh interval.
    wait_for(
        lambda: _cut_off(gateway, token, app_password, signed_in),
        timeout=WAIT_SECONDS,
        message="a disabled provider's users were still let in",
    )

    assert admin.post(f"/providers/{PROVIDER}/enable").json()["active"] is True
    wait_for(
        lambda: _all(_answers(gateway, token, app_password), {200}),
        timeout=WAIT_SECONDS,
        message="not back after enabling",
    )

    assert admin.delete(f"/providers/{PROVIDER}").status_code == 204
    wait_for(
        lambda: _cut_off(gateway, token, app_password, signed_in),
        timeout=WAIT_SECONDS,
        message="a removed provider's users were still let in",
    )
