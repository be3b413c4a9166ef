"""The mapping admin API over HTTP against the gateway under gunicorn: saving whole policies
and single rules changes what the Registry's contract endpoint answers, explanations carry the
exact answer, a dry run saves nothing, and the refusals (invalid, stale, lock-out, file mode,
not an admin) say why."""

from __future__ import annotations

import json

import pytest
import requests

from providers.base import Identity
from tests.support.adminapi import ADMIN_PASSWORD, PASSWORD, AdminClient, registry_answer, start_admin_gateway
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration

PILOTS = {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 51200}
ADMINS = {
    "name": "admins",
    "match": {"group": "drone-admins"},
    "roles": ["admin"],
    "maxStorageMB": "unlimited",
}
PILOTS_ONLY = {"name": "pilots-only", "require": {"group": "drone-pilots"}}
ALICE_BEFORE = {"username": "alice", "roles": [], "email": "alice@example.org"}
ALICE_PILOT = {"username": "alice", "roles": ["pilot"], "maxStorageMB": 51200, "email": "alice@example.org"}

FILE_CONFIG = """
usernames: {lowercase: true}
mapping:
  rules:
    - name: pilots
      match: {group: drone-pilots}
      roles: [pilot]
      maxStorageMB: 51200
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("admin-mapping"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


@pytest.fixture(autouse=True)
def empty_policy(request):
    """Every test starts from the empty policy (tests that need no gateway are left alone)."""
    if "admin" in request.fixturenames:
        client = request.getfixturevalue("admin")
        assert client.put("/mapping", json={"document": {}}).status_code == 200
    yield


def alice_gets(gateway, expected):
    """Wait until the contract endpoint answers alice with ``expected`` (each worker picks up a
    saved policy within its refresh interval, later on a loaded machine)."""

    def answered():
        response = registry_answer(gateway, username="alice", password=PASSWORD)
        return response.status_code == 200 and response.json() == expected

    wait_for(answered, timeout=30, interval=0.1, message=f"alice was not answered {expected} within 30 s")


def version(admin) -> int:
    return admin.get("/mapping").json()["version"]


def db_scalars(gateway, sql: str) -> list:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            return connection.exec_driver_sql(sql).scalars().all()
    finally:
        services.close()


def audited_changes(gateway, count: int) -> list[dict]:
    """The details of the newest ``count`` mapping_changed events, newest first."""
    rows = db_scalars(
        gateway,
        f"select detail from audit_events where event = 'mapping_changed' order by id desc limit {count}",
    )
    return [row if isinstance(row, dict) else json.loads(row) for row in rows]


# -- reading and saving the whole policy ----------------------------------------------------------


def test_get_shows_the_database_policy_its_version_and_etag(admin):
    response = admin.get("/mapping")
    assert response.status_code == 200
    state = response.json()
    assert state["source"] == "database" and state["editable"] is True
    assert state["document"] == {} and type(state["version"]) is int
    assert state["updatedBy"] == "admin" and state["updatedAt"].endswith("+00:00")
    assert response.headers["ETag"] == f'"{state["version"]}"'


def test_saving_a_rule_changes_what_the_registry_receives(gateway, admin):
    alice_gets(gateway, ALICE_BEFORE)
    before = version(admin)
    response = admin.put("/mapping", json={"document": {"rules": [PILOTS]}, "expectedVersion": before})
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["version"] == before + 1 and state["document"] == {"rules": [PILOTS]}
    assert state["updatedBy"] == "admin" and response.headers["ETag"] == f'"{before + 1}"'
    alice_gets(gateway, ALICE_PILOT)
    assert type(registry_answer(gateway, username="alice", password=PASSWORD).json()["maxStorageMB"]) is int
    assert "pilot" in db_scalars(gateway, "select name from roles")


def test_a_save_is_audited_without_the_document(gateway, admin):
    saved = admin.put("/mapping", json={"document": {"rules": [PILOTS, ADMINS]}}).json()
    detail = audited_changes(gateway, 1)[0]
    assert detail["actor"] == "admin" and detail["version"] == saved["version"]
    assert detail["rules"] == 2 and detail["change"] == "document"
    assert "drone-pilots" not in str(detail)


def test_if_match_works_like_expected_version(admin):
    current = version(admin)
    stale = admin.put(
        "/mapping", json={"document": {"rules": [PILOTS]}}, headers={"If-Match": f'"{current - 1}"'}
    )
    assert stale.status_code == 409 and stale.json()["field"] == "expectedVersion"
    fresh = admin.put(
        "/mapping", json={"document": {"rules": [PILOTS]}}, headers={"If-Match": f'"{current}"'}
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == current + 1
    mismatch = admin.put(
        "/mapping", json={"document": {}, "expectedVersion": current + 1}, headers={"If-Match": '"1"'}
    )
    assert mismatch.status_code == 400


def test_a_stale_expected_version_is_a_409_and_nothing_is_saved(gateway, admin):
    current = version(admin)
    assert (
        admin.put("/mapping", json={"document": {"rules": [PILOTS]}, "expectedVersion": current}).status_code
        == 200
    )
    stale = admin.put("/mapping", json={"document": {}, "expectedVersion": current})
    assert stale.status_code == 409
    assert f"version {current}" in stale.json()["error"]
    assert admin.get("/mapping").json()["document"] == {"rules": [PILOTS]}
    alice_gets(gateway, ALICE_PILOT)


@pytest.mark.parametrize(
    "document, field",
    [
        ({"rules": [{"name": "x", "match": {"group": "g"}, "roles": "pilot"}]}, "rules[0].roles"),
        ({"rules": [PILOTS, {**PILOTS, "maxStorageMB": 51200.0, "name": "q"}]}, "rules[1].maxStorageMB"),
        ({"rules": [PILOTS, PILOTS]}, "rules[1].name"),
        ({"default_roles": ["bad role"]}, "default_roles[0]"),
        ({"rulez": []}, "rulez"),
    ],
)
def test_an_invalid_document_is_refused_naming_the_field(admin, document, field):
    before = version(admin)
    response = admin.put("/mapping", json={"document": document})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and response.json()["error"].startswith(field)
    assert version(admin) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"document": []}, "document"),
        ({"document": {}, "doc": {}}, "doc"),
        ({}, "document"),
        ({"document": {}, "expectedVersion": "3"}, "expectedVersion"),
    ],
)
def test_a_malformed_envelope_is_refused_naming_the_field(admin, body, field):
    response = admin.put("/mapping", json=body)
    assert response.status_code == 400 and response.json()["field"] == field


def test_a_policy_that_leaves_no_admin_is_refused(gateway, admin):
    before = version(admin)
    response = admin.put("/mapping", json={"document": {"rules": [PILOTS_ONLY]}})
    assert response.status_code == 409
    assert "'admin' role" in response.json()["error"]
    assert version(admin) == before
    # The same gate with the admin allowed through is fine.
    admit_admin = {"name": "admin-only", "require": {"username": "admin"}}
    assert admin.put("/mapping", json={"document": {"rules": [admit_admin]}}).status_code == 200
    assert registry_answer(gateway, username="admin", password=ADMIN_PASSWORD).status_code == 200


# -- rule by rule -------------------------------------------------------------------------------


def test_rules_are_added_replaced_moved_and_deleted(gateway, admin):
    added = admin.post("/mapping/rules", json={"rule": PILOTS})
    assert added.status_code == 201 and added.json()["document"]["rules"] == [PILOTS]
    alice_gets(gateway, ALICE_PILOT)

    first = admin.post(
        "/mapping/rules", json={"rule": ADMINS, "position": 0, "expectedVersion": added.json()["version"]}
    )
    assert [r["name"] for r in first.json()["document"]["rules"]] == ["admins", "pilots"]

    replaced = admin.put(
        "/mapping/rules/pilots",
        json={"rule": {"match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 1000}},
    )
    assert replaced.status_code == 200
    assert replaced.json()["document"]["rules"][1] == {
        "name": "pilots",
        **{"match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 1000},
    }
    alice_gets(gateway, {**ALICE_PILOT, "maxStorageMB": 1000})

    moved = admin.post("/mapping/rules/pilots/move", json={"position": 0})
    assert [r["name"] for r in moved.json()["document"]["rules"]] == ["pilots", "admins"]

    deleted = admin.delete("/mapping/rules/pilots", params={"expectedVersion": moved.json()["version"]})
    assert deleted.status_code == 200
    assert [r["name"] for r in deleted.json()["document"]["rules"]] == ["admins"]
    alice_gets(gateway, ALICE_BEFORE)
    changes = [(d["change"], d.get("rule")) for d in audited_changes(gateway, 5)]
    assert changes == [
        ("rule_deleted", "pilots"),
        ("rule_moved", "pilots"),
        ("rule_replaced", "pilots"),
        ("rule_added", "admins"),
        ("rule_added", "pilots"),
    ]


def test_a_rule_quota_in_gigabytes_is_saved_and_answered_as_integer_megabytes(gateway, admin):
    added = admin.post("/mapping/rules", json={"rule": {**PILOTS, "maxStorageMB": "50 GB"}})
    assert added.status_code == 201, added.text
    assert added.json()["document"]["rules"] == [PILOTS]  # stored as 51200
    alice_gets(gateway, ALICE_PILOT)
    answer = registry_answer(gateway, username="alice", password=PASSWORD)
    assert type(answer.json()["maxStorageMB"]) is int
    assert '"maxStorageMB":51200' in answer.text.replace(" ", "")
    refused = admin.put("/mapping/rules/pilots", json={"rule": {**PILOTS, "maxStorageMB": "5 PB"}})
    assert refused.status_code == 400 and refused.json()["field"] == "rule.maxStorageMB"
    assert "MB, GB or TB" in refused.json()["error"]


def test_rule_edits_are_refused_naming_the_field(admin):
    assert admin.post("/mapping/rules", json={"rule": PILOTS}).status_code == 201
    cases = [
        (admin.post, "/mapping/rules", {"rule": PILOTS}, 400, "rule.name"),
        (admin.post, "/mapping/rules", {"rule": {**PILOTS, "name": "p2", "roles": "x"}}, 400, "rule.roles"),
        (admin.post, "/mapping/rules", {"rule": {"name": "p3"}}, 400, "rule"),
        (admin.post, "/mapping/rules", {"rule": {**PILOTS, "name": "p4"}, "position": 5}, 400, "position"),
        (admin.post, "/mapping/rules", {"rule": [1]}, 400, "rule"),
        (admin.put, "/mapping/rules/nope", {"rule": PILOTS}, 404, None),
        (admin.post, "/mapping/rules/nope/move", {"position": 0}, 404, None),
        (admin.post, "/mapping/rules/pilots/move", {"position": 1}, 400, "position"),
        (admin.post, "/mapping/rules/pilots/move", {}, 400, "position"),
        (
            admin.post,
            "/mapping/rules",
            {"rule": {**PILOTS, "name": "p5"}, "expectedVersion": 0},
            409,
            "expectedVersion",
        ),
        (admin.post, "/mapping/rules", {"rule": PILOTS_ONLY}, 409, None),
    ]
    for call, path, body, status, field in cases:
        response = call(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.json().get("field") == field, (path, body, response.json())
    assert admin.delete("/mapping/rules/nope").status_code == 404
    assert admin.delete("/mapping/rules/pilots", params={"expectedVersion": "x"}).status_code == 400
    assert [r["name"] for r in admin.get("/mapping").json()["document"]["rules"]] == ["pilots"]


# -- explanations -------------------------------------------------------------------------------


def test_explain_a_known_user_shows_the_rules_and_the_exact_answer(gateway, admin):
    admin.put("/mapping", json={"document": {"rules": [PILOTS, ADMINS]}})
    alice_gets(gateway, ALICE_PILOT)
    for response in (
        admin.get("/mapping/explain/alice"),
        admin.post("/mapping/explain", json={"userName": "alice"}),
        admin.get("/mapping/explain/ALICE"),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["identitySource"] == "current" and body["enabled"] is True
        assert body["identity"]["userName"] == "alice"
        assert body["identity"]["groups"] == ["drone-pilots"]
        assert body["allowed"] is True and body["denyReason"] is None
        assert [(r["name"], r["kind"], r["matched"]) for r in body["rules"]] == [
            ("pilots", "grant", True),
            ("admins", "grant", False),
        ]
        assert body["rules"][0]["why"] == "group 'drone-pilots' matched"
        assert body["answer"] == ALICE_PILOT
        assert body["maxStorageMB"] == 51200 and type(body["answer"]["maxStorageMB"]) is int
        assert body["text"].startswith("Result: allowed") and "pilots" in body["text"]
    answered = registry_answer(gateway, username="alice", password=PASSWORD).json()
    assert answered == body["answer"]


def test_explain_the_admin_shows_its_override(admin):
    body = admin.get("/mapping/explain/admin").json()
    assert body["answer"]["roles"] == ["admin"]
    assert body["overrides"] == [{"key": "roles", "applied": True, "why": "added ['admin']"}]


def test_explain_a_hypothetical_identity(admin):
    admin.put("/mapping", json={"document": {"rules": [PILOTS, ADMINS]}})
    body = admin.post(
        "/mapping/explain",
        json={
            "provider": "corp-ldap",
            "userName": "Zed",
            "groups": ["drone-pilots", "other"],
            "attributes": {"department": "survey"},
            "email": "zed@example.org",
        },
    ).json()
    assert body["identitySource"] == "hypothetical" and body["enabled"] is None
    assert body["identity"]["provider"] == "corp-ldap" and body["identity"]["userName"] == "zed"
    assert body["identity"]["attributes"] == {"department": "survey"}
    assert body["answer"] == {
        "username": "zed",
        "roles": ["pilot"],
        "maxStorageMB": 51200,
        "email": "zed@example.org",
    }
    nobody = admin.post("/mapping/explain", json={"provider": "local", "userName": "nemo"}).json()
    assert [r["matched"] for r in nobody["rules"]] == [False, False]
    assert nobody["answer"] == {"username": "nemo", "roles": []}
    assert nobody["maxStorageMB"] is None


def test_explain_a_denied_identity_has_no_answer(admin):
    locals_only = {"name": "locals-only", "require": {"provider": "local"}}
    assert admin.put("/mapping", json={"document": {"rules": [locals_only]}}).status_code == 200
    body = admin.post("/mapping/explain", json={"provider": "corp-ldap", "userName": "nemo"}).json()
    assert body["allowed"] is False and body["answer"] is None
    assert "locals-only" in body["denyReason"] and body["rules"][0]["matched"] is False
    assert body["text"].startswith("Result: DENIED")


def test_explain_a_directory_user_from_their_last_login(gateway, admin):
    services = gateway.services()
    try:
        services.accounts.claim(
            Identity(provider="corp-ldap", subject="uuid-lena", username="lena", groups=("drone-pilots",))
        )
    finally:
        services.close()
    admin.put("/mapping", json={"document": {"rules": [PILOTS]}})
    body = admin.get("/mapping/explain/lena").json()
    assert body["identitySource"] == "last login" and body["identity"]["provider"] == "corp-ldap"
    assert body["answer"] == {"username": "lena", "roles": ["pilot"], "maxStorageMB": 51200}


def test_explain_refusals(admin):
    assert admin.get("/mapping/explain/nobody-here").status_code == 404
    assert admin.post("/mapping/explain", json={"userName": "nobody-here"}).status_code == 404
    no_provider = admin.post("/mapping/explain", json={"userName": "x", "groups": ["g"]})
    assert no_provider.status_code == 400 and no_provider.json()["field"] == "provider"
    bad_name = admin.post("/mapping/explain", json={"provider": "local", "userName": "a b"})
    assert bad_name.status_code == 400 and bad_name.json()["field"] == "userName"
    assert admin.post("/mapping/explain", json={}).json()["field"] == "userName"


# -- dry run ------------------------------------------------------------------------------------


def test_a_dry_run_lists_alices_change_and_saves_nothing(gateway, admin):
    before = version(admin)
    response = admin.post("/mapping/dry-run", json={"document": {"rules": [PILOTS]}})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["valid"] is True and result["basedOnVersion"] == before
    changed = {change["userName"]: change for change in result["changes"]}
    assert changed["alice"] == {
        "userName": "alice",
        "before": {"roles": [], "maxStorageMB": None, "allowed": True},
        "after": {"roles": ["pilot"], "maxStorageMB": 51200, "allowed": True},
    }
    assert not {"admin", "bob", "carol"} & changed.keys()  # not in drone-pilots
    assert result["unchanged"] >= 3
    assert result["adminsBefore"] == result["adminsAfter"] == ["admin"]
    assert result["wouldLockOutAdmins"] is False
    assert version(admin) == before
    alice_gets(gateway, ALICE_BEFORE)


def test_a_dry_run_reports_invalid_documents_and_lock_outs(admin):
    invalid = admin.post("/mapping/dry-run", json={"document": {"rules": [{"name": "x"}]}}).json()
    assert invalid["valid"] is False and invalid["field"] == "rules[0]"
    assert invalid["changes"] == []
    locked = admin.post("/mapping/dry-run", json={"document": {"rules": [PILOTS_ONLY]}}).json()
    assert locked["valid"] is True and locked["wouldLockOutAdmins"] is True
    assert locked["adminsAfter"] == []
    denied = {c["userName"]: c["after"]["allowed"] for c in locked["changes"]}
    assert denied["admin"] is False and denied["bob"] is False and "alice" not in denied


def test_a_dry_run_names_roles_not_registered_yet(admin):
    brand_new = {**PILOTS, "roles": ["never-seen-before-role"]}
    result = admin.post("/mapping/dry-run", json={"document": {"rules": [brand_new]}}).json()
    assert result["newRoles"] == ["never-seen-before-role"]


# -- who may call -------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/mapping", None),
    ("PUT", "/mapping", {"document": {}}),
    ("POST", "/mapping/rules", {"rule": PILOTS}),
    ("PUT", "/mapping/rules/pilots", {"rule": PILOTS}),
    ("DELETE", "/mapping/rules/pilots", None),
    ("POST", "/mapping/rules/pilots/move", {"position": 0}),
    ("POST", "/mapping/dry-run", {"document": {}}),
    ("POST", "/mapping/explain", {"userName": "alice"}),
    ("GET", "/mapping/explain/alice", None),
]


def test_no_token_is_401_and_a_non_admin_is_403_on_every_route(gateway):
    anonymous = AdminClient(gateway.url)
    alice = AdminClient.login(gateway.url, "alice", PASSWORD)
    for method, path, body in ROUTES:
        assert anonymous.request(method, path, json=body).status_code == 401, path
        assert alice.request(method, path, json=body).status_code == 403, path


def test_the_openapi_document_describes_every_mapping_route(gateway):
    document = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()
    paths = document["paths"]
    for method, path, _ in ROUTES:
        templated = path.replace("/pilots", "/{name}").replace("/alice", "/{username}")
        assert method.lower() in paths[f"/admin/api{templated}"], (method, path)
    assert {"MappingState", "DryRunResult", "Explanation"} <= set(document["components"]["schemas"])


# -- file mode ----------------------------------------------------------------------------------


def test_in_file_mode_the_policy_is_read_only(tmp_path):
    gateway = start_admin_gateway(tmp_path, FILE_CONFIG)
    try:
        admin = AdminClient.login(gateway.url)
        state = admin.get("/mapping").json()
        assert state["source"] == "file" and state["editable"] is False
        assert state["version"] == 0 and state["document"]["rules"] == [PILOTS]
        for call, path, body in [
            (admin.put, "/mapping", {"document": {}}),
            (admin.post, "/mapping/rules", {"rule": ADMINS}),
            (admin.delete, "/mapping/rules/pilots", None),
        ]:
            response = call(path, json=body)
            assert response.status_code == 409, response.text
            assert "mapping_source: database" in response.json()["error"]
        preview = admin.post("/mapping/dry-run", json={"document": {}}).json()
        assert preview["valid"] is True and preview["changes"][0]["userName"] == "alice"
        assert admin.get("/mapping/explain/alice").json()["answer"] == ALICE_PILOT
        assert registry_answer(gateway, username="alice", password=PASSWORD).json() == ALICE_PILOT
    finally:
        gateway.stop()


# -- several workers ------------------------------------------------------------------------------


def test_two_workers_on_postgresql_agree_at_once_for_editors_and_within_3_s_for_logins(
    tmp_path, postgres_server, redis_server
):
    gateway = start_admin_gateway(
        tmp_path,
        database_url=postgres_server.create_database("admin_mapping_workers"),
        redis_url=redis_server.url,
    )
    try:
        admin = AdminClient.login(gateway.url)
        for round_ in range(4):
            quota = 1000 + round_
            saved = admin.put("/mapping", json={"document": {"rules": [{**PILOTS, "maxStorageMB": quota}]}})
            assert saved.status_code == 200, saved.text
            # Whichever worker answers, an editor sees the version just saved (no stale read)
            # and a rule edit based on it is not a spurious conflict.
            assert {admin.get("/mapping").json()["version"] for _ in range(6)} == {saved.json()["version"]}
            extra = admin.post("/mapping/rules", json={"rule": {**ADMINS, "name": f"a{round_}"}})
            assert extra.status_code == 201, extra.text
            alice_gets(gateway, {**ALICE_PILOT, "maxStorageMB": quota})
    finally:
        gateway.stop()
