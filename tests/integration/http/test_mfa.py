"""Multi-factor sign-in over HTTP against the gateway under gunicorn, driven with requests so
every status is visible: TOTP enrolment on /account/mfa (codes from pyotp), the second step at
/login/mfa, a replayed code refused, recovery codes that work once, forced enrolment for a
``require_mfa`` group, the Registry's password path refusing an enrolled account's own
password (also after it was cached), and the own password of an account the policy requires to
enrol that has not yet, while app passwords work, the admin API's token with and
without ``totp``, an admin's reset, hostile input on every MFA endpoint, and the ``mfa:`` switches
(``admins_required``; ``registry_password: allow``).

The browser (Chromium, passkeys with the virtual authenticator) is tests/integration/http/
test_mfa_browser.py.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import requests

from tests.support.adminapi import ADMIN_PASSWORD, ADMIN_SEED_USERS, PASSWORD, start_admin_gateway
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CONFIG = """
usernames: {lowercase: true}
mapping_source: database
throttle: {free_failures: 3, base_delay_seconds: 60}
"""
USERS = (
    ADMIN_SEED_USERS
    + [{"username": name} for name in "dora erik fay gus hal ivy jay".split()]
    + [{"username": "kim", "groups": ["drone-admins"]}]
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SEALED = re.compile(r'name="enrolment" value="([^"]+)"')
KEY = re.compile(r'id="totp-key">([^<]+)<')
CODES = re.compile(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b")
REQUIRE_MFA_RULE = {"name": "admins-mfa", "match": {"group": "drone-admins"}, "require_mfa": True}


def started(tmp_path_factory, name: str, config: str = CONFIG):
    """A gateway whose public URL is http://localhost:<port> (a WebAuthn relying party must be
    a host name, and the CSRF check compares origins)."""
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp(name),
        config,
        users=USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://localhost:{port}"},
    )
    gateway.public = f"http://localhost:{port}"
    return gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = started(tmp_path_factory, "mfa")
    yield gateway
    gateway.stop()


class Browser:
    """A requests session acting as one browser against the gateway's public URL."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        headers = {"Origin": self.base, **kwargs.pop("headers", {})}
        return self.http.post(
            self.base + path, data=data, headers=headers, timeout=30, allow_redirects=False, **kwargs
        )

    def csrf(self, path: str) -> tuple[requests.Response, str]:
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return page, CSRF.search(page.text).group(1)

    def password(self, username: str, password: str = PASSWORD) -> requests.Response:
        _, token = self.csrf("/login")
        return self.post("/login", {"csrf_token": token, "username": username, "password": password})

    def second_step(self, kind: str, code: str) -> requests.Response:
        _, token = self.csrf("/login/mfa")
        return self.post(f"/login/mfa/{kind}", {"csrf_token": token, "code": code})

    def enrol_totp(
        self, prefix: str = "/account/mfa", page_path: str = "/account/mfa"
    ) -> tuple[str, list[str]]:
        """Add an authenticator app; its key and the recovery codes shown once."""
        page, token = self.csrf(page_path)
        key = KEY.search(page.text).group(1).replace(" ", "")
        sealed = SEALED.search(page.text).group(1)
        answer = self.post(
            f"{prefix}/totp",
            {"csrf_token": token, "enrolment": sealed, "code": pyotp.TOTP(key).now(), "name": "phone"},
        )
        assert answer.status_code == 303, answer.text[:500]
        shown = self.get(answer.headers["Location"].split("#")[0])
        codes = CODES.findall(shown.text)
        return key, codes


def next_code(key: str, steps: int = 1) -> str:
    """The code of a neighbouring time step (accepted for clock drift, unused so far)."""
    return pyotp.TOTP(key).at(time.time() + 30 * steps)


def signed_in(gateway, username: str) -> Browser:
    browser = Browser(gateway.public)
    answer = browser.password(username)
    assert answer.status_code == 303 and answer.headers["Location"] != "/login/mfa", answer.text[:300]
    return browser


def authenticate(gateway, username: str, password: str) -> requests.Response:
    return gateway.authenticate({"username": username, "password": password})


def app_password(browser: Browser) -> str:
    _, token = browser.csrf("/account")
    created = browser.post("/account/app-passwords", {"csrf_token": token, "name": "ddb"})
    assert created.status_code == 303
    return re.search(r'id="new-app-password">([^<]+)<', browser.get("/account").text).group(1)


# -- TOTP ------------------------------------------------------------------------------------


def test_totp_enrolment_then_sign_in_with_a_code_and_a_replay_refused(gateway):
    alice = signed_in(gateway, "alice")
    page = alice.get("/account/mfa")
    assert 'src="data:image/svg+xml' in page.text  # the QR code is inline, nothing fetched
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    key, codes = alice.enrol_totp()
    assert len(codes) == 10 and len(set(codes)) == 10
    listed = alice.get("/account/mfa").text
    assert "Authenticator app" in listed and "phone" in listed
    assert not CODES.search(listed)  # shown once

    fresh = Browser(gateway.public)
    answer = fresh.password("alice")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login/mfa")
    assert fresh.get("/account").status_code == 303  # no session before the second step
    pending = next(c for c in fresh.http.cookies if c.name == "gw_mfa_pending")
    assert pending.has_nonstandard_attr("HttpOnly") and "alice" not in pending.value
    code = next_code(key)
    signed = fresh.second_step("totp", code)
    assert signed.status_code == 303 and signed.headers["Location"] == "/account"
    assert fresh.get("/account").status_code == 200
    assert "gw_mfa_pending" not in fresh.http.cookies

    replay = Browser(gateway.public)
    replay.password("alice")
    refused = replay.second_step("totp", code)
    assert refused.status_code == 401 and "was not accepted" in refused.text
    assert replay.get("/account").status_code == 303

    # The codes shown once each work exactly once.
    with_code = Browser(gateway.public)
    with_code.password("alice")
    assert with_code.second_step("recovery", codes[0].upper().replace("-", " ")).status_code == 303
    again = Browser(gateway.public)
    again.password("alice")
    assert again.second_step("recovery", codes[0]).status_code == 401


def test_a_wrong_password_never_reaches_the_second_step(gateway):
    erik = signed_in(gateway, "erik")
    erik.enrol_totp()
    stranger = Browser(gateway.public)
    answer = stranger.password("erik", "not-the-password-at-all")
    assert answer.status_code == 401
    assert stranger.get("/login/mfa").headers["Location"] == "/login"


def test_an_account_disabled_before_the_second_step_gets_no_session(gateway):
    jay = signed_in(gateway, "jay")
    key, _ = jay.enrol_totp()
    waiting = Browser(gateway.public)
    assert waiting.password("jay").headers["Location"] == "/login/mfa"
    services = gateway.services()
    try:
        services.user_operations().set_enabled("jay", False, actor="test")
    finally:
        services.close()
    refused = waiting.second_step("totp", next_code(key))
    assert refused.status_code == 403
    assert waiting.get("/account").status_code == 303
    assert "gw_session" not in waiting.http.cookies


def test_wrong_codes_are_throttled_per_account(gateway):
    fay = signed_in(gateway, "fay")
    key, _ = fay.enrol_totp()
    attacker = Browser(gateway.public)
    attacker.password("fay")
    statuses = [attacker.second_step("totp", "000000").status_code for _ in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[-1] == 429
    # A right password does not reset the second factor's failures.
    attacker.password("fay")
    assert attacker.second_step("totp", next_code(key)).status_code == 429


# -- the Registry's password path and the admin API ------------------------------------------


def test_the_registry_refuses_an_enrolled_accounts_own_password_but_takes_app_passwords(gateway):
    dora = signed_in(gateway, "dora")
    app = app_password(dora)
    assert authenticate(gateway, "dora", PASSWORD).status_code == 200  # now in the credentials cache
    dora.enrol_totp()
    refused = authenticate(gateway, "dora", PASSWORD)
    assert refused.status_code == 403
    assert "app password" in refused.json()["error"]
    assert authenticate(gateway, "dora", "a-wrong-password-entirely").status_code == 401  # tells nothing
    for _ in range(3):  # never served from the cache
        assert authenticate(gateway, "dora", PASSWORD).status_code == 403
    granted = authenticate(gateway, "dora", app)
    assert granted.status_code == 200 and granted.json()["username"] == "dora"


def test_the_admin_api_token_needs_the_totp_field_for_an_enrolled_account(gateway):
    gus = signed_in(gateway, "gus")
    key, _ = gus.enrol_totp()
    url = f"{gateway.url}/api/token"
    refused = requests.post(url, json={"username": "gus", "password": PASSWORD}, timeout=30)
    assert refused.status_code == 401 and "totp" in refused.json()["error"]
    assert "API key" in refused.json()["error"]
    wrong = requests.post(url, json={"username": "gus", "password": PASSWORD, "totp": "123456"}, timeout=30)
    assert wrong.status_code == 401
    granted = requests.post(
        url, json={"username": "gus", "password": PASSWORD, "totp": next_code(key)}, timeout=30
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["access_token"]


def test_an_admin_sees_and_resets_a_users_factors(gateway):
    hal = signed_in(gateway, "hal")
    hal.enrol_totp()
    admin = requests.post(
        f"{gateway.url}/api/token", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=30
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    listed = requests.get(f"{gateway.url}/admin/api/users/hal/factors", headers=headers, timeout=30)
    assert listed.status_code == 200
    (factor,) = listed.json()["factors"]
    assert factor["type"] == "totp" and factor["name"] == "phone" and "secret" not in factor
    reset = requests.delete(f"{gateway.url}/admin/api/users/hal/factors", headers=headers, timeout=30)
    assert reset.json() == {"removed": 1}
    assert (
        requests.get(f"{gateway.url}/admin/api/users/nobody/factors", headers=headers, timeout=30).status_code
        == 404
    )
    assert authenticate(gateway, "hal", PASSWORD).status_code == 200  # the password alone again
    assert signed_in(gateway, "hal").get("/account").status_code == 200
    audit = requests.get(
        f"{gateway.url}/admin/api/audit", headers=headers, params={"username": "hal"}, timeout=30
    )
    events = {row["event"] for row in audit.json()["items"]} if audit.status_code == 200 else set()
    assert {"mfa_enrolled", "mfa_reset"} <= events, audit.text[:500]
    assert "phone" not in str([row for row in audit.json()["items"] if row["event"] == "mfa_check"])


# -- policy ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def required(tmp_path_factory):
    config = CONFIG.replace("mapping_source: database\n", "") + (
        "mfa: {admins_required: true}\n"
        "mapping:\n  rules:\n"
        "    - {name: admins-mfa, match: {group: drone-admins}, require_mfa: true}\n"
        "    - {name: pilots, match: {group: drone-pilots}, roles: [pilot]}\n"
    )
    gateway = started(tmp_path_factory, "mfa-required", config)
    yield gateway
    gateway.stop()


def test_a_require_mfa_group_must_enrol_before_any_session(required):
    bob = Browser(required.public)
    answer = bob.password("bob")
    assert answer.headers["Location"] == "/login/mfa"
    page = bob.get("/login/mfa")
    assert "Set up a second step" in page.text
    assert bob.get("/account").status_code == 303
    # A code without enrolling is no way around it.
    _, token = bob.csrf("/login/mfa")
    assert bob.post("/login/mfa/totp", {"csrf_token": token, "code": "123456"}).status_code == 400
    key, codes = bob.enrol_totp(prefix="/login/mfa/enrol", page_path="/login/mfa")
    assert len(codes) == 10
    assert bob.get("/account").status_code == 200
    # Members of other groups are not asked.
    assert signed_in(required, "alice").get("/account").status_code == 200
    # The admin API refuses a password-only token for a member still to enrol.
    refused = requests.post(
        f"{required.url}/api/token", json={"username": "carol", "password": PASSWORD}, timeout=30
    )
    assert refused.status_code == 200  # carol is in no require_mfa group
    second = Browser(required.public)
    second.password("bob")
    assert second.second_step("totp", next_code(key)).status_code == 303


def test_the_registry_refuses_the_own_password_of_a_member_still_to_enrol(required):
    for username, password in (("kim", PASSWORD), ("admin", ADMIN_PASSWORD)):  # the rule; the switch
        for _ in range(2):  # never served from the credentials cache
            refused = authenticate(required, username, password)
            assert refused.status_code == 403, refused.text
            error = refused.json()["error"]
            assert "set up two-step sign-in first" in error and "browser" in error, error
            assert "app password" in error
        wrong = authenticate(required, username, "a-wrong-password-entirely")
        assert wrong.status_code == 401  # tells a guesser nothing
    # Members of no require_mfa group, and everyone's app passwords, are not touched.
    assert authenticate(required, "carol", PASSWORD).status_code == 200
    kim = Browser(required.public)
    assert kim.password("kim").headers["Location"] == "/login/mfa"
    kim.enrol_totp(prefix="/login/mfa/enrol", page_path="/login/mfa")
    app = app_password(kim)
    granted = authenticate(required, "kim", app)
    assert granted.status_code == 200 and granted.json()["username"] == "kim"
    assert "app password" in authenticate(required, "kim", PASSWORD).json()["error"]


# -- hostile input ---------------------------------------------------------------------------


HOSTILE = ["", "x" * 100_000, "\u202e\u0000", "' OR 1=1 --", "{}", '{"response": {}}', "%00", "12345٦"]


@pytest.mark.parametrize(
    "path",
    [
        "/login/mfa/totp",
        "/login/mfa/recovery",
        "/login/mfa/passkey",
        "/login/mfa/enrol/totp",
        "/login/mfa/enrol/passkey",
    ],
)
def test_hostile_input_on_the_second_step_is_a_4xx_or_back_to_sign_in(gateway, path):
    nobody = Browser(gateway.public)
    assert nobody.post(path, {"code": "123456"}).status_code == 403  # no CSRF token
    _, token = nobody.csrf("/login")
    for pending in ("", "garbage", "A" * 5000):
        nobody.http.cookies.set("gw_mfa_pending", pending)
        answer = nobody.post(path, {"csrf_token": token, "code": "123456"})
        assert answer.status_code in (303, 400, 413), (pending[:10], answer.status_code)
        if answer.status_code == 303:
            assert answer.headers["Location"] == "/login"
    for value in HOSTILE:  # a pending login sealed by someone else is never this browser's
        nobody.http.cookies.set(
            "gw_mfa_pending", value.encode("ascii", "replace").decode().replace("\x00", "")
        )
        answer = nobody.post(path, {"csrf_token": token, "code": value, "credential": value})
        assert answer.status_code == 303 or 400 <= answer.status_code < 500, answer.status_code


def test_hostile_input_on_the_account_mfa_forms(gateway):
    carol = signed_in(gateway, "carol")
    _, token = carol.csrf("/account/mfa")
    assert carol.post("/account/mfa/totp", {"csrf_token": "forged", "code": "1"}).status_code == 403
    assert (
        carol.post(
            "/account/mfa/totp", {"csrf_token": token}, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )
    # 413: the body limit refuses the longest before any form is read; 429: wrong proofs of a
    # removal are throttled like passwords.
    for value in HOSTILE:
        answers = [
            carol.post("/account/mfa/totp", {"csrf_token": token, "enrolment": value, "code": value}),
            carol.post("/account/mfa/passkey", {"csrf_token": token, "credential": value}),
            carol.post(f"/account/mfa/{value[:40] or 'x'}/remove", {"csrf_token": token, "proof": value}),
        ]
        assert [a.status_code for a in answers if a.status_code not in (400, 404, 405, 413, 429)] == []
    no_factor_yet = carol.post("/account/mfa/recovery-codes", {"csrf_token": token})
    assert no_factor_yet.status_code == 400
    # Someone else's sealed enrolment does not work for carol.
    other = signed_in(gateway, "bob")
    page, _ = other.csrf("/account/mfa")
    sealed = SEALED.search(page.text).group(1)
    key = KEY.search(page.text).group(1).replace(" ", "")
    stolen = carol.post(
        "/account/mfa/totp", {"csrf_token": token, "enrolment": sealed, "code": pyotp.TOTP(key).now()}
    )
    assert stolen.status_code == 400


def test_removing_a_factor_needs_a_current_code_or_the_password(gateway):
    browser = Browser(gateway.public)
    browser.password("ivy")
    key, _ = browser.enrol_totp()
    page, token = browser.csrf("/account/mfa")
    factor_id = re.search(r'action="/account/mfa/([0-9a-f]+)/remove"', page.text).group(1)
    refused = browser.post(f"/account/mfa/{factor_id}/remove", {"csrf_token": token, "proof": "nope-nope"})
    assert refused.status_code == 400
    removed = browser.post(f"/account/mfa/{factor_id}/remove", {"csrf_token": token, "proof": PASSWORD})
    assert removed.status_code == 303
    assert "no second step yet" in browser.get("/account/mfa").text
    assert authenticate(gateway, "ivy", PASSWORD).status_code == 200


# -- the two switches of the mfa: section ------------------------------------------------------


@pytest.fixture(scope="module")
def switched(tmp_path_factory):
    config = CONFIG + "mfa: {admins_required: true, registry_password: allow}\n"
    gateway = started(tmp_path_factory, "mfa-switched", config)
    yield gateway
    gateway.stop()


def test_admins_required_makes_an_admin_enrol_and_leaves_everyone_else_alone(switched):
    admin = Browser(switched.public)
    answer = admin.password("admin", ADMIN_PASSWORD)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login/mfa"
    assert "Set up a second step" in admin.get("/login/mfa").text
    assert admin.get("/admin/").status_code in (302, 303)  # no session before the second step
    # registry_password: allow keeps the own password working on the Registry's password path.
    assert authenticate(switched, "admin", ADMIN_PASSWORD).status_code == 200
    # The admin API's password-only token is refused too, saying what to do.
    refused = requests.post(
        f"{switched.url}/api/token", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=30
    )
    assert refused.status_code == 403 and "set up two-step sign-in first" in refused.json()["error"]
    _, codes = admin.enrol_totp(prefix="/login/mfa/enrol", page_path="/login/mfa")
    assert len(codes) == 10 and admin.get("/admin/").status_code == 200
    assert signed_in(switched, "alice").get("/account").status_code == 200  # not an admin: not asked


def test_registry_password_allow_takes_an_enrolled_accounts_own_password(switched):
    erik = signed_in(switched, "erik")
    erik.enrol_totp()
    assert authenticate(switched, "erik", PASSWORD).status_code == 200
    assert authenticate(switched, "erik", "a-wrong-password-entirely").status_code == 401
