"""The gateway with an LDAP provider, over HTTP the way the Registry calls, and its CLI.

Directory groups mapped to roles and quotas (by short name and by DN), a directory quota
attribute, injection-like input, outages (503 within the budget, never counted as a failed
attempt), and ``gateway ldap test``.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.cli.test_cli import fails, make_env, run
from tests.support import ldapdata as data
from tests.support.harness import start_gateway
from tests.support.ldapserver import BlackholeServer, SlapdServer
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration


def ldap_config(servers: list[str], **extra: str) -> str:
    listed = ", ".join(f'"{url}"' for url in servers)
    return f"""
providers:
  - id: directory
    type: ldap
    preset: openldap
    servers: [{listed}]
    bind:
      dn: "{data.SERVICE_DN}"
      password: "{data.SERVICE_PASSWORD}"
    user:
      base: "{data.PEOPLE_DN}"
      attributes: {{department: departmentNumber}}
      quota_attribute: registryQuotaMB
    groups:
      base: "{data.GROUPS_DN}"
      strategies: [member_of, member_uid]
    connect_timeout_seconds: 1
    operation_timeout_seconds: 1
    login_timeout_seconds: 2
    retry_dead_after_seconds: 0.2
  - id: local
    type: local
throttle:
  free_failures: {extra.get("free_failures", 5)}
mapping:
  default_roles: []
  expose: [email, department]
  rules:
    - name: admins-by-dn
      match: {{group: "{data.ADMINS_DN}"}}
      roles: [admin]
      maxStorageMB: unlimited
    - name: staff
      match: {{group: staff}}
      roles: [pilot]
      maxStorageMB: 10240
    - name: ops
      match: {{group: ops}}
      roles: [operator]
"""


@pytest.fixture(scope="module")
def gateway(slapd, tmp_path_factory):
    started = start_gateway(
        tmp_path_factory.mktemp("ldap-gateway"), ldap_config([slapd.url], free_failures="1000"), users=[]
    )
    yield started
    started.stop()


def login(gateway, username, password):
    return gateway.authenticate(
        {"username": username, "password": password}, headers={"Accept": "application/json"}
    )


@pytest.mark.parametrize(
    "username, roles, quota",
    [
        (
            "alice",
            ["pilot", "operator"],
            data.ALICE_QUOTA_MB,
        ),  # nested staff + posix ops; attribute quota wins
        ("bob", ["pilot"], 10240),  # nested staff
        ("carol", ["admin"], None),  # matched by DN; unlimited = no key
        ("dave", ["operator"], None),  # posixGroup only
        ("frank", [], None),  # in no group
    ],
)
def test_directory_groups_become_roles_and_integer_quotas(gateway, username, roles, quota):
    response = login(gateway, username, data.password_for(username))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == username and body["roles"] == roles
    assert all(type(role) is str for role in body["roles"])
    if quota is None:
        assert "maxStorageMB" not in body
    else:
        assert body["maxStorageMB"] == quota and type(body["maxStorageMB"]) is int
    assert set(body) <= {"username", "roles", "maxStorageMB", "email", "department"}
    assert data.password_for(username) not in response.text


def test_exposed_directory_attributes(gateway):
    body = login(gateway, "alice", data.password_for("alice")).json()
    assert body["email"] == "alice@example.test" and body["department"] == data.ALICE_DEPARTMENT


@pytest.mark.parametrize("typed", ["MixedCase", "Alice", "ALICE"])
def test_only_the_canonical_spelling_logs_in(gateway, typed):
    assert (
        login(gateway, typed, data.password_for(typed if typed == "MixedCase" else "alice")).status_code
        == 401
    )
    assert login(gateway, "mixedcase", data.password_for("MixedCase")).json()["username"] == "mixedcase"


INJECTIONS = [
    "*",
    "a*",
    "*)(uid=*",
    "x)(objectClass=*",
    "a,ou=admins",
    "nul\x00byte",
    "#lead",
    "alice)(|(uid=*",
    "alice*",
]


@pytest.mark.parametrize("typed", INJECTIONS)
def test_injection_like_usernames_are_plain_401s(gateway, typed):
    reference = login(gateway, "alice", "not-alices-password-1")
    response = login(gateway, typed, data.password_for("alice"))
    assert response.status_code == 401 and response.content == reference.content


@pytest.mark.parametrize("password", ["*", "a*", "*)(uid=*", "x)(objectClass=*", "nul\x00byte", "", " "])
def test_injection_like_and_empty_passwords_are_plain_401s(gateway, password):
    reference = login(gateway, "bob", "not-bobs-password-1")
    response = login(gateway, "bob", password)
    assert response.status_code == 401 and response.content == reference.content


def test_locked_account_is_403_only_with_its_password(gateway):
    assert login(gateway, "locked", data.password_for("locked")).status_code == 403
    assert login(gateway, "locked", "wrong-password-1").status_code == 401


def test_logs_hold_no_directory_passwords(gateway):
    login(gateway, "erin", data.password_for("erin"))
    # Attempt lines are written by a background thread in batches: wait for them.
    wait_for(lambda: "auth attempt" in gateway.server.log_text(), timeout=30)
    logs = gateway.server.log_text()
    for secret in (data.password_for("alice"), data.password_for("erin"), data.SERVICE_PASSWORD):
        assert secret not in logs


# ---- outages -----------------------------------------------------------------------------


def test_a_blackholed_directory_is_a_503_within_the_budget(tmp_path):
    with BlackholeServer.start() as blackhole:
        gateway = start_gateway(tmp_path, ldap_config([blackhole.url]), users=[])
        try:
            started = time.monotonic()
            response = login(gateway, "alice", data.password_for("alice"))
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert set(response.json()) == {"error"} and "Traceback" not in response.text
            assert elapsed < 2 + 1 + 1.0, elapsed  # login timeout + one operation + slack
        finally:
            gateway.stop()


def test_an_outage_is_not_counted_as_failed_logins(tmp_path):
    server = SlapdServer.start(tmp_path / "slapd", dataset=data.openldap_dataset())
    gateway = start_gateway(tmp_path / "gw", ldap_config([server.url], free_failures="1"), users=[])
    try:
        assert login(gateway, "alice", data.password_for("alice")).status_code == 200
        server.stop()
        for _ in range(4):
            assert login(gateway, "alice", data.password_for("alice")).status_code == 503
        server.restart()
        time.sleep(0.3)  # past retry_dead_after
        assert login(gateway, "alice", data.password_for("alice")).status_code == 200  # not throttled
    finally:
        gateway.stop()
        server.stop()


# ---- the operator's tools ----------------------------------------------------------------


@pytest.fixture
def cli_env(slapd, tmp_path):
    return make_env(tmp_path, config=ldap_config([slapd.url]))


def test_ldap_test_prints_every_step_and_the_answer(cli_env):
    result = run(
        cli_env, "ldap", "test", "alice", "--password-stdin", stdin=data.password_for("alice") + "\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "provider:  directory" in out
    assert "(&(objectClass=inetOrgPerson)(uid=alice))" in out
    assert f"found dn={data.ALICE_DN}" in out
    assert "bind:" in out and ": success" in out
    assert f"staff ({data.STAFF_DN}) [nested, depth 2 via {data.ENGINEERING_DN}]" in out
    assert "ops (" in out and "[member_uid]" in out
    answer = json.loads(out.split("Answer:", 1)[1])
    assert answer["username"] == "alice" and answer["roles"] == ["pilot", "operator"]
    assert answer["maxStorageMB"] == data.ALICE_QUOTA_MB
    assert data.password_for("alice") not in out + result.stderr


@pytest.mark.parametrize(
    "username, password, expected",
    [
        ("alice", "wrong-password-1", "wrong_credentials -> the Registry's login gets 401"),
        ("nobody", "some-password-1", "no_such_user -> the Registry's login gets 401"),
        ("locked", data.password_for("locked"), "disabled -> the Registry's login gets 403"),
        ("Alice", "whatever-1", "Sign in as 'alice' instead: this gateway writes usernames in lower case"),
        ("alice", "", "refused before any bind"),
    ],
)
def test_ldap_test_explains_refusals(cli_env, username, password, expected):
    result = run(cli_env, "ldap", "test", username, "--password-stdin", stdin=password + "\n")
    assert result.returncode == 1 and expected in result.stdout, result.stdout + result.stderr


def test_ldap_test_with_the_directory_down_is_one_line(tmp_path):
    with BlackholeServer.start() as blackhole:
        env = make_env(tmp_path, config=ldap_config([blackhole.url]))
        line = fails(env, "ldap", "test", "alice", "--password-stdin", stdin="x-password-1\n")
        assert line.startswith("error: directory: ")


def test_check_config_names_the_ldap_key(tmp_path):
    bad = ldap_config(["ldap://127.0.0.1:1"]).replace(
        "strategies: [member_of, member_uid]", "strategies: [member_of, telepathy]"
    )
    line = fails(make_env(tmp_path, config=bad), "check-config")
    assert line.endswith(
        "providers[0].groups.strategies[1]: must be one of: member_of, member, member_uid, in_chain"
    )


def test_explain_and_mint_for_a_directory_user_before_their_first_login(slapd, tmp_path):
    """Directory users are looked up in the directory, with no local provider configured."""
    ldap_only = ldap_config([slapd.url]).replace("  - id: local\n    type: local\n", "")
    env = make_env(tmp_path, config=ldap_only)
    result = run(env, "mapping", "explain", "bob")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provider=directory" in result.stdout and "'staff'" in result.stdout
    answer = json.loads(result.stdout.split("Answer:", 1)[1])
    assert answer["roles"] == ["pilot"] and answer["maxStorageMB"] == 10240
    minted = run(env, "tokens", "mint", "bob")
    assert minted.returncode == 0 and minted.stdout.count(".") == 2, minted.stdout + minted.stderr
    assert (
        fails(env, "users", "create", "zed", "--password-stdin", stdin="x\n")
        == "error: no local provider is configured"
    )
