"""Integration tests: the Registry's contract (docs registry-contract.md §1, §2, §4) over HTTP.

Every test talks to the gateway under gunicorn the way the Registry does: a form POST with
``Accept: application/json``. Each test names the contract line it checks. The suite runs three
times: local users on SQLite with in-process state, local users on PostgreSQL with Redis, and
the same users held in a real OpenLDAP directory (an ``ldap`` provider in front of the local one).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta

import pytest
import requests

from tests.integration.conftest import LDAP_CACHE_SECONDS
from tests.support.harness import ADMIN_PASSWORD, PASSWORD
from tests.support.registry import RegistryStub
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration

REGISTRY_HEADERS = {"Accept": "application/json"}


def login(gateway, username, password):
    return gateway.authenticate({"username": username, "password": password}, headers=REGISTRY_HEADERS)


def assert_json_object(response):
    """§1: a 2xx body must be a JSON object (anything else is a 400 carrying a parser error at
    the Registry, and an empty one leaves a half-made account)."""
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.text)
    assert isinstance(body, dict)
    return body


def assert_denied(response, status):
    """§4: denied is a 4xx with a small JSON error, never a stack trace."""
    assert response.status_code == status, response.text
    body = assert_json_object(response)
    assert set(body) <= {"error"}
    assert len(response.content) < 200
    assert "Traceback" not in response.text


# ---- §2.4 storage quota: a JSON integer, or absent for unlimited -------------------------


@pytest.mark.parametrize(
    "username, roles, quota",
    [
        ("alice", ["pilot"], 51200),  # group drone-pilots -> pilot, 50 GB
        ("bob", ["pilot", "admin"], None),  # rule order; drone-admins unlimited wins
        ("erin", ["pilot"], 2048),  # per-user override beats the rule
        ("frank", ["surveyor", "pilot"], 10240),  # glob rule
    ],
)
def test_password_path_grants_roles_and_integer_quota(contract_gateway, username, roles, quota):
    response = login(contract_gateway, username, PASSWORD)
    assert response.status_code == 200, response.text
    body = assert_json_object(response)
    assert body["username"] == username
    assert body["roles"] == roles
    if quota is None:
        assert "maxStorageMB" not in body  # §2.4: missing key means unlimited
    else:
        assert type(body["maxStorageMB"]) is int  # §2.4: 10240 works, 10240.0 is ignored
        assert body["maxStorageMB"] == quota
        assert f'"maxStorageMB":{quota}' in response.text.replace(" ", "")


def test_roles_is_always_an_array_even_when_empty(contract_gateway):
    """§2.3: an empty array removes all roles; a missing key would leave them untouched."""
    body = assert_json_object(login(contract_gateway, "carol", PASSWORD))
    assert body["roles"] == []
    assert '"roles":[]' in json.dumps(body, separators=(",", ":"))


def test_bootstrapped_admin_keeps_admin_role(contract_gateway):
    """§2.3: the Registry's default admin logs in through us; its roles are replaced by ours."""
    response = login(contract_gateway, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    assert "admin" in assert_json_object(response)["roles"]


def test_only_allow_listed_keys_are_in_the_answer(contract_gateway):
    """§2.2: every key becomes user-visible metadata and is logged: nothing secret, nothing extra."""
    body = assert_json_object(login(contract_gateway, "alice", PASSWORD))
    assert set(body) == {"username", "roles", "maxStorageMB", "email"}
    assert body["email"] == "alice@example.org"
    text = json.dumps(body)
    for secret_marker in ("argon2", "$", "password", "hash", "local:", "dn=", "subject"):
        assert secret_marker not in text


def test_answer_username_is_a_string_in_the_identity_alphabet(contract_gateway):
    """§2.1: usernames must be creatable by ASP.NET Identity (a-z A-Z 0-9 - . _ @ +)."""
    body = assert_json_object(login(contract_gateway, "gina.o-neil+test@example.org", PASSWORD))
    assert body["username"] == "gina.o-neil+test@example.org"


# ---- §2.1 the typed username must be the canonical one -----------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Alice",
        "ALICE",
        " alice",
        "alice ",
        "alice\t",
        "ａlice",
        "ａｌｉｃｅ",
        "alice\u200b",
        "alıce",  # dotless i: upper-cases onto ALICE, so the Registry would find alice's account
        "CORP\\alice",
        "alice@corp",
    ],
)
def test_non_canonical_spellings_are_refused(contract_gateway, typed):
    """§2.1: the Registry keys accounts by the typed name, compared upper-cased: the gateway
    refuses every spelling but the canonical one (case variants and upper-case look-alikes
    included, so an account always keeps the canonical spelling of its first login)."""
    assert_denied(login(contract_gateway, typed, PASSWORD), 401)


# ---- 401 / 403: bad credentials look alike; valid-but-not-allowed is 403 ------------------


def test_wrong_password_unknown_user_and_empty_password_look_alike(contract_gateway):
    """§4: 401 for bad credentials, the same small body whatever was wrong (no enumeration)."""
    wrong = login(contract_gateway, "alice", "not-the-password-at-all")
    unknown = login(contract_gateway, "nosuchuser", PASSWORD)
    empty = login(contract_gateway, "alice", "")
    blank = login(contract_gateway, "alice", "   ")
    for response in (wrong, unknown, empty, blank):
        assert_denied(response, 401)
    assert wrong.content == unknown.content == empty.content == blank.content


def test_disabled_account_with_wrong_password_is_indistinguishable(contract_gateway):
    """§4: a wrong password is a 401 whether or not the account is disabled."""
    assert (
        login(contract_gateway, "dave", "wrong-password-here").content
        == login(contract_gateway, "nosuchuser2", "wrong-password-here").content
    )


def test_disabled_account_with_right_password_is_forbidden(contract_gateway):
    """§4: 403 for "valid but not allowed"; only someone holding the password learns it."""
    assert_denied(login(contract_gateway, "dave", PASSWORD), 403)


def test_unknown_user_costs_as_long_as_a_wrong_password(contract_gateway):
    """§4 (401 for bad credentials, alike): no user enumeration by timing either; unknown users
    run a dummy argon2 hash."""
    known_users = ["alice", "bob", "carol", "erin"]  # 3 failures each: below the throttle
    known, unknown = [], []
    for round_ in range(12):
        for name, bucket in ((known_users[round_ % 4], known), (f"ghost{round_}", unknown)):
            started = time.perf_counter()
            assert login(contract_gateway, name, f"wrong-password-{round_}").status_code == 401
            bucket.append(time.perf_counter() - started)
    for name in known_users:  # a success resets the failure count
        assert login(contract_gateway, name, PASSWORD).status_code == 200
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, (known, unknown)


# ---- §1 the shape of the request: 400 / 405 / 413 / 415 ----------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": "alice"},
        {"password": PASSWORD},
        {"token": ""},
        {"token": "   "},
        {"token": "abc", "username": "alice", "password": PASSWORD},
        {"token": "abc", "password": PASSWORD},
        [("username", "alice"), ("username", "bob"), ("password", PASSWORD)],
    ],
)
def test_malformed_forms_are_400(contract_gateway, data):
    """§1: the Registry sends ``username`` + ``password`` or a non-blank ``token`` alone; any
    other form is a 400 with a small JSON error (§4)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_denied(contract_gateway.authenticate(data, headers=headers), 400)


@pytest.mark.parametrize("token", ["", "   "])
def test_a_blank_token_beside_credentials_is_the_password_path(contract_gateway, token):
    """§1: the Registry takes the token path only for a non-blank ``token`` and relays either
    the token alone or username + password, never both. A blank token is no token, by the same
    rule, so a client that sends one beside credentials gets what the password path answers."""
    good = contract_gateway.authenticate({"token": token, "username": "alice", "password": PASSWORD})
    assert good.status_code == 200 and good.json()["username"] == "alice"
    bad = contract_gateway.authenticate(
        {"token": token, "username": "alice", "password": "not-the-password-at-all"}
    )
    assert_denied(bad, 401)


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", json.dumps({"username": "alice", "password": PASSWORD})),
        ("text/plain", f"username=alice&password={PASSWORD}"),
        ("multipart/form-data; boundary=x", "--x--"),
        (None, f"username=alice&password={PASSWORD}"),
    ],
)
def test_wrong_content_type_is_refused(contract_gateway, content_type, body):
    """§1: the Registry posts ``application/x-www-form-urlencoded``; anything else is a 415."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(
        f"{contract_gateway.url}/api/authenticate", data=body.encode(), headers=headers, timeout=10
    )
    assert_denied(response, 415)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(contract_gateway, method):
    """§1: both calls are a ``POST``; §4: the refusal is a small JSON error."""
    response = requests.request(method, f"{contract_gateway.url}/api/authenticate", timeout=10)
    assert_denied(response, 405)
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413(contract_gateway):
    """§4: a 4xx with a small JSON error, never a stack trace."""
    response = contract_gateway.authenticate({"username": "alice", "password": "x" * 100_000})
    assert_denied(response, 413)


def test_unknown_path_is_json_404(contract_gateway):
    """§4: a 4xx with a small JSON error, whatever the path."""
    response = requests.get(f"{contract_gateway.url}/nope", timeout=10)
    assert_denied(response, 404)


# ---- the token path (§1 row 2, §2.1 token path) ------------------------------------------


def _mint(gateway, username):
    services = gateway.services()
    try:
        identity = services.user_operations().identity(username)
        session = services.sessions.create(identity, timedelta(hours=1))
        return services.tokens.mint(username, session.id, expires_at=session.expires_at), session.id
    finally:
        services.close()


def test_token_path_answers_with_username_roles_and_quota(contract_gateway):
    """§1 row 2, §2.1 (token path: the answer's ``username`` is a JSON string), §2.3, §2.4."""
    token, _ = _mint(contract_gateway, "alice")
    response = contract_gateway.authenticate({"token": token})
    assert response.status_code == 200, response.text
    body = assert_json_object(response)
    assert isinstance(body["username"], str) and body["username"] == "alice"  # §2.1 token path
    assert body["roles"] == ["pilot"] and body["maxStorageMB"] == 51200


def _within(seconds: float, check) -> bool:
    """Whether a ``check()`` started within ``seconds`` comes true (asked every 50 ms): the time
    is read when a check starts, as a login can take long to answer on a loaded machine."""
    started = time.monotonic()
    while True:
        began = time.monotonic() - started
        if check():
            return True
        if began >= seconds:
            return False
        time.sleep(0.05)


def _relayed_roles(gateway, token: str) -> list[str]:
    return gateway.authenticate({"token": token}).json()["roles"]


def test_token_path_follows_group_changes_made_at_the_gateway(contract_gateway):
    """§2.3: every login's ``roles`` replace the user's Registry roles, a relayed token's too.
    The token path re-runs the mapping on the identity its session keeps; a change made at the
    gateway (a local group) rewrites that identity at once, so a relay after it answers as a
    fresh login would instead of giving back the roles the change took away. A change made in
    the directory reaches an open session when a directory sync finds it (tested in
    tests/integration/registry/test_directory_sync.py) and a password login once its cached
    login expires (its TTL)."""
    token, _ = _mint(contract_gateway, "carol")
    assert contract_gateway.authenticate({"token": token}).json()["roles"] == []
    contract_gateway.add_member("survey-north", "carol")
    try:
        if contract_gateway.backend == "ldap":
            assert contract_gateway.authenticate({"token": token}).json()["roles"] == []  # no sync here
            time.sleep(LDAP_CACHE_SECONDS + 0.2)
        else:
            # Local groups: at once on one machine's database, within a second across replicas.
            assert _within(1.0, lambda: _relayed_roles(contract_gateway, token) == ["surveyor", "pilot"])
        assert _within(
            1.0, lambda: login(contract_gateway, "carol", PASSWORD).json()["roles"] == ["surveyor", "pilot"]
        )
        fresh, _ = _mint(contract_gateway, "carol")
        assert contract_gateway.authenticate({"token": fresh}).json()["roles"] == ["surveyor", "pilot"]
    finally:
        contract_gateway.remove_member("survey-north", "carol")
    if contract_gateway.backend != "ldap":
        assert _within(1.0, lambda: _relayed_roles(contract_gateway, token) == [])


def test_revoked_session_token_is_refused(contract_gateway):
    """§3: the gateway's token is revocable; §4: a bad token is a 401."""
    token, session_id = _mint(contract_gateway, "alice")
    assert contract_gateway.authenticate({"token": token}).status_code == 200
    services = contract_gateway.services()
    try:
        services.sessions.revoke(session_id)
    finally:
        services.close()
    assert_denied(contract_gateway.authenticate({"token": token}), 401)


def test_disabling_a_user_stops_their_token(contract_gateway):
    """§4: a token of an account disabled since is refused (401, or 403 for valid but not
    allowed): the token path gives no Registry JWT to a disabled user (§2.5)."""
    services = contract_gateway.services()
    try:
        services.local_users.create("tokenuser", PASSWORD)
        services.accounts.claim(services.federation.provider("local").lookup("tokenuser"))
    finally:
        services.close()
    token, _ = _mint(contract_gateway, "tokenuser")
    assert contract_gateway.authenticate({"token": token}).status_code == 200
    services = contract_gateway.services()
    try:
        services.user_operations().set_enabled("tokenuser", False)
    finally:
        services.close()
    assert contract_gateway.authenticate({"token": token}).status_code in (401, 403)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
        "x" * 9000,
        "é" * 50,
    ],
)
def test_bad_tokens_are_401(contract_gateway, token):
    """§4: 401 for a bad token, with a small JSON body."""
    assert_denied(contract_gateway.authenticate({"token": token}), 401)


def test_jwks_is_published_without_private_members(contract_gateway):
    """§3: the gateway signs its token; the public keys are published, nothing private."""
    keys = requests.get(f"{contract_gateway.url}/.well-known/jwks.json", timeout=10).json()["keys"]
    assert keys and all(key["kid"] and key["alg"] == "ES256" for key in keys)
    assert not any(member in key for key in keys for member in ("d", "p", "q", "dp", "dq", "qi"))


# ---- throttling: per account, shared by every worker -------------------------------------


def test_repeated_failures_throttle_the_account_not_others(contract_gateway):
    """§2.3: the Registry has no lock-out on this path, so throttling guesses is the gateway's
    job: five failures are free; the sixth starts a lock-out that doubles with each further one.
    §1: other accounts (and correct credentials after it) are never throttled."""
    for _ in range(6):
        assert login(contract_gateway, "frank", "wrong-password-xyz").status_code == 401
    throttled = login(contract_gateway, "frank", PASSWORD)  # even the right password waits
    assert_denied(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert login(contract_gateway, "alice", PASSWORD).status_code == 200
    time.sleep(1.1)
    assert login(contract_gateway, "frank", PASSWORD).status_code == 200  # success resets
    assert login(contract_gateway, "frank", "wrong-password-xyz").status_code == 401


# ---- through the Registry stand-in: what the Registry makes of the answers (§2) ----------


@pytest.fixture
def registry(contract_gateway):
    """The Registry stand-in relaying its logins to this gateway, issuing its own JWTs."""
    stub = RegistryStub.start(f"{contract_gateway.url}/api/authenticate", issue_tokens=True)
    yield stub
    stub.stop()


def registry_login(registry, username, password):
    """``POST /users/authenticate`` at the Registry, with the form its clients send."""
    return requests.post(
        f"{registry.url}/users/authenticate", data={"username": username, "password": password}, timeout=30
    )


def test_through_the_registry_the_typed_canonical_name_is_the_only_account(registry):
    """§2.1: the typed name is the account; its case variants and look-alikes (which the
    Registry's upper-casing look-up would send to the same account) are refused by the gateway,
    so no login under another spelling ever reaches the Registry's account table."""
    assert registry_login(registry, "alice", PASSWORD).json()["username"] == "alice"
    for typed in ("ALICE", "Alice", "alıce", "ａｌｉｃｅ", " alice", "CORP\\alice", "Carol"):
        answer = registry_login(registry, typed, PASSWORD)
        assert answer.status_code == 401, (typed, answer.text)  # §1: any non-2xx is a refusal
        assert answer.json()["error"] == "Unauthorized"
    assert list(registry.users) == ["alice"]
    assert {call["status"] for call in registry.calls[1:]} == {401}
    # The Registry's metadata is the gateway's answer, whole (§2.2); roles follow the array (§2.3).
    assert registry.users["alice"]["metadata"] == registry.calls[0]["json"]
    assert registry.users["alice"]["roles"] == ["pilot"]


def test_through_the_registry_quota_and_roles_take_effect(registry):
    """§2.4: the integer maxStorageMB is a quota at the Registry (a float or a string would be
    unlimited); a missing key is unlimited. §2.3: the array replaces the roles, an empty array
    removes them all, and the default admin keeps ``admin`` (its admin API answers it)."""
    for name in ("alice", "bob", "carol"):
        assert registry_login(registry, name, PASSWORD).status_code == 200
    admin = registry_login(registry, "admin", ADMIN_PASSWORD).json()["token"]
    headers = {"Authorization": f"Bearer {admin}"}

    def storage(name):
        return requests.get(f"{registry.url}/users/{name}/storage", headers=headers, timeout=10).json()

    assert storage("alice")["total"] == 51200 * 1024 * 1024
    assert storage("bob")["total"] is None
    assert registry.users["carol"]["roles"] == [] and registry.users["bob"]["roles"] == ["pilot", "admin"]


def test_through_the_registry_a_user_reads_nothing_secret_in_their_metadata(registry):
    """§2.2: the user reads the whole answer back (``GET /users/meta``): only the allow-listed
    keys, no password, hash, token or DN."""
    token = registry_login(registry, "alice", PASSWORD).json()["token"]
    meta = requests.get(
        f"{registry.url}/users/meta", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert set(meta) == {"username", "roles", "maxStorageMB", "email"}
    text = json.dumps(meta)
    for secret_marker in (PASSWORD, "argon2", "$", "hash", "dn=", "token"):
        assert secret_marker not in text


def test_through_the_registry_refusals_are_401_and_never_a_half_made_account(registry):
    """§1, §4: a wrong password (gateway 401) and a disabled account (gateway 403) are both a
    clean 401 at the Registry, never a 400 carrying an exception, and create no account."""
    refusals = (("alice", "not-the-password-at-all", 401), ("dave", PASSWORD, 403))
    for name, password, gateway_status in refusals:
        answer = registry_login(registry, name, password)
        assert answer.status_code == 401, answer.text
        assert registry.calls[-1]["status"] == gateway_status
    assert registry.users == {}
    assert registry_login(registry, "alice", PASSWORD).status_code == 200  # resets the failures
    # §1: the Registry logs each refusal's body and every 2xx answer: nothing secret there.
    assert len(registry.log) == 3
    for line in registry.log:
        assert PASSWORD not in line and "not-the-password-at-all" not in line and "Traceback" not in line


# ---- nothing secret in the logs ----------------------------------------------------------


def test_logs_never_contain_passwords_or_tokens(contract_gateway):
    """§2.2 (the Registry logs every answer; so must the gateway keep secrets out of its own
    logs). Runs last in this module: everything above has been logged by now."""
    token, _ = _mint(contract_gateway, "alice")
    contract_gateway.authenticate({"token": token})
    # Attempt lines are written by a background thread in batches: wait for them.
    wait_for(lambda: "auth attempt" in contract_gateway.server.log_text(), timeout=30)
    logs = contract_gateway.server.log_text()
    for secret in (PASSWORD, ADMIN_PASSWORD, "not-the-password-at-all", token, token.split(".")[2]):
        assert secret not in logs
