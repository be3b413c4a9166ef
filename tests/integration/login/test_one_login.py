"""One login, whichever way in: each outcome is recorded once, with the same fields.

For every way in (the Registry's password path, with a password or an app password, its token
path with a gateway token, the browser's ``/login`` form, the admin API's ``POST /api/token``
and the SSO callback) and every outcome the fixtures can bring about (grant, deny, throttle,
outage), the attempt log has exactly one line for the attempt and the audit log exactly the
rows the login service promises: one for a sign-in or a refusal, none for a throttled or
unavailable attempt (nobody was decided about) and none for a token of a session already open
(not a new sign-in). ``POST /api/token`` of an account with a second factor (the code in the
same request) is one attempt too, with the request's real outcome: 403 for an account that must
set one up first, 401 without a code or with a wrong one, 200 once for a right one.

Real parts: the gateway under gunicorn on SQLite, a local provider, an LDAP provider at a port
where nothing listens (an unknown username must be asked of it: the outage) and an OIDC
provider (oidc-provider; paused for the SSO outage). SSO logins are driven with requests, as
in tests/integration/sso/test_sso.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime

import pyotp
import pytest
import requests

from tests.support.adminapi import registry_answer, registry_token
from tests.support.harness import CONTRACT_CONFIG, PASSWORD, start_gateway
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    OidcProviderServer,
    default_client,
)
from tests.support.servers import free_port, wait_for
from tests.support.ssoflow import (
    browser,
    callback_url,
    new_app_password,
    revoke_app_password,
    sso_login,
    xauth_token,
)

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


# The SSO callback's rows, and the Registry's password and token paths with what only an SSO
# login hands out (an app password made on the account page, the token in the xAuthToken
# cookie). One IdP user per row; "m..." is refused by the ``require`` rule.
SSO_ROWS = [
    ("sso_callback", "grant"),
    ("sso_callback", "deny_require"),
    ("sso_callback", "deny_disabled"),
    ("registry_app_password", "grant"),
    ("registry_app_password", "deny_revoked"),
    ("registry_token", "deny_signed_out"),
    ("sso_callback", "outage"),  # last: it pauses the IdP
]
SSO_USERS = {
    row: "mallory" if row[1] == "deny_require" else f"{row[0].replace('_', '-')}-{row[1].replace('_', '-')}"
    for row in SSO_ROWS
}
SSO_PROVIDER = "idp"
REGISTRY_LOGIN = "http://127.0.0.1:8081/login"


def _config(dead_ldap_port: int, idp: OidcProviderServer) -> str:
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
  - id: {SSO_PROVIDER}
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    scopes: [openid, profile, email]
    timeout_seconds: 1
sso: {{registry_login_url: "{REGISTRY_LOGIN}"}}
throttle: {{free_failures: 1, base_delay_seconds: 60}}
"""
        + CONTRACT_CONFIG
        + """
    - name: no-m-users
      require: {username_glob: "[!m]*"}
    - name: second-factor-required
      match: {username: second-factor-enrol}
      require_mfa: true
"""
    )


def _user(way: str, outcome: str) -> str:
    return f"{way.replace('_', '-')}-{outcome}"


@pytest.fixture(scope="module")
def port():
    return free_port()


@pytest.fixture(scope="module")
def idp(tmp_path_factory, port):
    users = [
        {
            "sub": f"one-login-{number}",
            "preferred_username": username,
            "password": DEFAULT_PASSWORD,
            "email": f"{username}@example.test",
            "email_verified": True,
        }
        for number, username in enumerate(SSO_USERS.values())
    ]
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("one-login-idp"),
        clients=[default_client(f"http://127.0.0.1:{port}/sso/callback/{SSO_PROVIDER}")],
        users=users,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, port, idp):
    users = [{"username": _user(way, outcome)} for way, outcome in CASES if outcome != "outage"]
    users += [{"username": f"second-factor-{case}"} for case in SECOND_FACTOR_CASES]
    gateway = start_gateway(
        tmp_path_factory.mktemp("one-login"),
        _config(free_port(), idp),
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
    session = browser()
    token = CSRF.search(session.get(f"{gateway.url}/login", timeout=10).text).group(1)
    form = {"csrf_token": token, "username": username, "password": password}
    response = session.post(
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


@dataclass(frozen=True)
class Mark:
    """How far the attempt log and the audit log had got: what a row records comes after.

    Attempt lines are written in batches by a background thread (every 50 ms, later on a
    loaded machine), so a line count taken now may miss lines of attempts already made: the
    mark is a time instead, that of each line being when its attempt was recorded."""

    attempt_ms: int
    audit_id: int


def _line_ms(entry: dict) -> int:
    """When an attempt line was recorded, in whole milliseconds since the epoch."""
    return round(datetime.fromisoformat(entry["time"]).timestamp() * 1000)


def _auth_lines(gateway) -> list[dict]:
    text = gateway.server.stderr_path.read_text()
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]  # not one being written
    entries = [json.loads(line) for line in lines if line.strip()]
    return [e for e in entries if e["logger"] == "gateway.auth"]


def _login_rows_after(gateway, audit_id: int) -> list[tuple]:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select id, username, outcome, provider, detail from audit_events"
                " where event = 'login' and id > ? order by id",
                (audit_id,),
            ).all()
    finally:
        services.close()
    return [(i, u, o, p, json.loads(d) if isinstance(d, str) else d) for i, u, o, p, d in rows]


def _mark(gateway) -> Mark:
    rows = _login_rows_after(gateway, 0)
    # Lines carry milliseconds, cut down: every attempt made so far is in a millisecond before
    # the next one, and every attempt made after the pause is in it or later.
    mark = Mark(int(time.time() * 1000) + 1, rows[-1][0] if rows else 0)
    time.sleep(0.002)
    return mark


def _recorded_since(gateway, mark: Mark, attempts_made: int = 1) -> tuple[list[dict], list[tuple]]:
    """Every attempt line and every ``login`` audit row (username, outcome, provider, path,
    reason) written since ``mark``, whoever they name: nothing may be recorded elsewhere.
    Waits until the lines of the ``attempts_made`` attempts are written."""

    def since() -> list[dict]:
        return [line for line in _auth_lines(gateway) if _line_ms(line) >= mark.attempt_ms]

    wait_for(lambda: len(since()) >= attempts_made, timeout=30, message="attempt lines missing")
    audit = [
        (u, o, p, d["path"], d.get("reason")) for _i, u, o, p, d in _login_rows_after(gateway, mark.audit_id)
    ]
    return since(), audit


@pytest.mark.parametrize(("way", "outcome"), CASES)
def test_each_outcome_is_recorded_once_whichever_way_in(gateway, way, outcome):
    username = _user(way, outcome)
    if outcome == "outage":
        username = f"nobody-{way.replace('_', '-')}"  # not local: the dead LDAP must decide
    mark = _mark(gateway)
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
    attempts, audit = _recorded_since(gateway, mark, 3 if outcome == "throttle" else 1)
    if outcome == "throttle":  # the two wrong passwords before it: one attempt and one row each
        assert [a["auth_outcome"] for a in attempts[:2]] == ["wrong_credentials"] * 2
        assert [row[1] for row in audit] == ["denied", "denied"]
        attempts, audit = attempts[2:], audit[2:]

    assert len(attempts) == 1, attempts
    (attempt,) = attempts
    assert (attempt["auth_path"], attempt["auth_user"]) == (ATTEMPT_PATH[way], username)
    if outcome == "grant":
        assert (attempt["auth_outcome"], attempt["auth_class"], attempt["auth_provider"]) == (
            "success",
            "success",
            "local",
        )
        # A token of a session already open is not a new sign-in.
        expected_rows = (
            [] if way == "registry_token" else [(username, "success", "local", AUDIT_PATH[way], None)]
        )
        assert audit == expected_rows
    elif outcome == "deny":
        reason = "session_ended" if way == "registry_token" else "wrong_credentials"
        assert (attempt["auth_outcome"], attempt["auth_class"]) == (reason, "rejected")
        assert audit == [(username, "denied", None, AUDIT_PATH[way], reason)]
    elif outcome == "throttle":
        assert (attempt["auth_outcome"], attempt["auth_class"]) == ("throttled", "throttled")
        assert audit == []
    else:
        assert (attempt["auth_outcome"], attempt["auth_provider"]) == ("unavailable", "corp")
        assert audit == []


# ---- the SSO callback, app passwords and a signed-out token -----------------------------------


def _set_enabled(gateway, username: str, enabled: bool) -> None:

    services = gateway.services()
    try:
        services.user_operations().set_enabled(username, enabled)
    finally:
        services.close()


def _run_sso_row(gateway, idp, way: str, outcome: str, username: str) -> tuple[int, Mark]:
    """Prepare the row (what it needs recorded before the mark), then the one login it is
    about; its HTTP status and the mark taken just before that login."""
    if way == "sso_callback" and outcome == "outage":
        session = browser()
        url = callback_url(gateway, idp, SSO_PROVIDER, username, session)
        mark = _mark(gateway)
        idp.pause()  # the code exchange hangs: a 503 within 2 x timeout_seconds
        try:
            response = session.get(url, allow_redirects=False, timeout=30)
        finally:
            idp.resume()
        assert "cannot be reached" in response.text
        return response.status_code, mark
    if way == "sso_callback":
        if outcome == "deny_disabled":  # a first login makes the account; then it is disabled
            assert sso_login(gateway, idp, SSO_PROVIDER, username).status_code == 302
            _set_enabled(gateway, username, False)
        mark = _mark(gateway)
        return sso_login(gateway, idp, SSO_PROVIDER, username).status_code, mark
    if way == "registry_app_password":
        password, session = new_app_password(gateway, idp, SSO_PROVIDER, username)
        if outcome == "deny_revoked":  # used once (so the verified-credentials cache knows it)
            assert registry_answer(gateway, username=username, password=password).status_code == 200
            revoke_app_password(gateway, session, password)
        mark = _mark(gateway)
        return registry_answer(gateway, username=username, password=password).status_code, mark
    # The token path: the token of an SSO login whose session the logout URL ended.
    session = browser()
    token, logout_url = xauth_token(sso_login(gateway, idp, SSO_PROVIDER, username, session))
    assert registry_answer(gateway, token=token).status_code == 200
    assert session.get(logout_url, timeout=10).status_code == 200
    mark = _mark(gateway)
    return registry_answer(gateway, token=token).status_code, mark


# way -> (attempt path, audit path)
SSO_ROW_PATHS = {
    "sso_callback": ("sso", "sso"),
    "registry_app_password": ("password", "password"),
    "registry_token": ("token", "token"),
}


@dataclass(frozen=True)
class Expected:
    """What a row records: its HTTP status, the attempt's outcome, class and provider (also the
    audit row's), and the audit row's outcome (None: no audit row)."""

    status: int
    outcome: str
    outcome_class: str
    provider: str | None
    audited: str | None


SSO_ROW_RECORDS = {
    ("sso_callback", "grant"): Expected(302, "success", "success", SSO_PROVIDER, "success"),
    ("sso_callback", "deny_require"): Expected(
        403, "mapping_require_failed", "forbidden", SSO_PROVIDER, "denied"
    ),
    ("sso_callback", "deny_disabled"): Expected(403, "account_disabled", "forbidden", SSO_PROVIDER, "denied"),
    ("sso_callback", "outage"): Expected(503, "unavailable", "unavailable", SSO_PROVIDER, None),
    ("registry_app_password", "grant"): Expected(200, "success", "success", SSO_PROVIDER, "success"),
    # Refused before anyone's provider is known, as a wrong password or an ended session is.
    ("registry_app_password", "deny_revoked"): Expected(
        401, "wrong_app_password", "rejected", None, "denied"
    ),
    ("registry_token", "deny_signed_out"): Expected(401, "session_ended", "rejected", None, "denied"),
}


@pytest.mark.parametrize(("way", "outcome"), SSO_ROWS)
def test_sso_and_its_credentials_are_recorded_once(gateway, idp, way, outcome):
    username = SSO_USERS[(way, outcome)]
    try:
        status, mark = _run_sso_row(gateway, idp, way, outcome, username)
    finally:
        if outcome == "deny_disabled":
            _set_enabled(gateway, username, True)
    expected = SSO_ROW_RECORDS[(way, outcome)]
    assert status == expected.status
    attempts, audit = _recorded_since(gateway, mark)

    assert len(attempts) == 1, attempts
    (attempt,) = attempts
    attempt_path, audit_path = SSO_ROW_PATHS[way]
    # The IdP never answered the outage's callback: nobody to name.
    named = "?" if outcome == "outage" else username
    assert (attempt["auth_path"], attempt["auth_user"], attempt["auth_provider"]) == (
        attempt_path,
        named,
        expected.provider,
    )
    assert (attempt["auth_outcome"], attempt["auth_class"]) == (expected.outcome, expected.outcome_class)
    if expected.audited is None:  # nobody was decided about
        assert audit == []
    else:
        reason = None if expected.audited == "success" else expected.outcome
        assert audit == [(username, expected.audited, expected.provider, audit_path, reason)]


# ---- POST /api/token with a second factor ---------------------------------------------------

TOTP_SECRET = pyotp.random_base32()
# case -> (the "totp" sent, HTTP status, the attempt's outcome and class, the audit row's outcome)
SECOND_FACTOR_CASES = {
    "enrol": (None, 403, "second_factor_enrol_first", "forbidden", "denied"),
    "missing": (None, 401, "second_factor_missing", "rejected", "denied"),
    "wrong": ("wrong", 401, "wrong_second_factor", "rejected", "denied"),
    "right": ("right", 200, "success", "success", "success"),
}


@pytest.mark.parametrize("case", list(SECOND_FACTOR_CASES))
def test_a_token_request_with_a_second_factor_is_recorded_once_with_its_outcome(gateway, case):
    username = f"second-factor-{case}"
    sent, status, outcome, outcome_class, audited = SECOND_FACTOR_CASES[case]
    if case != "enrol":
        services = gateway.services()
        try:
            services.mfa.factors.add_totp(username, "phone", TOTP_SECRET)
        finally:
            services.close()
    body = {"username": username, "password": PASSWORD}
    if sent is not None:
        code = pyotp.TOTP(TOTP_SECRET).now()
        body["totp"] = code if sent == "right" else f"{(int(code) + 500_000) % 1_000_000:06d}"
    mark = _mark(gateway)
    answer = requests.post(f"{gateway.url}/api/token", json=body, timeout=30)
    assert answer.status_code == status, answer.text

    attempts, audit = _recorded_since(gateway, mark)
    assert len(attempts) == 1, attempts
    (attempt,) = attempts
    assert (attempt["auth_path"], attempt["auth_user"], attempt["auth_provider"]) == (
        "admin_token",
        username,
        "local",
    )
    assert (attempt["auth_outcome"], attempt["auth_class"]) == (outcome, outcome_class)
    reason = None if audited == "success" else outcome
    assert audit == [(username, audited, "local", "api_token", reason)]
    if audited == "success":
        (row,) = _login_rows_after(gateway, mark.audit_id)
        assert row[4].get("factor") == "totp"
