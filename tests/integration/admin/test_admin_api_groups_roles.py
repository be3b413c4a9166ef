"""The admin groups and roles APIs over HTTP against the gateway under gunicorn: shapes,
validation that names the field, who may call, the "never leave no admin" rule for group
changes, and the role catalogue next to the mapping policy in force."""

from __future__ import annotations

import dataclasses
import time

import pytest
import requests

from gateway.admin.errors import AdminError
from tests.support.adminapi import PASSWORD, AdminClient, registry_answer, start_admin_gateway

pytestmark = pytest.mark.integration

POLICY = {
    "rules": [
        {"name": "admins", "match": {"group": "drone-admins"}, "roles": ["admin"]},
        {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"]},
        {"name": "north", "match": {"group": "survey-north"}, "roles": ["surveyor", "pilot"]},
    ]
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("admin-groups-roles"))
    services = gateway.services()
    try:
        services.policies.save(POLICY, by="test")
    finally:
        services.close()
    admin = AdminClient.login(gateway.url)
    # The gateway re-reads the stored policy at most once a second.
    wait_until(lambda: "pilots" in _granted_by(admin, "pilot"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


@pytest.fixture(scope="module")
def alice(gateway):
    return AdminClient.login(gateway.url, "alice", PASSWORD)


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _granted_by(client: AdminClient, role: str) -> list[str]:
    found = [r for r in client.get("/roles").json() if r["name"] == role]
    return found[0]["grantedBy"] if found else []


def _in_process(gateway, work):
    services = gateway.services()
    try:
        return work(services)
    finally:
        services.close()


# -- who may call ---------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/groups"),
    ("POST", "/groups"),
    ("GET", "/groups/drone-pilots"),
    ("DELETE", "/groups/drone-pilots"),
    ("PUT", "/groups/drone-pilots/members/carol"),
    ("DELETE", "/groups/drone-pilots/members/alice"),
    ("GET", "/users/roles"),
    ("POST", "/users/roles"),
    ("DELETE", "/users/roles/pilot"),
    ("GET", "/roles"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_routes_need_a_token_and_the_admin_role(gateway, alice, method, path):
    anonymous = requests.request(method, f"{gateway.url}/admin/api{path}", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    refused = alice.request(method, path, json={"name": "x", "roleName": "x"})
    assert refused.status_code == 403 and refused.json() == {"error": "this needs the admin role"}


def test_every_route_is_in_the_openapi_document(gateway):
    paths = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()["paths"]
    expected = {
        "/admin/api/groups": {"get", "post"},
        "/admin/api/groups/{name}": {"get", "delete"},
        "/admin/api/groups/{name}/members/{username}": {"put", "delete"},
        "/admin/api/users/roles": {"get", "post"},
        "/admin/api/users/roles/{name}": {"delete"},
        "/admin/api/roles": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path


# -- groups ---------------------------------------------------------------------------------


def test_groups_are_listed_with_their_members(admin):
    response = admin.get("/groups")
    assert response.status_code == 200
    groups = {group["name"]: group for group in response.json()}
    assert groups["drone-pilots"]["members"] == ["alice"]
    assert groups["drone-admins"]["members"] == ["bob"]
    assert set(groups["drone-pilots"]) == {"name", "description", "members", "createdAt"}
    assert groups["drone-pilots"]["createdAt"].endswith("+00:00")


def test_a_group_is_created_filled_emptied_and_deleted(gateway, admin):
    created = admin.post("/groups", json={"name": "survey-north", "description": "North team"})
    assert created.status_code == 201
    assert created.json()["name"] == "survey-north" and created.json()["members"] == []
    assert created.json()["description"] == "North team"
    assert admin.get("/groups/survey-north").json() == created.json()

    added = admin.put("/groups/survey-north/members/alice")
    assert added.status_code == 200 and added.json()["members"] == ["alice"]
    assert admin.put("/groups/survey-north/members/alice").json()["members"] == ["alice"]
    # The membership is what the rules see at once: the Registry's answer gains the role.
    answer = registry_answer(gateway, username="alice", password=PASSWORD).json()
    assert answer["roles"] == ["pilot", "surveyor"]

    assert admin.delete("/groups/survey-north/members/carol").status_code == 404
    removed = admin.delete("/groups/survey-north/members/alice")
    assert removed.status_code == 200 and removed.json()["members"] == []
    answer = registry_answer(gateway, username="alice", password=PASSWORD).json()
    assert answer["roles"] == ["pilot"]

    assert admin.delete("/groups/survey-north").status_code == 204
    assert admin.get("/groups/survey-north").status_code == 404
    assert admin.delete("/groups/survey-north").status_code == 404


def test_deleting_a_group_keeps_its_members(admin):
    assert admin.post("/groups", data={"name": "short-lived"}).status_code == 201  # a form too
    admin.put("/groups/short-lived/members/carol")
    assert admin.delete("/groups/short-lived").status_code == 204
    carol = admin.get("/users/carol").json()
    assert carol["userName"] == "carol" and "short-lived" not in carol["groups"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "bad name"}, "name"),
        ({"name": "-leading"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok\n"}, "name"),
        ({}, "name"),
        ({"name": 7}, "name"),
        ({"name": "fine", "colour": "red"}, "colour"),
        ({"name": "fine", "description": "d" * 501}, "description"),
    ],
)
def test_group_creation_validation_names_the_field(admin, payload, field):
    response = admin.post("/groups", json=payload)
    assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_a_duplicate_group_is_a_409(admin):
    response = admin.post("/groups", json={"name": "drone-pilots"})
    assert response.status_code == 409 and response.json()["field"] == "name"
    assert "already exists" in response.json()["error"]


def test_a_group_name_in_another_case_is_a_409_naming_the_existing_one(admin):
    response = admin.post("/groups", json={"name": "Drone-Pilots"})
    assert response.status_code == 409 and response.json()["field"] == "name", response.text
    assert "'drone-pilots' already exists" in response.json()["error"]
    assert admin.get("/groups/Drone-Pilots").status_code == 404


def test_membership_needs_a_known_group_and_user(admin):
    assert admin.put("/groups/no-such-group/members/alice").status_code == 404
    assert admin.put("/groups/drone-pilots/members/nobody").status_code == 404
    assert admin.delete("/groups/no-such-group/members/alice").status_code == 404
    assert admin.get("/groups/not%20a%20name").status_code == 404


def test_group_changes_are_audited_with_the_actor(admin):
    admin.post("/groups", json={"name": "audited-team"})
    admin.put("/groups/audited-team/members/carol")
    admin.delete("/groups/audited-team/members/carol")
    admin.delete("/groups/audited-team")
    items = admin.get("/audit", params={"actor": "admin", "limit": 50}).json()["items"]
    seen = [(e["event"], e["username"]) for e in items if e["detail"].get("group") == "audited-team"]
    assert seen == [
        ("group_deleted", None),
        ("group_member_removed", "carol"),
        ("group_member_added", "carol"),
        ("group_created", None),
    ]


def test_no_group_change_may_leave_the_gateway_without_an_admin(gateway, admin):
    """bob is an admin through drone-admins (the "admins" rule); once the local admin loses
    its per-user admin role, bob is the only admin: neither removing him from the group nor
    deleting the group may go through, until someone else is in it."""
    bob = AdminClient.login(gateway.url, "bob", PASSWORD)
    assert bob.get("/me").json()["admin"] is True
    assert bob.put("/users/admin", json={"roles": []}).status_code == 200
    try:
        assert admin.get("/groups").status_code == 403  # demoted at once
        refused = bob.delete("/groups/drone-admins/members/bob")
        assert refused.status_code == 409 and "no enabled admin" in refused.json()["error"]
        assert bob.delete("/groups/drone-admins").status_code == 409
        assert bob.get("/groups/drone-admins").json()["members"] == ["bob"]

        assert bob.put("/groups/drone-admins/members/carol").status_code == 200
        assert bob.delete("/groups/drone-admins/members/bob").status_code == 200
        assert bob.get("/groups").status_code == 403  # bob is no admin any more
    finally:
        carol = AdminClient.login(gateway.url, "carol", PASSWORD)
        assert carol.put("/users/admin", json={"roles": ["admin"]}).status_code == 200
    assert admin.put("/groups/drone-admins/members/bob").status_code == 200
    assert admin.delete("/groups/drone-admins/members/carol").status_code == 200
    assert admin.get("/groups/drone-admins").json()["members"] == ["bob"]


def test_without_a_local_provider_group_changes_are_a_409(gateway):
    def attempt(services):
        groups = dataclasses.replace(services, local_users=None).admin_groups()
        with pytest.raises(AdminError) as refused:
            groups.list()
        return refused.value

    refused = _in_process(gateway, attempt)
    assert refused.status == 409 and "no local provider" in refused.message


# -- roles ----------------------------------------------------------------------------------


def test_role_names_in_the_registrys_shape(admin):
    response = admin.get("/users/roles")
    assert response.status_code == 200
    names = response.json()
    assert all(isinstance(name, str) for name in names)
    assert {"admin", "pilot", "surveyor"} <= set(names) and names == sorted(names)
    # /users/roles is not taken for a user called "roles", and users still resolve.
    assert admin.get("/users/alice").json()["userName"] == "alice"


def test_roles_in_detail_say_what_grants_them(admin):
    roles = {role["name"]: role for role in admin.get("/roles").json()}
    assert roles["admin"]["protected"] is True and roles["admin"]["grantedBy"] == ["admins"]
    assert roles["pilot"]["grantedBy"] == ["pilots", "north"]
    assert roles["pilot"]["protected"] is False and roles["pilot"]["createdAt"] is None


def test_a_role_is_created_and_deleted(admin):
    created = admin.post("/users/roles", json={"roleName": "inspector", "description": "Reads everything"})
    assert created.status_code == 201
    assert created.json()["name"] == "inspector" and created.json()["grantedBy"] == []
    assert created.json()["description"] == "Reads everything" and created.json()["createdAt"]
    assert "inspector" in admin.get("/users/roles").json()
    # The Registry's clients send a form.
    assert admin.post("/users/roles", data={"roleName": "viewer"}).status_code == 201

    duplicate = admin.post("/users/roles", json={"roleName": "inspector"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "roleName"

    deleted = admin.delete("/users/roles/inspector")
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": "inspector", "warnings": []}
    assert "inspector" not in admin.get("/users/roles").json()
    assert admin.delete("/users/roles/inspector").status_code == 404
    assert admin.delete("/users/roles/viewer").status_code == 200


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"roleName": "two words"}, "roleName"),
        ({"roleName": ""}, "roleName"),
        ({}, "roleName"),
        ({"roleName": "r" * 65}, "roleName"),
        ({"roleName": "ok", "extra": 1}, "extra"),
        ({"roleName": "ok", "description": "d" * 501}, "description"),
    ],
)
def test_role_validation_names_the_field(admin, payload, field):
    response = admin.post("/users/roles", json=payload)
    assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_the_admin_role_cannot_be_deleted(admin):
    for query in ({}, {"force": "true"}):
        response = admin.delete("/users/roles/admin", params=query)
        assert response.status_code == 409 and "admin role" in response.json()["error"]


def test_a_role_rules_still_grant_is_deleted_only_with_force(admin):
    # The policy names pilot but no row exists yet: creating it gives it a row.
    assert admin.post("/users/roles", json={"roleName": "pilot"}).status_code == 201
    refused = admin.delete("/users/roles/pilot")
    assert refused.status_code == 409
    assert "pilots, north" in refused.json()["error"] and "force=true" in refused.json()["error"]
    assert admin.delete("/users/roles/pilot", params={"force": "maybe"}).json()["field"] == "force"

    forced = admin.delete("/users/roles/pilot", params={"force": "true"})
    assert forced.status_code == 200
    assert forced.json()["deleted"] == "pilot"
    assert any("pilots, north" in warning for warning in forced.json()["warnings"])
    pilot = [r for r in admin.get("/roles").json() if r["name"] == "pilot"][0]
    assert pilot["createdAt"] is None and pilot["grantedBy"] == ["pilots", "north"]


def test_a_direct_per_user_grant_is_a_warning(admin):
    assert admin.post("/users/roles", json={"roleName": "auditor"}).status_code == 201
    assert admin.put("/users/carol", json={"roles": ["auditor"]}).status_code == 200
    try:
        deleted = admin.delete("/users/roles/auditor")
        assert deleted.status_code == 200
        assert deleted.json()["warnings"] == ["granted directly (per-user roles) to: carol"]
    finally:
        admin.put("/users/carol", json={"roles": []})


def test_role_changes_are_audited(admin):
    admin.post("/users/roles", json={"roleName": "temporary"})
    admin.delete("/users/roles/temporary")
    items = admin.get("/audit", params={"actor": "admin", "limit": 100}).json()["items"]
    events = [e["event"] for e in items if e["detail"].get("role") == "temporary"]
    assert events == ["role_deleted", "role_created"]


def test_ensure_adds_only_missing_role_rows(gateway, admin):
    def ensure(services):
        roles = services.admin_roles()
        return roles.ensure(["mapper", "admin", "mapper", "not a role"]), roles.ensure(["mapper"])

    first, second = _in_process(gateway, ensure)
    # "admin" has a row already when the bootstrap admin was created with that role.
    assert first in (["mapper", "admin"], ["mapper"]) and second == []
    roles = {role["name"]: role for role in admin.get("/roles").json()}
    assert roles["mapper"]["createdAt"] is not None and roles["admin"]["createdAt"] is not None
