"""One login, whichever way in: each outcome is recorded once, with the same fields.

For every way in (the Registry's password path, its token path with a gateway token, the
browser's ``/login`` form, the admin API's ``POST /api/token``) and every outcome the fixtures
can bring about (grant, deny, throttle, outage), the attempt log has exactly one line for the
attempt and the audit log exactly the rows the login service promises: one for a sign-in or a
refusal, none for a throttled or unavailable attempt (nobody was decided about) and none for a
token of a session already open (not a new sign-in).

Real parts: the gateway under gunicorn on SQLite, a local provider, and an LDAP provider at a
port where nothing listens (an unknown username must be asked of it: the outage).
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from tests.support.adminapi import registry_answer, registry_token
from tests.support.harness import CONTRACT_CONFIG, PASSWORD, start_gateway
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

WRONG = "certainly-not-the-password-9"
WAYS = ["registry_password", "registry_token", "browser", "admin_api"]
OUTCOMES = ["grant", "deny", "throttle", "outage"]
# The token path takes no password: nothing to throttle, no provider to be down.
CASES = [
    (way, outcome)
    for way in WAYS
    for outcome in OUTCOMES
    if way != "registry_token" or outcome in ("grant", "deny")
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AUDIT_PATH = {
    "registry_password": "password",
    "registry_token": "token",
    "browser": "browser_password",
    "admin_api": "api_token",
}
ATTEMPT_PATH = {**AUDIT_PATH, "browser": "browser_password", "admin_api": "admin_token"}


def _config(dead_ldap_port: int) -> str:
    return (
        f"""
providers:
  - id: local
    type: local
  - id: corp
    type: ldap
    preset: openldap
    servers: ["ldap://127.0.0.1:{dead_ldap_port}"]
    connect_timeout_seconds: 0.5
    login_timeout_seconds: 2
    bind: {{dn: "cn=gateway,dc=example,dc=com", password: "service-secret"}}
    user: {{base: "ou=people,dc=example,dc=com"}}
    groups: {{base: "ou=groups,dc=example,dc=com", strategies: [member_of]}}
throttle: {{free_failures: 1, base_delay_seconds: 60}}
"""
        + CONTRACT_CONFIG
    )


def _user(way: str, outcome: str) -> str:
    return f"{way.replace('_', '-')}-{outcome}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    users = [{"username": _user(way, outcome)} for way, outcome in CASES if outcome != "outage"]
    gateway = start_gateway(
        tmp_path_factory.mktemp("one-login"),
        _config(free_port()),
        users=users,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def _password_login(gateway, way: str, username: str, password: str) -> int:
    """One password login through ``way``; its HTTP status."""
    if way == "registry_password":
        return registry_answer(gateway, username=username, password=password).status_code
    if way == "admin_api":
        body = {"username": username, "password": password}
        return requests.post(f"{gateway.url}/api/token", json=body, timeout=30).status_code
    browser = requests.Session()
    browser.trust_env = False
    token = CSRF.search(browser.get(f"{gateway.url}/login", timeout=10).text).group(1)
    form = {"csrf_token": token, "username": username, "password": password}
    response = browser.post(
        f"{gateway.url}/login", data=form, allow_redirects=False, timeout=30, headers={"Origin": gateway.url}
    )
    return response.status_code


def _token_login(gateway, username: str, *, session_ended: bool) -> int:
    token = registry_token(gateway, username)
    if session_ended:
        services = gateway.services()
        try:
            services.sessions.revoke_user(username)
        finally:
            services.close()
    return registry_answer(gateway, token=token).status_code


def _attempts(gateway, username: str) -> list[dict]:
    time.sleep(0.3)  # attempt lines are written in batches every 50 ms
    lines = gateway.server.stderr_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [e for e in entries if e["logger"] == "gateway.auth" and e.get("auth_user") == username]


def _audit(gateway, username: str) -> list[tuple[str, str, str | None, dict]]:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select event, outcome, provider, detail from audit_events"
                " where username = ? and event = 'login' order by id",
                (username,),
            ).all()
    finally:
        services.close()
    return [(e, o, p, json.loads(d) if isinstance(d, str) else d) for e, o, p, d in rows]


@pytest.mark.parametrize(("way", "outcome"), CASES)
def test_each_outcome_is_recorded_once_whichever_way_in(gateway, way, outcome):
    username = _user(way, outcome)
    if outcome == "outage":
        username = f"nobody-{way.replace('_', '-')}"  # not local: the dead LDAP must decide
    if way == "registry_token":
        status = _token_login(gateway, username, session_ended=outcome == "deny")
    elif outcome == "throttle":
        statuses = [_password_login(gateway, way, username, WRONG) for _ in range(2)]
        assert statuses == [401, 401]
        status = _password_login(gateway, way, username, PASSWORD)
    else:
        status = _password_login(gateway, way, username, WRONG if outcome == "deny" else PASSWORD)

    expected_status = {
        "grant": {"browser": 303}.get(way, 200),
        "deny": 401,
        "throttle": 429,
        "outage": 503,
    }[outcome]
    assert status == expected_status
    attempts = _attempts(gateway, username)
    audit = _audit(gateway, username)
    if outcome == "throttle":  # the two wrong passwords before it: one attempt and one row each
        assert [a["auth_outcome"] for a in attempts[:2]] == ["wrong_credentials"] * 2
        assert [row[1] for row in audit] == ["denied", "denied"]
        attempts, audit = attempts[2:], audit[2:]

    assert len(attempts) == 1, attempts
    (attempt,) = attempts
    assert attempt["auth_path"] == ATTEMPT_PATH[way]
    if outcome == "grant":
        assert (attempt["auth_outcome"], attempt["auth_class"], attempt["auth_provider"]) == (
            "success",
            "success",
            "local",
        )
        # A token of a session already open is not a new sign-in.
        expected_rows = [] if way == "registry_token" else [("login", "success", "local", AUDIT_PATH[way])]
        assert [(e, o, p, d["path"]) for e, o, p, d in audit] == expected_rows
    elif outcome == "deny":
        reason = "session_ended" if way == "registry_token" else "wrong_credentials"
        assert (attempt["auth_outcome"], attempt["auth_class"]) == (reason, "rejected")
        assert [(e, o, d["path"], d["reason"]) for e, o, p, d in audit] == [
            ("login", "denied", AUDIT_PATH[way], reason)
        ]
    elif outcome == "throttle":
        assert (attempt["auth_outcome"], attempt["auth_class"]) == ("throttled", "throttled")
        assert audit == []
    else:
        assert (attempt["auth_outcome"], attempt["auth_provider"]) == ("unavailable", "corp")
        assert audit == []
