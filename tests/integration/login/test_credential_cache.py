"""The verified-credentials cache of the Registry's password path (the tile hot path), over
HTTP against the gateway under gunicorn.

- a repeated login is answered from the cache (the ``hit`` metric counts it);
- the cache never answers a wrong password, not even a near one;
- a changed password, a disabled or deleted user, a revoked app password and ended sessions
  are each refused within 1 s on every worker (two workers on the embedded SQLite default) and
  on another replica (two gateways on one PostgreSQL);
- a password changed in the directory is honoured once the LDAP provider's TTL has passed;
- a locked-out account is refused even for a cached login (429), or the cache would tell a
  right guess from a wrong one past the throttle.

Integration tests: real gunicorn, PostgreSQL, Redis and slapd.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.adminapi import ADMIN_CONFIG, PASSWORD, AdminClient, registry_answer, start_admin_gateway
from tests.support.harness import GatewayUnderTest
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration
NEW_PASSWORD = "amber-thicket-63-lighthouse"
WITHIN_SECONDS = 1.0


def _burst(gateway: GatewayUnderTest, username: str, password: str, count: int = 24) -> list[int]:
    """``count`` password-path logins over 6 connections (spread over the workers); statuses."""
    sessions = [requests.Session() for _ in range(6)]

    def one(index: int) -> int:
        return (
            sessions[index % 6]
            .post(
                f"{gateway.url}/api/authenticate",
                timeout=30,
                data={"username": username, "password": password},
            )
            .status_code
        )

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(count)))


def _cache_events(gateway: GatewayUnderTest) -> tuple[float, float]:
    """(hits, misses) counted so far, over every worker."""
    text = requests.get(f"{gateway.url}/metrics", timeout=10).text

    def count(event: str) -> float:
        found = re.search(rf'^gateway_credential_cache_events_total\{{event="{event}"\}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    return count("hit"), count("miss")


def _counted(gateway: GatewayUnderTest, start: tuple[float, float], logins: int) -> tuple[float, float]:
    """Wait until ``logins`` lookups since ``start`` are in the metrics (each worker applies
    its counts in batches); then (hits, misses) among them."""

    def done() -> tuple[float, float] | None:
        hits, misses = _cache_events(gateway)
        delta = (hits - start[0], misses - start[1])
        return delta if sum(delta) >= logins else None

    return wait_for(done, timeout=30, message=f"{logins} cache lookups counted")


def _refused_within(seconds: float, gateways: list[GatewayUnderTest], username: str, password: str) -> None:
    """Every login with these credentials that *starts* more than ``seconds`` after now is
    refused, on every gateway (several connections each, so every worker is asked). Requests
    are timed by when they were sent, so a slow machine cannot make a refusal look late."""
    changed = time.monotonic()
    sessions = [requests.Session() for _ in range(6)]

    def one(index: int) -> tuple[float, int]:
        gateway = gateways[index % len(gateways)]
        sent = time.monotonic() - changed
        status = (
            sessions[index % 6]
            .post(
                f"{gateway.url}/api/authenticate",
                timeout=30,
                data={"username": username, "password": password},
            )
            .status_code
        )
        return sent, status

    late: list[tuple[float, int]] = []
    while True:
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(6 * len(gateways))))
        late += [(sent, status) for sent, status in results if sent > seconds]
        if len(late) >= 6 * len(gateways):
            break
        time.sleep(0.1)
    assert all(status in (401, 403, 429) for _, status in late), late


def _warm(gateways: list[GatewayUnderTest], username: str, password: str) -> None:
    for gateway in gateways:
        assert set(_burst(gateway, username, password)) == {200}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The embedded default: SQLite, no Redis, two worker processes."""
    server = start_admin_gateway(tmp_path_factory.mktemp("cache-sqlite"), workers=2)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres_server, redis_server):
    """Two gateways (two workers each) on one PostgreSQL and one Redis."""
    url = postgres_server.create_database("credential_cache")
    first = start_admin_gateway(
        tmp_path_factory.mktemp("cache-a"), database_url=url, redis_url=redis_server.url
    )
    second = start_admin_gateway(
        tmp_path_factory.mktemp("cache-b"),
        ADMIN_CONFIG,
        users=[],
        database_url=url,
        redis_url=redis_server.url,
    )
    yield first, second
    second.stop()
    first.stop()


def _new_user(admin: AdminClient, name: str) -> None:
    response = admin.post("/users", json={"userName": name, "password": PASSWORD})
    assert response.status_code == 201, response.text


def test_a_repeated_login_is_a_cache_hit_and_a_wrong_password_never_is(gateway):
    # A first burst reaches both workers; each verifies in full what it has not seen yet
    # (six at once can all be first on a worker), so only the second burst is counted.
    start = _cache_events(gateway)
    assert set(_burst(gateway, "alice", PASSWORD, 12)) == {200}
    start = tuple(a + b for a, b in zip(start, _counted(gateway, start, 12), strict=True))
    assert set(_burst(gateway, "alice", PASSWORD, 30)) == {200}
    hits, misses = _counted(gateway, start, 30)
    assert hits >= 24, (hits, misses)
    for wrong in ("not-the-password-at-all", PASSWORD + " ", PASSWORD.upper(), PASSWORD[:-1], ""):
        assert registry_answer(gateway, username="alice", password=wrong).status_code == 401
    # The cached answer is the answer a verified login gives.
    fresh = registry_answer(gateway, username="alice", password=PASSWORD).json()
    assert fresh["username"] == "alice" and isinstance(fresh["roles"], list)


def _reset_password(admin, name):
    assert admin.put(f"/users/{name}/changepwd", json={"newPassword": NEW_PASSWORD}).status_code == 204


def _disable(admin, name):
    assert admin.put(f"/users/{name}", json={"enabled": False}).status_code == 200


def _delete(admin, name):
    assert admin.delete(f"/users/{name}").status_code == 204


def _end_sessions(admin, name):
    assert admin.delete("/sessions", params={"username": name}).status_code == 200


@pytest.mark.parametrize("change", [_reset_password, _disable, _delete])
def test_a_change_is_refused_within_a_second_on_every_worker(gateway, change):
    admin = AdminClient.login(gateway.url)
    name = f"w{change.__name__.strip('_').replace('_', '')[:12]}"
    _new_user(admin, name)
    _warm([gateway], name, PASSWORD)
    change(admin, name)
    _refused_within(WITHIN_SECONDS, [gateway], name, PASSWORD)


@pytest.mark.parametrize("change", [_reset_password, _disable, _delete])
def test_a_change_on_one_replica_is_refused_within_a_second_on_the_other(replicas, change):
    first, second = replicas
    admin = AdminClient.login(first.url)
    name = f"r{change.__name__.strip('_').replace('_', '')[:12]}"
    _new_user(admin, name)
    own = AdminClient.login(first.url, name, PASSWORD)
    app_password = own.post("/me/app-passwords", json={"name": "qgis"}).json()["secret"]
    _warm([first, second], name, PASSWORD)
    _warm([first, second], name, app_password)
    change(admin, name)
    _refused_within(WITHIN_SECONDS, [first, second], name, PASSWORD)
    _refused_within(WITHIN_SECONDS, [first, second], name, app_password)


def test_ended_sessions_are_refused_within_a_second_on_the_other_replica(replicas):
    from tests.support.adminapi import registry_token

    first, second = replicas
    admin = AdminClient.login(first.url)
    _new_user(admin, "sena")
    token = registry_token(first, "sena")
    for gateway in (first, second):
        assert registry_answer(gateway, token=token).status_code == 200
    _end_sessions(admin, "sena")
    # Each request is timed by when it was sent (a slow answer on a loaded machine does not
    # make a refusal late): one sent after the bound and still accepted fails the test.
    ended = time.monotonic()
    while True:
        answers = []
        for gateway in (first, second):
            sent = time.monotonic() - ended
            answers.append((sent, registry_answer(gateway, token=token).status_code))
        if all(status == 401 for _, status in answers):
            break
        assert all(status == 401 for sent, status in answers if sent >= WITHIN_SECONDS), answers
        time.sleep(0.05)


def test_a_revoked_app_password_is_refused_within_a_second_everywhere(replicas):
    first, second = replicas
    admin = AdminClient.login(first.url)
    _new_user(admin, "ripley")
    own = AdminClient.login(first.url, "ripley", PASSWORD)
    created = own.post("/me/app-passwords", json={"name": "qgis"}).json()
    _warm([first, second], "ripley", created["secret"])
    assert own.delete(f"/me/app-passwords/{created['id']}").status_code == 204
    _refused_within(WITHIN_SECONDS, [first, second], "ripley", created["secret"])


def test_ended_sessions_end_cached_logins_too(gateway):
    # "End sessions" is what an admin does when an account may be in other hands: logins the
    # cache proved earlier must be proven again (the password still works once verified).
    admin = AdminClient.login(gateway.url)
    _new_user(admin, "sid")
    start = _cache_events(gateway)
    _warm([gateway], "sid", PASSWORD)
    start = tuple(a + b for a, b in zip(start, _counted(gateway, start, 24), strict=True))
    _end_sessions(admin, "sid")
    assert registry_answer(gateway, username="sid", password=PASSWORD).status_code == 200
    hits, _ = _counted(gateway, start, 1)
    assert hits == 0  # verified again, not answered from the cache


def test_a_locked_out_account_is_refused_even_when_cached(gateway):
    _warm([gateway], "carol", PASSWORD)
    for _ in range(6):
        assert (
            registry_answer(gateway, username="carol", password="not-the-password-at-all").status_code == 401
        )
    refused = registry_answer(gateway, username="carol", password=PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"]


def test_a_directory_password_change_is_honoured_after_the_ttl(tmp_path, contract_slapd):
    from tests.integration.conftest import ldap_contract_config
    from tests.support import ldapdata

    config = ldap_contract_config(contract_slapd).replace(
        "credential_cache_seconds: 1", "credential_cache_seconds: 2"
    )
    gateway = start_admin_gateway(tmp_path, config, users=[])
    user_dn, old = ldapdata.contract_user_dn("frank"), PASSWORD
    try:
        assert set(_burst(gateway, "frank", old, 12)) == {200}
        changed_at = time.monotonic()
        contract_slapd.modify_ldif(
            f"dn: {user_dn}\nchangetype: modify\nreplace: userPassword\n"
            f"userPassword: {ldapdata.ssha(NEW_PASSWORD)}\n"
        )
        # Within the TTL the cached login may still be answered; after it, never.
        time.sleep(max(0.0, 2.2 - (time.monotonic() - changed_at)))
        # (Three tries: below the free failures, so the throttle does not hide the answer.)
        assert set(_burst(gateway, "frank", old, 3)) == {401}
        assert set(_burst(gateway, "frank", NEW_PASSWORD, 6)) == {200}
    finally:
        contract_slapd.modify_ldif(
            f"dn: {user_dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {ldapdata.ssha(old)}\n"
        )
        gateway.stop()
