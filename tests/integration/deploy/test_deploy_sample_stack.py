"""The compose sample stack (deploy/compose) without Docker: the same pieces on loopback.

A real slapd holding the sample directory (deploy/compose/ldap/*.ldif, added online the way
the openldap image loads it, under the image's base entry and read-only service account),
PostgreSQL and Redis, and the gateway under gunicorn with deploy/gunicorn.conf.py and
deploy/compose/gateway.yaml. The users documented in the LDIF get the answers documented
there, and deploy/healthcheck.py (the image's HEALTHCHECK) sees the gateway as healthy. The
admin-group example (bob) ships without a password: no public sample credential is an admin.
"""

from __future__ import annotations

import runpy

import pytest

from tests.support.harness import ADMIN_PASSWORD, start_gateway
from tests.support.ldapdata import Dataset, ssha
from tests.support.ldapserver import SlapdServer
from tests.support.paths import REPO_ROOT
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

ROOT = REPO_ROOT
COMPOSE = ROOT / "deploy" / "compose"
BASE = "dc=example,dc=org"
SERVICE_DN = f"cn=gateway,{BASE}"  # LDAP_READONLY_USER_USERNAME=gateway
SERVICE_PASSWORD = "readonly-Secret-pw-1"

# What the LDIF's header promises for each sample user (None: no password is shipped).
EXPECTED = {
    "alice": ("alice-demo-Pass-2024", ["pilot"], 51200),
    "bob": (None, ["admin"], None),
    "carol": ("carol-demo-Pass-2024", ["pilot", "surveyor"], 51200),
    "dave": ("dave-demo-Pass-2024", [], 5120),
}
SAMPLE_LDIF = COMPOSE / "ldap" / "50-sample-directory.ldif"


def ldif_header() -> str:
    header = SAMPLE_LDIF.read_text().split("\ndn:", 1)[0]
    while "  " in header:
        header = header.replace("  ", " ")
    return header


@pytest.fixture(scope="module")
def sample_directory(tmp_path_factory):
    dataset = Dataset(
        suffix=BASE, service_dn=SERVICE_DN, service_password=SERVICE_PASSWORD, name="compose-sample"
    )
    # What osixia/openldap creates itself before it loads the custom LDIF files.
    dataset.add(
        BASE, {"objectClass": ["top", "dcObject", "organization"], "dc": "example", "o": "Example Drones"}
    )
    dataset.add(
        SERVICE_DN,
        {"objectClass": ["top", "organizationalRole", "simpleSecurityObject"], "cn": "gateway"},
        password=SERVICE_PASSWORD,
    )
    server = SlapdServer.start(tmp_path_factory.mktemp("sample-slapd"), dataset=dataset)
    try:
        for ldif in sorted((COMPOSE / "ldap").glob("*.ldif")):
            server.add_ldif(ldif.read_text())
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gateway(sample_directory, postgres_server, redis_server, tmp_path_factory):
    config = (COMPOSE / "gateway.yaml").read_text()
    assert config.count("ldap://openldap:389") == 1
    config = config.replace("ldap://openldap:389", sample_directory.url)
    started = start_gateway(
        tmp_path_factory.mktemp("sample-gateway"),
        config,
        users=[],
        database_url=postgres_server.create_database("deploy_sample_stack"),
        redis_url=redis_server.url,
        extra={"LDAP_BIND_PASSWORD": SERVICE_PASSWORD, "GATEWAY_PUBLIC_URL": "http://localhost:8080"},
    )
    yield started
    started.stop()


def _granted(gateway, username: str, password: str, roles: list, quota) -> dict:
    """The gateway's 200 answer for this login, checked for the username, roles and quota."""
    answer = gateway.authenticate(
        {"username": username, "password": password}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["username"] == username and body["roles"] == roles
    assert body.get("maxStorageMB") == quota
    return body


@pytest.mark.parametrize("username", sorted(name for name, expected in EXPECTED.items() if expected[0]))
def test_sample_users_get_the_documented_answer(gateway, username):
    password, roles, quota = EXPECTED[username]
    assert f"{username} / {password} /" in ldif_header()
    assert "admin" not in roles  # a public password never grants admin
    body = _granted(gateway, username, password, roles, quota)
    assert body["email"] == f"{username}@example.org"


def test_the_admin_group_example_signs_in_only_with_a_password_of_your_own(gateway, sample_directory):
    username = "bob"
    _, roles, quota = EXPECTED[username]
    assert f"{username} / no password /" in ldif_header()
    # As shipped, no password opens the account: not the one the sample used to publish, not an
    # empty one (which would be an anonymous bind).
    for guess in ("bob-demo-Pass-2024", ""):
        answer = gateway.authenticate({"username": username, "password": guess})
        assert answer.status_code in (400, 401), (guess, answer.status_code, answer.text)
    # What the LDIF's header tells you to do (ldappasswd as the directory admin), then sign in.
    own = "bob-own-Secret-pw-7"
    sample_directory.modify_ldif(
        f"dn: uid={username},ou=people,{BASE}\nchangetype: modify\n"
        f"replace: userPassword\nuserPassword: {ssha(own, salt=b'own-salt')}\n"
    )
    _granted(gateway, username, own, roles, quota)


def test_a_wrong_sample_password_is_refused(gateway):
    answer = gateway.authenticate({"username": "alice", "password": "not-the-demo-password"})
    assert answer.status_code == 401


def test_the_local_admin_is_the_registry_admin_without_a_quota(gateway):
    answer = gateway.authenticate({"username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["roles"] == ["admin"] and "maxStorageMB" not in answer.json()


def test_the_image_healthcheck_sees_the_gateway(gateway, monkeypatch):
    healthcheck = runpy.run_path(str(ROOT / "deploy" / "healthcheck.py"))
    monkeypatch.setenv("GATEWAY_BIND", f"0.0.0.0:{gateway.server.port}")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # never used for the local check
    assert healthcheck["main"](["healthcheck.py"]) == 0
    assert healthcheck["main"](["healthcheck.py", "/readyz"]) == 0
    assert healthcheck["main"](["healthcheck.py", "/readyz", "15"]) == 0  # as compose.yaml asks
    monkeypatch.setenv("GATEWAY_BIND", f"0.0.0.0:{free_port()}")
    assert healthcheck["main"](["healthcheck.py"]) == 1
