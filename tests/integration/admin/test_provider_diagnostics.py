"""Provider diagnostics and group-name warnings over HTTP, against the gateway under gunicorn
with a real OpenLDAP directory, a directory that is down and a real oidc-provider:

* ``POST /admin/api/providers/diagnose`` on saved providers and on unsaved configurations
  (admins only, hostile input refused with 400, a failing backend is a 200 result, audited
  without secrets, rate-limited);
* the admin providers page's Test connection / Try a user search / Show groups / Check
  discovery forms (CSRF-protected), and one run in Chromium with screenshots;
* warnings for rule group names nobody has and the directory does not know, in the API's
  answers, the dry run and the rules page.
"""

from __future__ import annotations

import pytest
import requests

from tests.integration.admin.test_admin_ui_browser import CSRF, http_sign_in, shoot, sign_in
from tests.support import ldapdata as data
from tests.support.adminapi import ADMIN_PASSWORD, PASSWORD, AdminClient, start_admin_gateway
from tests.support.oidcserver import OidcProviderServer, default_client, default_users
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

TIMEOUTS = """
    connect_timeout_seconds: 1
    operation_timeout_seconds: 1
    login_timeout_seconds: 2"""


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("diag-oidc"),
        clients=[default_client("http://127.0.0.1/sso/callback/corp")],
        users=default_users(),
    )
    yield server
    server.stop()


def _config(slapd_url: str, issuer: str) -> str:
    return f"""
usernames: {{lowercase: true}}
providers:
  - id: local
    type: local
  - id: directory
    type: ldap
    preset: openldap
    servers: ["{slapd_url}"]
    bind: {{dn: "{data.SERVICE_DN}", password: "{data.SERVICE_PASSWORD}"}}
    user: {{base: "{data.PEOPLE_DN}"}}
    groups: {{base: "{data.GROUPS_DN}", strategies: [member, member_uid]}}{TIMEOUTS}
  - id: offline
    type: ldap
    preset: openldap
    servers: ["ldap://127.0.0.1:1"]
    user: {{base: "{data.PEOPLE_DN}"}}
    groups: {{base: "{data.GROUPS_DN}"}}{TIMEOUTS}
  - id: corp
    type: oidc
    issuer: {issuer}
    client_id: registry-gateway
    client_secret: corp-Secret-not-shown
    browser_login: false
    timeout_seconds: 1
"""


@pytest.fixture(scope="module")
def gateway(slapd, idp, tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("provider-diag"),
        _config(slapd.url, idp.issuer),
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _diagnose(client: AdminClient, **body) -> requests.Response:
    return client.post("/providers/diagnose", json=body)


# -- the API ------------------------------------------------------------------------------------


def test_diagnose_is_for_admins_and_in_the_openapi_document(gateway):
    anonymous = requests.post(f"{gateway.url}/admin/api/providers/diagnose", json={}, timeout=30)
    assert anonymous.status_code == 401
    alice = AdminClient.login(gateway.url, "alice", PASSWORD)
    assert _diagnose(alice, id="directory", action="connection").status_code == 403
    paths = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()["paths"]
    assert "post" in paths["/admin/api/providers/diagnose"]


def test_saved_directory_connection_search_and_groups(admin, slapd):
    connection = _diagnose(admin, id="directory", action="connection")
    assert connection.status_code == 200
    (server,) = connection.json()["servers"]
    assert server["url"] == slapd.url and server["ok"] is True

    search = _diagnose(admin, provider={"id": "directory"}, action="search", username="alice").json()
    assert search["ok"] is True and search["filter"] == "(&(objectClass=inetOrgPerson)(uid=alice))"
    assert search["entry"]["dn"] == data.ALICE_DN

    groups = _diagnose(admin, id="directory", action="groups", username="alice").json()
    by_name = {group["name"]: group for group in groups["groups"]}
    assert by_name["staff"]["path"] == ["developers", "engineering", "staff"]
    assert by_name["ops"]["strategy"] == "member_uid"
    assert groups["preview"]["username"] == "alice" and groups["preview"]["denied"] is False
    assert data.SERVICE_PASSWORD not in connection.text + str(search) + str(groups)


def test_a_directory_that_is_down_is_a_result_not_an_error(admin):
    response = _diagnose(admin, id="offline", action="connection")
    assert response.status_code == 200 and response.json()["ok"] is False
    assert response.json()["tookMs"] < 5000
    search = _diagnose(admin, id="offline", action="search", username="alice").json()
    assert search["outcome"] == "unavailable"


def test_an_unsaved_configuration_is_checked_and_an_invalid_one_names_its_keys(admin, slapd):
    unsaved = {
        "id": "new-dir",
        "type": "ldap",
        "preset": "openldap",
        "servers": [slapd.url],
        "bind": {"dn": data.SERVICE_DN, "password": data.SERVICE_PASSWORD},
        "user": {"base": data.PEOPLE_DN},
        "groups": {"base": data.GROUPS_DN},
        "connect_timeout_seconds": 1,
    }
    result = _diagnose(admin, provider=unsaved, action="search", username="bob").json()
    assert result["ok"] is True and result["provider"] == "new-dir" and result["entry"]["dn"] == data.BOB_DN
    invalid = _diagnose(admin, provider={**unsaved, "servers": ["ftp://x"], "bogus": 1}, action="connection")
    assert invalid.status_code == 200
    fields = {problem["field"] for problem in invalid.json()["problems"]}
    assert invalid.json()["error"] == "invalid_config" and {"provider.servers[0]", "provider.bogus"} <= fields


def test_oidc_discovery_shows_the_redirect_uri(admin, idp):
    result = _diagnose(admin, id="corp", action="discovery").json()
    assert result["ok"] is True and result["redirectUri"].endswith("/sso/callback/corp")
    assert {check["check"] for check in result["checks"]} >= {"discovery", "issuer", "jwks", "algorithms"}
    assert "corp-Secret-not-shown" not in str(result)


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"id": "directory", "action": "explode"}, 400, "action"),
        ({"id": "directory", "action": "search"}, 400, "username"),
        ({"id": "directory", "action": "search", "username": "   "}, 400, "username"),
        ({"id": "directory", "action": "search", "username": "a" * 300}, 400, "username"),
        ({"id": "directory", "action": "search", "username": "a\x00b"}, 400, None),
        ({"id": "nope", "action": "connection"}, 404, "provider"),
        ({"id": "local", "action": "connection"}, 400, "action"),
        ({"id": "corp", "action": "groups", "username": "alice"}, 400, "action"),
        ({"provider": "directory", "action": "connection"}, 400, "provider"),
        ({"provider": {"id": 5}, "action": "connection"}, 404, "provider"),
        ({"action": "connection"}, 400, "provider"),
        ({"id": "directory", "provider": {"id": "directory"}, "action": "connection"}, 400, "provider"),
        ({"id": "directory", "action": "connection", "extra": 1}, 400, "extra"),
    ],
)
def test_hostile_input_is_a_400_never_a_500(admin, body, status, field):
    response = _diagnose(admin, **body)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    if field:
        assert response.json().get("field") == field, response.json()


def test_a_body_that_is_not_json_is_refused(admin):
    response = admin.post(
        "/providers/diagnose", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_diagnostics_are_audited_without_secrets(admin):
    _diagnose(admin, id="directory", action="groups", username="carol")
    items = admin.get("/audit", params={"event": "provider_diagnostic", "limit": 50}).json()["items"]
    latest = items[0]
    assert latest["actor"] == "admin" and latest["provider"] == "directory" and latest["username"] == "carol"
    assert latest["detail"]["action"] == "groups"
    export = admin.get("/audit/export", params={"format": "jsonl"}).text
    assert data.SERVICE_PASSWORD not in export and "corp-Secret-not-shown" not in export


# -- group warnings -------------------------------------------------------------------------------


def _rule(name: str, match: dict) -> dict:
    return {"name": name, "match": match, "roles": ["pilot"]}


@pytest.mark.parametrize(
    "match, warned",
    [
        ({"group": "drone-pilotz"}, "No user has group 'drone-pilotz' and the directory does not know it"),
        ({"group": "drone-pilots"}, None),  # alice has it
        ({"group": "developers"}, None),  # the directory knows it
        ({"group": f"cn=staff,{data.GROUPS_DN}"}, None),  # by DN
        ({"group": "Drone-Pilots"}, "but 'drone-pilots' exists: rules compare group names exactly"),
        ({"group": "Drone-Pilots", "case_insensitive": True}, None),
    ],
)
def test_a_rule_naming_an_unknown_group_is_saved_with_a_warning(gateway, admin, match, warned):
    admin_rule = {"name": "admins", "match": {"username": "admin"}, "roles": ["admin"]}
    assert admin.put("/mapping", json={"document": {"rules": [admin_rule]}}).status_code == 200
    dry = admin.post("/mapping/dry-run", json={"document": {"rules": [admin_rule, _rule("pilots", match)]}})
    added = admin.post("/mapping/rules", json={"rule": _rule("pilots", match)})
    assert added.status_code == 201, added.text
    for answer in (added.json(), dry.json()):
        if warned is None:
            assert answer["warnings"] == []
        else:
            assert len(answer["warnings"]) == 1 and warned in answer["warnings"][0]
    # Saving still worked.
    assert [rule["name"] for rule in admin.get("/mapping").json()["document"]["rules"]] == [
        "admins",
        "pilots",
    ]


def test_the_rules_page_shows_the_warning_in_the_preview_and_after_saving(gateway, admin):
    admin_rule = {"name": "admins", "match": {"username": "admin"}, "roles": ["admin"]}
    assert admin.put("/mapping", json={"document": {"rules": [admin_rule]}}).status_code == 200
    browser = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = browser.get(f"{gateway.url}/admin/rules", timeout=30)
    form = {
        "csrf_token": CSRF.search(page.text).group(1),
        "name": "typo",
        "kind": "grant",
        "who": "group",
        "values": "drone-pilotz",
        "roles": "pilot",
        "expected_version": str(admin.get("/mapping").json()["version"]),
    }
    preview = browser.post(f"{gateway.url}/admin/rules/add", data={**form, "action": "preview"}, timeout=30)
    assert preview.status_code == 200, preview.text
    assert 'id="preview-warnings"' in preview.text and "drone-pilotz" in preview.text
    saved = browser.post(f"{gateway.url}/admin/rules/add", data=form, timeout=30, allow_redirects=False)
    assert saved.status_code == 303 and "warned=1" in saved.headers["Location"]
    after = browser.get(f"{gateway.url}{saved.headers['Location']}", timeout=30)
    assert 'id="group-warnings"' in after.text and "check the spelling" in after.text
    # The query only names which rule to check: the page recomputes the warning itself.
    assert 'id="group-warnings"' not in browser.get(f"{gateway.url}/admin/rules?warned=0", timeout=30).text


def test_previewing_an_edit_of_a_rule_warns_about_its_groups_already_saved(gateway, admin):
    admin_rule = {"name": "admins", "match": {"username": "admin"}, "roles": ["admin"]}
    typo = _rule("typo", {"group": "drone-pilotz"})
    assert admin.put("/mapping", json={"document": {"rules": [admin_rule, typo]}}).status_code == 200
    browser = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = browser.get(f"{gateway.url}/admin/rules/typo", timeout=30)
    form = {
        "csrf_token": CSRF.search(page.text).group(1),
        "rule": "name: typo\nmatch: {group: drone-pilotz}\nroles: [pilot, viewer]\n",
        "action": "preview",
        "expected_version": str(admin.get("/mapping").json()["version"]),
    }
    preview = browser.post(f"{gateway.url}/admin/rules/typo", data=form, timeout=30)
    assert preview.status_code == 200, preview.text
    assert 'id="preview-warnings"' in preview.text and "drone-pilotz" in preview.text


# -- the providers page ---------------------------------------------------------------------------


def test_the_providers_page_forms_need_csrf_and_refuse_bad_input(gateway):
    browser = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = browser.get(f"{gateway.url}/admin/providers", timeout=30)
    for button in (
        "diag-directory-connection",
        "diag-directory-search",
        "diag-directory-groups",
        "diag-corp-discovery",
    ):
        assert f'id="{button}"' in page.text
    assert 'id="diag-local-connection"' not in page.text
    token = CSRF.search(page.text).group(1)
    url = f"{gateway.url}/admin/providers/diagnose"
    no_csrf = browser.post(url, data={"provider": "directory", "action": "connection"}, timeout=30)
    assert no_csrf.status_code in (400, 403)
    empty = browser.post(
        url, data={"csrf_token": token, "provider": "directory", "action": "search"}, timeout=30
    )
    assert empty.status_code == 400 and "enter the username" in empty.text.lower()
    unknown = browser.post(
        url, data={"csrf_token": token, "provider": "<script>", "action": "connection"}, timeout=30
    )
    assert unknown.status_code == 404 and "<script>" not in unknown.text
    found = browser.post(
        url,
        data={"csrf_token": token, "provider": "directory", "action": "search", "username": "*)(uid=*"},
        timeout=30,
    )
    assert found.status_code == 200 and "(uid=\\2a\\29\\28uid=\\2a)" in found.text


def test_an_admin_checks_providers_in_a_browser(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD, path="/login?next=/admin/providers")
    page.wait_for_url(f"{gateway.url}/admin/providers")
    page.click("#diag-directory-connection")
    page.wait_for_load_state()
    assert "Test connection" in page.text_content("#diag-result-heading")
    assert "service account" in page.text_content("#diag-result")
    page.fill("#diag-directory-username", "alice")
    page.click("#diag-directory-search")
    page.wait_for_load_state()
    assert "(uid=alice)" in page.text_content("#diag-filter")
    assert data.ALICE_DN in page.text_content("#diag-result")
    page.fill("#diag-directory-username", "alice")
    page.click("#diag-directory-groups")
    page.wait_for_load_state()
    table = page.text_content("#diag-groups")
    assert "developers → engineering → staff" in table and "member_uid" in table
    assert "Roles" in page.text_content("#diag-preview")
    assert page.is_visible("#diag-corp-copy")  # the copy button shows once copy.js runs
    assert page.text_content("#diag-corp-redirect").strip().endswith("/sso/callback/corp")
    page.locator("#diag-result").scroll_into_view_if_needed()
    shoot(page, "50-provider-groups")
    page.click("#diag-corp-discovery")
    page.wait_for_load_state()
    assert "Discovery" in page.text_content("#diag-result-heading")
    assert "jwks" in page.text_content("#diag-checks")
    shoot(page, "51-provider-discovery")


def test_diagnostics_are_rate_limited_per_admin(admin):
    statuses = [_diagnose(admin, id="offline", action="connection").status_code for _ in range(35)]
    assert statuses[0] == 200 and statuses[-1] == 429
    limited = _diagnose(admin, id="offline", action="connection")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
