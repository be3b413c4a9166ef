"""Providers added from the admin UI (``provider_source: database``) in headless Chromium,
against two gateway replicas (gunicorn, two workers each) on one PostgreSQL and one Redis, a
real slapd and a real OpenID provider (``oidc-provider``):

* an LDAP directory: test the connection, try a user search, show the user's groups and what
  the mapping gives, save; that directory's user then signs in on the Registry's password path
  with the mapped roles on both replicas, without a restart;
* an OIDC provider: check discovery, copy the redirect URI, save; a browser sign-in through it
  started on the second replica gets the mapped roles, without a restart.

Screenshots ``admin-50-provider-*`` (laptop and phone widths)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.admin.test_admin_ui_browser import shoot, sign_in
from tests.support import ldapdata as data
from tests.support.adminapi import ADMIN_PASSWORD, AdminClient
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.support.replicas import start_replicas
from tests.support.servers import free_port
from tests.support.ssoflow import sso_login, xauth_token

pytestmark = pytest.mark.integration
REGISTRY_LOGIN = "http://127.0.0.1:8081/login"

CONFIG = f"""
usernames: {{lowercase: true}}
sso:
  registry_login_url: {REGISTRY_LOGIN}
mapping_source: file
mapping:
  rules:
    - name: developers
      match: {{group: developers}}
      roles: [pilot]
      maxStorageMB: 2048
    - name: surveyors
      match: {{group: survey-north}}
      roles: [surveyor]
"""


@pytest.fixture(scope="module")
def ports():
    return [free_port(), free_port()]


@pytest.fixture(scope="module")
def idp(tmp_path_factory, ports):
    public = f"http://127.0.0.1:{ports[0]}"
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("providers-ui-idp"),
        clients=[default_client([f"{public}/sso/callback/corp"])],
        users=default_users(),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, ports, postgres_server, redis_server, idp):
    replicas = start_replicas(
        tmp_path_factory.mktemp("providers-ui"),
        CONFIG,
        database_url=postgres_server.create_database("providers_ui"),
        redis_url=redis_server.url,
        users=[],
        ports=ports,
    )
    yield replicas
    replicas.stop()


def _authenticate(replica, **form) -> requests.Response:
    return requests.post(f"{replica.url}/api/authenticate", data=form, timeout=30)


def _eventually(check, seconds: float = 30.0):
    """``check()``'s result once it is truthy (a change reaches other workers within ~1 s,
    later on a loaded machine)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_an_admin_connects_a_directory_from_the_ui_and_its_users_sign_in_on_both_replicas(
    replicas, slapd, page
):
    a, b = replicas.a, replicas.b
    alice = {"username": "alice", "password": data.password_for("alice")}
    assert _authenticate(a, **alice).status_code == 401  # no directory yet

    sign_in(page, a.url, "admin", ADMIN_PASSWORD, path="/login?next=/admin/providers")
    page.wait_for_url(f"{a.url}/admin/providers")
    assert page.text_content("#configured-local").strip().startswith("local")
    page.click("#add-ldap")
    page.wait_for_url(f"{a.url}/admin/providers/new/ldap")
    assert page.input_value("#f-preset") == "openldap"

    # Saving an incomplete form names every problem next to its field at once.
    page.fill("#f-id", "directory")
    page.click("#save-provider")
    page.wait_for_load_state()
    assert page.locator(".error-summary li").count() >= 2
    assert page.get_attribute("#f-user_base", "aria-invalid") == "true"
    assert page.get_attribute("#f-servers", "aria-invalid") == "true"
    shoot(page, "50-provider-ldap-errors")

    page.fill("#f-servers", slapd.url)
    page.fill("#f-bind_dn", data.SERVICE_DN)
    page.fill("#f-bind_password", data.SERVICE_PASSWORD)
    page.fill("#f-user_base", data.PEOPLE_DN)
    page.fill("#f-groups_base", data.GROUPS_DN)

    page.click("#check-connection")
    page.wait_for_load_state()
    assert "Test connection" in page.text_content("#diag-result-heading")
    assert page.locator("#diag-result-heading .badge.ok").count() == 1, page.text_content("#diag-result")
    assert data.SERVICE_PASSWORD not in page.content()  # never shown back, even unsaved

    # The password field is empty again (never echoed): the checks need it typed once more.
    page.fill("#f-bind_password", data.SERVICE_PASSWORD)
    page.fill("#f-probe_username", "alice")
    page.click("#check-search")
    page.wait_for_load_state()
    assert page.locator("#diag-result-heading .badge.ok").count() == 1, page.text_content("#diag-result")
    assert "alice" in page.text_content("#diag-result")

    page.fill("#f-bind_password", data.SERVICE_PASSWORD)
    page.click("#check-groups")
    page.wait_for_load_state()
    assert "developers" in page.text_content("#diag-groups")
    assert page.text_content("#diag-roles").strip() == "pilot"
    shoot(page, "51-provider-ldap-groups")

    page.fill("#f-bind_password", data.SERVICE_PASSWORD)
    page.click("#save-provider")
    page.wait_for_url(f"{a.url}/admin/providers?done=added#configured-directory")
    assert "was added" in page.text_content("#configured-notice")
    assert "In force" in page.text_content("#configured-directory")
    shoot(page, "52-provider-list")

    # Both replicas, every worker: no restart.
    for replica in (a, b):
        answer = _eventually(
            lambda r=replica: _authenticate(r, **alice).status_code == 200 and _authenticate(r, **alice)
        )
        assert answer, replica.name
        assert answer.json()["roles"] == ["pilot"]
        assert answer.json()["maxStorageMB"] == 2048

    # Editing keeps the stored password when the field is left empty.
    page.click("#edit-directory")
    page.wait_for_url(f"{a.url}/admin/providers/directory/edit")
    assert "A password is stored" in page.text_content("#f-bind_password-hint")
    assert page.input_value("#f-bind_password") == ""
    page.fill("#f-probe_username", "alice")
    page.click("#check-search")
    page.wait_for_load_state()
    assert page.locator("#diag-result-heading .badge.ok").count() == 1, page.text_content("#diag-result")
    page.uncheck("#f-nested")
    page.click("#save-provider")
    page.wait_for_url(f"{a.url}/admin/providers?done=changed*")
    for replica in (a, b):
        assert _eventually(lambda r=replica: _authenticate(r, **alice).status_code == 200)

    # Disabled from the list: no replica asks it any more.
    page.click("#toggle-directory")
    page.wait_for_url(f"{a.url}/admin/providers?done=disabled*")
    for replica in (a, b):
        assert _eventually(lambda r=replica: _authenticate(r, **alice).status_code == 401)
    page.click("#toggle-directory")
    page.wait_for_url(f"{a.url}/admin/providers?done=enabled*")
    for replica in (a, b):
        assert _eventually(lambda r=replica: _authenticate(r, **alice).status_code == 200)


def test_an_admin_adds_an_oidc_provider_from_the_ui_and_a_browser_signs_in_through_it(replicas, idp, page):
    a, b = replicas.a, replicas.b
    sign_in(page, a.url, "admin", ADMIN_PASSWORD, path="/login?next=/admin/providers")
    page.wait_for_url(f"{a.url}/admin/providers")
    page.click("#add-oidc")
    page.wait_for_url(f"{a.url}/admin/providers/new/oidc")
    page.fill("#f-id", "corp")
    page.fill("#f-issuer", idp.issuer)
    page.fill("#f-client_id", DEFAULT_CLIENT_ID)
    page.fill("#f-client_secret", DEFAULT_CLIENT_SECRET)
    page.fill("#f-scopes", "openid profile email groups")
    page.fill("#f-display_name", "Corporate sign-in")
    page.click("#check-discovery")
    page.wait_for_load_state()
    assert page.locator("#diag-result-heading .badge.ok").count() == 1, page.text_content("#diag-result")
    assert page.text_content("#redirect-uri").strip() == f"{replicas.public_url}/sso/callback/corp"
    assert DEFAULT_CLIENT_SECRET not in page.content()
    shoot(page, "53-provider-oidc")

    page.fill("#f-client_secret", DEFAULT_CLIENT_SECRET)
    page.click("#save-provider")
    page.wait_for_url(f"{a.url}/admin/providers?done=added#configured-corp")
    item = AdminClient.login(a.url).get("/providers/corp").json()
    assert item["settings"]["client_secret"] == "(set)" and item["active"] is True

    # The sign-in button appears on the second replica, and a browser sign-in started there
    # gets the mapped roles.
    assert _eventually(lambda: "Corporate sign-in" in requests.get(f"{b.url}/", timeout=10).text)
    callback = _eventually(lambda: (r := sso_login(b, idp, "corp", "bob")).status_code == 302 and r)
    assert callback, "the SSO login through the new provider failed"
    token, _ = xauth_token(callback)
    for replica in (a, b):
        answer = _authenticate(replica, token=token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["username"] == "bob" and answer.json()["roles"] == ["surveyor"]
