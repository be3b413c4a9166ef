"""The admin providers API and the self-service ``/me`` API over HTTP against the gateway
under gunicorn, with a real OpenLDAP directory next to the local users (and a second LDAP
provider whose server is down): provider health, trial LDAP logins (throttled, never echoing
the password), and what a person can see and manage for themselves."""

from __future__ import annotations

import pytest
import requests

from tests.support import ldapdata as data
from tests.support.adminapi import ADMIN_PASSWORD, PASSWORD, AdminClient, registry_answer, start_admin_gateway

pytestmark = pytest.mark.integration
LDAP_TIMEOUTS = """
    connect_timeout_seconds: 1
    operation_timeout_seconds: 1
    login_timeout_seconds: 2"""


def _config(directory_url: str) -> str:
    # Local first: the seed users (alice, bob, carol) are local; erin and frank live only in
    # the directory. Port 1 refuses every connection: a directory that is down.
    return f"""
usernames: {{lowercase: true}}
providers:
  - id: local
    type: local
  - id: directory
    type: ldap
    preset: openldap
    servers: ["{directory_url}"]
    bind: {{dn: "{data.SERVICE_DN}", password: "{data.SERVICE_PASSWORD}"}}
    user: {{base: "{data.PEOPLE_DN}", quota_attribute: registryQuotaMB}}
    groups: {{base: "{data.GROUPS_DN}", strategies: [member_of, member_uid]}}{LDAP_TIMEOUTS}
  - id: offline
    type: ldap
    preset: openldap
    servers: ["ldap://127.0.0.1:1"]
    user: {{base: "{data.PEOPLE_DN}"}}
    groups: {{base: "{data.GROUPS_DN}"}}{LDAP_TIMEOUTS}
"""


@pytest.fixture(scope="module")
def gateway(slapd, tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("admin-providers-me"), _config(slapd.url))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


@pytest.fixture(scope="module")
def alice(gateway):
    return AdminClient.login(gateway.url, "alice", PASSWORD)


def _trial(admin: AdminClient, username: str, password: str, provider: str = "directory"):
    return admin.post(f"/providers/{provider}/test-login", json={"username": username, "password": password})


# -- who may call ---------------------------------------------------------------------------


def test_provider_routes_are_for_admins_only(gateway, alice):
    for method, path in (("GET", "/providers"), ("POST", "/providers/directory/test-login")):
        anonymous = requests.request(method, f"{gateway.url}/admin/api{path}", timeout=30)
        assert anonymous.status_code == 401
        assert alice.request(method, path, json={"username": "erin", "password": "x"}).status_code == 403


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/me"),
        ("GET", "/me/app-passwords"),
        ("POST", "/me/app-passwords"),
        ("DELETE", "/me/app-passwords/abcdefabcdef"),
        ("GET", "/me/api-keys"),
        ("POST", "/me/api-keys"),
        ("DELETE", "/me/api-keys/abcdefabcdef"),
    ],
)
def test_me_routes_need_a_sign_in(gateway, method, path):
    response = requests.request(method, f"{gateway.url}/admin/api{path}", timeout=30)
    assert response.status_code == 401 and response.json() == {"error": "authentication required"}


def test_every_route_is_in_the_openapi_document(gateway):
    paths = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()["paths"]
    assert "get" in paths["/admin/api/providers"]
    assert "post" in paths["/admin/api/providers/{provider_id}/test-login"]
    assert "get" in paths["/admin/api/me"]
    for kind in ("app-passwords", "api-keys"):
        assert {"get", "post"} <= set(paths[f"/admin/api/me/{kind}"])
        assert "delete" in paths[f"/admin/api/me/{kind}/{{public_id}}"]
        # /me is for everyone: no 403 for lack of the admin role is documented on listing.
        assert "403" not in paths[f"/admin/api/me/{kind}"]["get"]["responses"]


# -- provider status ------------------------------------------------------------------------


def test_provider_status_reports_each_provider_in_order(admin, slapd):
    response = admin.get("/providers")
    assert response.status_code == 200
    local, directory, offline = response.json()
    assert local == {**local, "id": "local", "type": "local", "healthy": True}
    assert local["detail"] == "local database, 4 users"
    assert directory["id"] == "directory" and directory["type"] == "ldap"
    assert directory["healthy"] is True and directory["detail"] == f"LDAP reachable ({slapd.url})"
    assert offline["id"] == "offline" and offline["healthy"] is False
    assert "no directory server reachable" in offline["detail"]
    assert all(isinstance(p["checkedMs"], int) for p in (local, directory, offline))
    # Bounded by the provider's own timeouts (a 2 s login timeout here).
    assert offline["checkedMs"] < 5000


# -- trial LDAP logins ----------------------------------------------------------------------


def test_a_trial_login_shows_every_step_and_the_answer(admin):
    password = data.password_for("erin")
    response = _trial(admin, "erin", password)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["outcome"] == "success" and result["registryStatus"] == 200
    steps = [step["step"] for step in result["steps"]]
    assert {"server", "search", "bind"} <= set(steps)
    details = " | ".join(step["detail"] for step in result["steps"])
    assert f"found dn={data.ERIN_DN}" in details and "success" in details
    assert result["answer"]["username"] == "erin" and result["answer"]["roles"] == []
    assert password not in response.text


@pytest.mark.parametrize(
    "username, password, outcome, status, hint",
    [
        ("erin", "Not-Erins-Password-1", "wrong_credentials", 401, "refused"),
        ("nobody-here", "Some-Password-1", "no_such_user", 401, "no entry found"),
        ("locked", data.password_for("locked"), "disabled", 403, "refused"),
        ("Erin", "Whatever-Password-1", "non_canonical", 401, "Sign in as 'erin' instead"),
    ],
)
def test_a_trial_login_explains_refusals(admin, username, password, outcome, status, hint):
    response = _trial(admin, username, password)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["outcome"], result["registryStatus"]) == (outcome, status)
    assert result["answer"] is None
    assert any(hint in step["detail"] for step in result["steps"]), result["steps"]
    assert password not in response.text


def test_a_trial_login_at_a_directory_that_is_down_says_so(admin):
    response = _trial(admin, "erin", "Whatever-Password-1", provider="offline")
    assert response.status_code == 200
    result = response.json()
    assert result["outcome"] == "unavailable" and result["registryStatus"] == 503
    assert result["steps"][-1]["step"] == "error"
    # Refused at once or skipped as recently failed (the status check may have tried it).
    detail = result["steps"][-1]["detail"]
    assert "no directory server reachable" in detail or "failed recently" in detail


def test_a_trial_login_is_for_known_ldap_providers(admin):
    local = _trial(admin, "alice", PASSWORD, provider="local")
    assert local.status_code == 400 and local.json()["field"] == "provider"
    assert _trial(admin, "alice", PASSWORD, provider="nope").status_code == 404
    missing = admin.post("/providers/directory/test-login", json={"username": "erin"})
    assert missing.status_code == 400 and missing.json()["field"] == "password"


def test_trial_logins_are_throttled_like_logins(gateway, admin):
    """Otherwise the trial would be a password oracle beside the throttled login."""
    statuses = [_trial(admin, "frank", f"Guess-{i}-password").status_code for i in range(8)]
    assert statuses[0] == 200 and statuses[-1] == 429
    throttled = _trial(admin, "frank", data.password_for("frank"))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    # It is the same count as the account's real logins.
    login = registry_answer(gateway, username="frank", password=data.password_for("frank"))
    assert login.status_code == 429


def test_trial_logins_are_audited_without_the_password(admin):
    _trial(admin, "erin", "Audited-Wrong-Password-7")
    page = admin.get("/audit", params={"event": "provider_test_login", "username": "erin"}).json()
    latest = page["items"][0]
    assert latest["outcome"] == "wrong_credentials" and latest["actor"] == "admin"
    assert latest["provider"] == "directory"
    export = admin.get("/audit/export", params={"format": "jsonl"}).text
    assert "Audited-Wrong-Password-7" not in export and data.password_for("erin") not in export


# -- /me ------------------------------------------------------------------------------------


def test_me_is_what_the_registry_receives(gateway, alice):
    response = alice.get("/me")
    assert response.status_code == 200
    me = response.json()
    assert me["userName"] == "alice" and me["provider"] == "local"
    assert me["admin"] is False and me["denied"] is False
    assert me["roles"] == [] and me["maxStorageMB"] is None
    registry = registry_answer(gateway, username="alice", password=PASSWORD).json()
    assert me["answer"] == registry


def test_me_for_an_admin_and_for_a_directory_user(gateway, admin):
    assert admin.get("/me").json()["admin"] is True
    assert admin.get("/me").json()["roles"] == ["admin"]
    erin = AdminClient.login(gateway.url, "erin", data.password_for("erin"))
    me = erin.get("/me").json()
    assert me["userName"] == "erin" and me["provider"] == "directory"
    registry = registry_answer(gateway, username="erin", password=data.password_for("erin"))
    assert me["answer"] == registry.json()
    assert erin.get("/providers").status_code == 403


def test_app_passwords_are_created_once_used_and_revoked(gateway, alice):
    created = alice.post("/me/app-passwords", json={"name": "laptop", "expiresDays": 30})
    assert created.status_code == 201, created.text
    view = created.json()
    secret = view.pop("secret")
    assert secret.startswith("gwap_") and view["name"] == "laptop"
    assert view["expiresAt"] is not None and view["expired"] is False
    listed = alice.get("/me/app-passwords").json()
    assert [item["id"] for item in listed] == [view["id"]] and "secret" not in listed[0]

    assert registry_answer(gateway, username="alice", password=secret).status_code == 200
    assert alice.delete(f"/me/app-passwords/{view['id']}").status_code == 204
    assert registry_answer(gateway, username="alice", password=secret).status_code == 401
    assert alice.delete(f"/me/app-passwords/{view['id']}").status_code == 404
    assert alice.get("/me/app-passwords").json() == []


def test_one_cannot_revoke_someone_elses_secret(gateway, alice, admin):
    created = admin.post("/me/app-passwords", json={"name": "admin-cli"}).json()
    assert created["expiresAt"] is None
    assert alice.delete(f"/me/app-passwords/{created['id']}").status_code == 404
    assert registry_answer(gateway, username="admin", password=created["secret"]).status_code == 200
    assert admin.delete(f"/me/app-passwords/{created['id']}").status_code == 204


def test_an_api_key_works_until_revoked_and_cannot_make_more(gateway, alice):
    created = alice.post("/me/api-keys", json={"name": "ci"})
    assert created.status_code == 201
    key = created.json()["secret"]
    assert key.startswith("gwak_")
    keyed = AdminClient(gateway.url, key)
    assert keyed.get("/me").json()["userName"] == "alice"
    assert [k["name"] for k in keyed.get("/me/api-keys").json()] == ["ci"]
    refused = keyed.post("/me/api-keys", json={"name": "more"})
    assert refused.status_code == 403 and "API key" in refused.json()["error"]
    assert keyed.post("/me/app-passwords", json={"name": "more"}).status_code == 403
    # An API key is not an app password, nor the other way round.
    assert registry_answer(gateway, username="alice", password=key).status_code == 401

    assert keyed.delete(f"/me/api-keys/{created.json()['id']}").status_code == 204
    assert keyed.get("/me").status_code == 401


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "ok", "expiresDays": 0}, "expiresDays"),
        ({"name": "ok", "expiresDays": 3651}, "expiresDays"),
        ({"name": "ok", "expiresDays": "soon"}, "expiresDays"),
        ({"name": "ok", "x": 1}, "x"),
        ({"name": "   "}, "name"),
    ],
)
def test_secret_validation_names_the_field(alice, payload, field):
    for kind in ("app-passwords", "api-keys"):
        response = alice.post(f"/me/{kind}", json=payload)
        assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_self_service_changes_are_audited_without_secrets(gateway, alice, admin):
    created = alice.post("/me/app-passwords", json={"name": "audited"}).json()
    alice.delete(f"/me/app-passwords/{created['id']}")
    key = alice.post("/me/api-keys", json={"name": "audited"}).json()
    alice.delete(f"/me/api-keys/{key['id']}")
    items = admin.get("/audit", params={"username": "alice", "limit": 20}).json()["items"]
    events = [
        (e["event"], e["detail"].get("app_password") or e["detail"].get("api_key"))
        for e in items
        if e["event"].startswith(("app_password", "api_key"))
    ][:4]
    assert events == [
        ("api_key_revoked", key["id"]),
        ("api_key_created", key["id"]),
        ("app_password_revoked", created["id"]),
        ("app_password_created", created["id"]),
    ]
    export = admin.get("/audit/export", params={"format": "csv"}).text
    assert created["secret"] not in export and key["secret"] not in export
    assert ADMIN_PASSWORD not in export and PASSWORD not in export
