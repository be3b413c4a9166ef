"""Scale-out: two gateway replicas under gunicorn (two workers each), one PostgreSQL, one Redis.

Everything a replica must know about another's work is in the database (users, sessions and
their revocation, signing keys, audit) or in Redis (throttle counters, the single-use marks of
browser login callbacks; the login transaction itself travels sealed in the browser's cookie,
under a key every replica derives from the shared secret); nothing is on a replica's disk or
only in its memory. These tests drive both
replicas over HTTP as a load balancer would and check that:

- an SSO session started on A is honoured by B, and a logout on B ends it on both at once;
- disabling a user through B's admin API refuses their token and password on A at once;
- failed passwords count per account across both replicas (and all their workers);
- a key rotated with ``gateway keys rotate`` is trusted by every replica at once (unknown kid ->
  reload), and every worker signs with it and publishes it within the key cache time;
- a bounded load run survives SIGKILL of replica A mid-run: no 5xx, no lost or half-written
  writes, connection failures only on A;
- Redis down: password and token logins go on unthrottled within the budget, a browser login
  starts but its callback gets a 503 page, and throttling works again when Redis is back (no
  gateway restart);
- PostgreSQL down: both replicas answer 503 within the budget, /healthz stays 200, and logins
  work again when it is back (no gateway restart).

The module runs its own PostgreSQL and Redis (the DB and Redis tests stop them; the session's
servers are shared with other modules) and its own oidc-provider.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import pytest
import requests
import urllib3

from tests.integration.http.test_browser_login import sign_in
from tests.integration.sso.test_sso import browser, set_cookies, sso_login, start_login, xauth_parts
from tests.support.adminapi import AdminClient
from tests.support.harness import PASSWORD
from tests.support.oidcserver import (
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.support.replicas import Replicas, postgres_down, postgres_up, redis_down, redis_up, start_replicas
from tests.support.servers import PostgresServer, RedisServer, free_port, wait_for

pytestmark = pytest.mark.integration

# The time budget (docs/operations.md): database connect 3 s + statement 5 s, Redis 0.5 s a call.
OUTAGE_BUDGET_SECONDS = 10.0
REGISTRY_LOGIN = "http://127.0.0.1:8081/login"
FREE_FAILURES = 4
BASE_DELAY_SECONDS = 30
DENIED = {"error": "invalid credentials"}
UNAVAILABLE = {"error": "service temporarily unavailable"}

PILOTS = [f"pilot-{i:02d}" for i in range(20)]  # good password logins in the load run
TARGETS = [f"wanda-{i:02d}" for i in range(8)]  # wrong passwords in the load run
SEED_USERS = [
    {"username": name} for name in ("dora", "tina", "ursula", "rita", "walt", "vera", "pat", "kim")
] + [{"username": name, "groups": ["load-team"]} for name in PILOTS + TARGETS]


def config(idp: OidcProviderServer) -> str:
    return f"""
providers:
  - id: local
    type: local
    hashing: {{time_cost: 1, memory_cost_kib: 8192}}   # light: the load run hashes a lot
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: registry-gateway
    client_secret: ${{CORP_CLIENT_SECRET}}
    scopes: [openid, profile, email, groups]
sso:
  registry_login_url: {REGISTRY_LOGIN}
throttle:
  free_failures: {FREE_FAILURES}
  base_delay_seconds: {BASE_DELAY_SECONDS}
  max_delay_seconds: 120
  window_seconds: 600
mapping:
  default_roles: [user]
  expose: [email]
  rules:
    - name: admins
      match: {{group: registry-admins}}
      roles: [admin]
"""


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ports():
    return [free_port(), free_port()]


@pytest.fixture(scope="module")
def idp(tmp_path_factory, ports):
    public = f"http://127.0.0.1:{ports[0]}"  # the replicas' shared public URL
    client = default_client(
        [f"{public}/sso/callback/corp"], post_logout_redirect_uris=[f"{public}/sso/signed-out"]
    )
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("scale-idp"), clients=[client], users=default_users()
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """This module's own PostgreSQL: the outage test stops it and brings it back."""
    server = PostgresServer.start(tmp_path_factory.mktemp("scale-pg"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """This module's own Redis: the outage test stops it and brings it back."""
    server = RedisServer.start(tmp_path_factory.mktemp("scale-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, idp, ports, postgres, redis_server):
    replicas = start_replicas(
        tmp_path_factory.mktemp("scale-out"),
        config(idp),
        database_url=postgres.create_database("scale_out"),
        redis_url=redis_server.url,
        users=SEED_USERS,
        ports=ports,
        extra={"CORP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET},
    )
    replicas.database_name = "scale_out"
    yield replicas
    replicas.stop()


@pytest.fixture
def pair(cluster, postgres, redis_server) -> Replicas:
    """Both replicas running on an available database and Redis (whatever an earlier test did)."""
    postgres_up(postgres)
    redis_up(redis_server)
    cluster.ensure_running()
    return cluster


# ---- helpers ---------------------------------------------------------------------------------


def auth(replica, timeout=30, **fields) -> requests.Response:
    return requests.post(
        f"{replica.url}/api/authenticate",
        data=fields,
        headers={"Accept": "application/json"},
        timeout=timeout,
    )


def timed(call, *args, **kwargs):
    """``call(*args, **kwargs)`` and the seconds it took."""
    started = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - started


def mint(replicas: Replicas, *usernames: str) -> list[str]:
    """Registry tokens (what the xAuthToken cookie carries), each bound to a new session, made
    in-process on the shared database, as any replica would."""

    services = replicas.a.services()
    try:
        tokens = []
        for username in usernames:
            identity = services.user_operations().identity(username)
            session = services.sso.open_session(identity)
            tokens.append(services.sso.mint_for(session))
        return tokens
    finally:
        services.close()


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def jwks_kids(replica) -> set[str]:
    response = requests.get(f"{replica.url}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


def sql(postgres: PostgresServer, query: str, *args):
    with postgres.connect("scale_out") as connection:
        return connection.execute(query, args or None).fetchall()


# ---- 1. SSO sessions -------------------------------------------------------------------------


def test_sso_session_from_a_is_honoured_by_b_and_a_logout_on_b_ends_it_everywhere(pair, idp):
    a, b = pair.a, pair.b
    session, callback = sso_login(a, idp, username="alice")
    assert callback.status_code == 302, callback.text
    token, logout_url = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    assert logout_url == f"{pair.public_url}/sso/logout"
    for replica in (b, a, b, a):  # two workers each: more than one request per replica
        answer = auth(replica, token=token)
        assert answer.status_code == 200, (replica.name, answer.text)
        assert answer.json()["username"] == "alice"

    # The Registry's page loads the logout URL; the load balancer sends it to B.
    logout = session.get(f"{b.url}{urlsplit(logout_url).path}", timeout=10)
    assert logout.status_code == 200
    assert set_cookies(logout)["xAuthToken"]["value"] == ""
    logged_out = time.monotonic()
    delays = {}
    for replica in (a, b):
        answers = [auth(replica, token=token) for _ in range(4)]
        delays[replica.name] = time.monotonic() - logged_out
        # No revocation cache on PostgreSQL: the very first check after the logout refuses it.
        assert [(r.status_code, r.json()) for r in answers] == [(401, DENIED)] * 4, replica.name
    print(
        f"\nrevocation after logout on B: refused at once on A and B "
        f"(first checks done {delays['A'] * 1000:.0f} ms / {delays['B'] * 1000:.0f} ms after)"
    )


def test_sso_login_started_on_a_can_finish_on_b_exactly_once(pair, idp):
    """The login transaction (state, nonce, PKCE verifier) is sealed in the browser's cookie
    under a key both replicas derive from the shared secret, so the IdP's redirect back may reach
    any replica; its single-use mark is in Redis, so a replayed callback is refused by every
    replica, even one that brings the transaction cookie along again."""
    a, b = pair.a, pair.b
    session = browser()
    started = start_login(a, session)
    assert started.status_code == 302
    (sealed,) = [c for c in session.cookies if c.name.startswith("gw_sso_")]
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    assert callback_url.startswith(f"{pair.public_url}/sso/callback/corp?")
    on_b = session.get(callback_url.replace(pair.public_url, b.url), allow_redirects=False, timeout=10)
    assert on_b.status_code == 302 and on_b.headers["Location"] == REGISTRY_LOGIN
    token, _ = xauth_parts(set_cookies(on_b)["xAuthToken"]["value"])
    assert auth(a, token=token).status_code == 200
    session.cookies.set_cookie(sealed)  # the callback expired it; bring it back for the replay
    for replica in (a, b):
        replay = session.get(
            callback_url.replace(pair.public_url, replica.url), allow_redirects=False, timeout=10
        )
        assert replay.status_code == 400 and "already used" in replay.text, replica.name


# ---- 2. disabling a user ---------------------------------------------------------------------


def test_user_disabled_on_b_is_refused_on_a_at_once(pair):
    a, b = pair.a, pair.b
    assert auth(a, username="dora", password=PASSWORD).status_code == 200  # the Registry's way
    # A password user's Registry token: the browser sign-in form on A hands one over in the
    # xAuthToken cookie, as SSO does.
    signed_in = browser()
    form = sign_in(a, "dora", PASSWORD, session=signed_in)
    assert form.status_code == 303, form.text
    token, _ = xauth_parts(set_cookies(form)["xAuthToken"]["value"])
    assert auth(a, token=token).status_code == 200 and auth(b, token=token).status_code == 200
    assert signed_in.get(f"{b.url}/account", allow_redirects=False, timeout=10).status_code == 200
    own_api = AdminClient.login(a.url, "dora", PASSWORD)  # an admin API session made on A
    assert own_api.get("/me").status_code == 200

    admin_on_b = AdminClient.login(b.url)
    disabled = admin_on_b.put("/users/dora", json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    done = time.monotonic()
    for replica in (a, a, b):
        refused = auth(replica, token=token)
        assert (refused.status_code, refused.json()) == (401, DENIED), replica.name
        # The right password of a disabled account: 403 (docs/getting-started.md: "right password but not
        # allowed"); a wrong one stays the 401 everyone gets.
        denied = auth(replica, username="dora", password=PASSWORD)
        assert (denied.status_code, denied.json()) == (403, {"error": "access denied"}), replica.name
        assert auth(replica, username="dora", password="not-her-password").status_code == 401
    assert AdminClient(a.url, own_api.token).get("/me").status_code == 401
    assert signed_in.get(f"{a.url}/account", allow_redirects=False, timeout=10).status_code == 303
    print(
        f"\nuser disabled on B: refused on A at once ({(time.monotonic() - done) * 1000:.0f} ms "
        "for all checks)"
    )


# ---- 3. throttling ---------------------------------------------------------------------------


def test_failed_passwords_count_across_both_replicas(pair):
    a, b = pair.a, pair.b
    # Alternating, each replica alone sees at most 3 of the 5 failures: below the free 4 a
    # replica (or a worker) counting on its own would allow. Only a shared count locks.
    for attempt in range(FREE_FAILURES + 1):
        replica = (a, b)[attempt % 2]
        answer = auth(replica, username="tina", password=f"wrong-password-{attempt}")
        assert answer.status_code == 401, (attempt, replica.name, answer.text)
    for replica, password in ((b, "wrong-again"), (a, PASSWORD), (b, PASSWORD)):
        locked = auth(replica, username="tina", password=password)
        assert locked.status_code == 429, (replica.name, locked.text)
        assert 1 <= int(locked.headers["Retry-After"]) <= BASE_DELAY_SECONDS
    # Per account: another account on the same replicas is not affected.
    for replica in (a, b):
        assert auth(replica, username="ursula", password=PASSWORD).status_code == 200
    assert auth(b, username="ursula", password="wrong-password").status_code == 401


# ---- 4. key rotation -------------------------------------------------------------------------


def test_key_rotated_by_the_cli_is_trusted_by_both_replicas(pair, idp, postgres):
    a, b = pair.a, pair.b
    services = a.services()
    cache_seconds = services.keyring.cache_seconds
    services.close()
    (old_token,) = mint(pair, "kim")
    old_kid = kid_of(old_token)
    signed_in, _ = sso_login(a, idp, username="alice")  # a browser signed in on A

    rotated = pair.cli("keys", "rotate")
    rotated_at = time.monotonic()
    assert rotated.returncode == 0, rotated.stderr
    active = sql(postgres, "SELECT kid FROM signing_keys WHERE retired_at IS NULL")
    assert len(active) == 1 and active[0][0] != old_kid, active
    new_kid = active[0][0]

    # A token signed with the new key verifies at once on both replicas (unknown kid: reload),
    # and tokens signed with the old key keep verifying.
    (new_token,) = mint(pair, "kim")
    assert kid_of(new_token) == new_kid
    for replica in (b, a, b, a):
        assert auth(replica, token=new_token).status_code == 200, replica.name
        assert auth(replica, token=old_token).status_code == 200, replica.name

    # Every worker signs with the new key and publishes it once its key cache has expired.
    first_seen: dict[str, float] = {}
    minted_by_a = None
    deadline = rotated_at + cache_seconds + 5
    while time.monotonic() < deadline and not {"A", "B", "A mints"} <= first_seen.keys():
        if minted_by_a is None:
            fresh = signed_in.get(f"{a.url}/sso/continue", allow_redirects=False, timeout=10)
            token, _ = xauth_parts(set_cookies(fresh)["xAuthToken"]["value"])
            if kid_of(token) == new_kid:
                minted_by_a, first_seen["A mints"] = token, time.monotonic() - rotated_at
        for replica in (a, b):
            if replica.name not in first_seen and new_kid in jwks_kids(replica):
                first_seen[replica.name] = time.monotonic() - rotated_at
        time.sleep(0.25)
    assert minted_by_a is not None, f"A still signs with the old key {cache_seconds} s after rotation"
    assert auth(b, token=minted_by_a).status_code == 200
    time.sleep(max(0.0, rotated_at + cache_seconds + 1 - time.monotonic()))
    for replica in (a, b, a, b, a, b, a, b):
        assert {old_kid, new_kid} <= jwks_kids(replica), replica.name
    print(
        "\nkey rotation: new key first seen (s after rotation): "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(first_seen.items()))
        + f"; every worker by {cache_seconds:.0f} s (KeyRing cache)"
    )


# ---- 5. a load run with a replica killed -----------------------------------------------------

TOTAL_REQUESTS = 600
KILL_AFTER = TOTAL_REQUESTS // 3
THREADS = 8


@dataclass
class Outcome:
    index: int
    kind: str  # login | wrong | token | write
    replica: str  # A | B
    started: float
    ended: float = 0.0
    status: int | None = None
    error: str | None = None  # refused | lost | timeout | other:...
    body: str = ""


def classify(error: Exception) -> str:
    """refused: the connection was never made (nothing sent); lost: the connection broke after
    the request was sent (in flight on the killed replica); timeout: a hang."""
    if isinstance(error, requests.exceptions.Timeout):
        return "timeout"
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return "refused"
        pending += [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *[arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)],
        ]
    if isinstance(
        error, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):  # cut off mid-answer
        return "lost"
    return f"other:{type(error).__name__}"


def write_password(name: str) -> str:
    """A password the policy takes (it must not contain the username), different per user."""
    return "amber-sparrow-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def create_user(base_url: str, admin_token: str, name: str) -> requests.Response:
    return requests.post(
        f"{base_url}/admin/api/users",
        json={
            "userName": name,
            "password": write_password(name),
            "email": f"{name}@example.org",
            "groups": ["load-team"],
        },
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=(5, 30),
    )


def test_load_run_with_replica_a_killed_loses_nothing(pair, postgres):
    a, b = pair.a, pair.b
    admin_token = AdminClient.login(b.url).token
    tokens = mint(pair, *PILOTS[:10])
    rng = random.Random(20240611)
    kinds = ["login"] * 210 + ["wrong"] * 60 + ["token"] * 210 + ["write"] * 120
    assert len(kinds) == TOTAL_REQUESTS
    rng.shuffle(kinds)
    writes: dict[int, str] = {}
    plan = []
    for index, kind in enumerate(kinds):
        replica = (a, b)[index % 2]
        if kind == "write":
            writes[index] = f"load-user-{len(writes):03d}"
        plan.append((index, kind, replica))

    outcomes: list[Outcome] = []
    lock = threading.Lock()
    done_count = [0]
    kill_now, killed = threading.Event(), threading.Event()
    kill_window: dict[str, float] = {}

    def send(index: int, kind: str, replica) -> requests.Response:
        if kind == "login":
            return auth(replica, timeout=(5, 30), username=rng_choice(PILOTS, index), password=PASSWORD)
        if kind == "wrong":
            return auth(
                replica,
                timeout=(5, 30),
                username=rng_choice(TARGETS, index),
                password=f"wrong-{index}-password",
            )
        if kind == "token":
            return auth(replica, timeout=(5, 30), token=rng_choice(tokens, index))
        return create_user(replica.url, admin_token, writes[index])

    def run(item) -> None:
        index, kind, replica = item
        outcome = Outcome(index, kind, replica.name, time.monotonic())
        try:
            response = send(index, kind, replica)  # a new connection each time: no keep-alive
            outcome.status, outcome.body = response.status_code, response.text[:200]
        except Exception as error:
            outcome.error = classify(error)
        outcome.ended = time.monotonic()
        with lock:
            outcomes.append(outcome)
            done_count[0] += 1
            if done_count[0] == KILL_AFTER:
                kill_now.set()

    def killer() -> None:
        kill_now.wait()
        kill_window["start"] = time.monotonic()
        a.kill()  # SIGKILL: gunicorn master and workers
        # Until the last process holding the listening socket is gone, the kernel still
        # completes handshakes (and then resets them): the kill ends when A refuses.
        wait_for(lambda: refuses(a.port), timeout=10, interval=0.01)
        kill_window["end"] = time.monotonic()
        killed.set()

    killer_thread = threading.Thread(target=killer, daemon=True)
    killer_thread.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(run, plan))
        elapsed = time.monotonic() - started
        assert killed.wait(30), "replica A was never killed"
        kill_start, kill_end = kill_window["start"], kill_window["end"]

        def by(**match):
            return [o for o in outcomes if all(getattr(o, k) == v for k, v in match.items())]

        in_flight_at_kill = [
            o for o in by(replica="A") if o.started < kill_end and (o.error == "lost" or o.ended > kill_start)
        ]
        refused, lost = by(replica="A", error="refused"), by(replica="A", error="lost")
        counts = {
            "requests": len(outcomes),
            "seconds": round(elapsed, 1),
            "kill to refusing (ms)": round((kill_end - kill_start) * 1000),
            "A answered": len([o for o in by(replica="A") if o.status]),
            "B answered": len([o for o in by(replica="B") if o.status]),
            "A in flight at kill": len(in_flight_at_kill),
            "A lost in flight": len(lost),
            "A refused (not sent)": len(refused),
            **{
                f"{kind} {status}": len([o for o in by(kind=kind) if o.status == status])
                for kind, status in (
                    ("login", 200),
                    ("wrong", 401),
                    ("wrong", 429),
                    ("token", 200),
                    ("write", 201),
                )
            },
        }
        print("\nload run:", counts)

        # No 5xx anywhere; no connection trouble on B; no hang anywhere.
        assert [(o.replica, o.kind, o.status, o.body) for o in outcomes if o.status and o.status >= 500] == []
        assert [(o.kind, o.error) for o in by(replica="B") if o.error] == []
        assert [o.error for o in outcomes if o.error not in (None, "refused", "lost")] == []
        # A failed only from the kill on: in flight then, or refused afterwards.
        assert all(o.ended >= kill_start for o in by(replica="A") if o.error)
        # (A connection made before A's listening socket was gone may be reset: in flight.)
        assert all(o.started <= kill_end for o in lost), "a connection broke after the kill"
        assert refused, "no request was refused: the kill did not happen mid-run"
        # Every answer is the right one.
        expected = {"login": {200}, "wrong": {401, 429}, "token": {200}, "write": {201}}
        assert [
            (o.replica, o.kind, o.status, o.body)
            for o in outcomes
            if o.status and o.status not in expected[o.kind]
        ] == []

        # No write lost, none half-made: retry on B whatever did not get an answer.
        retried = {}
        for outcome in by(kind="write"):
            if outcome.status:
                continue
            again = create_user(b.url, admin_token, writes[outcome.index])
            retried[writes[outcome.index]] = (outcome.error, again.status_code)
            if outcome.error == "refused":  # never sent: the retry must simply work
                assert again.status_code == 201, (writes[outcome.index], again.text)
            else:  # may have been done: then it must be complete
                assert again.status_code in (201, 409), (writes[outcome.index], again.text)
        print(
            "write retries on B:",
            dict(Counter(f"{error} -> {status}" for error, status in retried.values())) or "none needed",
        )

        names = sorted(writes.values())
        local = {
            row[0]
            for row in sql(postgres, "SELECT username FROM local_users WHERE username LIKE 'load-user-%'")
        }
        owned = {
            row[0]
            for row in sql(
                postgres,
                "SELECT username FROM accounts WHERE username LIKE 'load-user-%' AND provider = 'local'",
            )
        }
        members = {
            row[0]
            for row in sql(
                postgres,
                "SELECT u.username FROM local_users u "
                "JOIN local_group_members m ON m.user_id = u.id "
                "JOIN local_groups g ON g.id = m.group_id "
                "WHERE g.name = 'load-team' AND u.username LIKE 'load-user-%'",
            )
        }
        assert local == owned == members == set(names)
        listed = requests.get(
            f"{b.url}/admin/api/users/detailed",
            params={"filter": "load-user-", "limit": 1000},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )
        assert listed.status_code == 200
        assert sorted(u["userName"] for u in listed.json()) == names
        assert all(
            u["provider"] == "local"
            and u["createdAt"]
            and u["groups"] == ["load-team"]
            and u["email"] == f"{u['userName']}@example.org"
            for u in listed.json()
        )
        with ThreadPoolExecutor(4) as pool:
            logins = list(pool.map(lambda n: auth(b, username=n, password=write_password(n)), names))
        assert [(n, r.status_code) for n, r in zip(names, logins, strict=True) if r.status_code != 200] == []
    finally:
        kill_now.set()
        killer_thread.join(30)
        pair.ensure_running()


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def rng_choice(items, index: int):
    return items[(index * 7919) % len(items)]


def test_a_user_creation_cut_short_by_a_kill_is_completed_by_its_retry(pair, postgres):
    """Creating a local user takes more than one commit (the user, then the username's
    ownership). A replica killed between them leaves a user without an owner; the retry (on
    another replica) must not leave it so: it answers 'already exists' and completes it."""
    services = pair.a.services()
    try:
        services.local_users.create(
            "cut-short", write_password("cut-short"), email="cut-short@example.org"
        )  # only the first commit
    finally:
        services.close()
    assert sql(postgres, "SELECT 1 FROM accounts WHERE username = 'cut-short'") == []
    admin = AdminClient.login(pair.b.url)
    again = create_user(pair.b.url, admin.token, "cut-short")
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    assert sql(postgres, "SELECT provider FROM accounts WHERE username = 'cut-short'") == [("local",)]
    person = admin.get("/users/cut-short").json()
    assert person["provider"] == "local" and person["createdAt"]


# ---- 6. Redis down ---------------------------------------------------------------------------


def test_redis_down_logins_go_on_throttled_per_process_browser_callback_is_503(pair, redis_server, idp):
    a, b = pair.a, pair.b
    (token,) = mint(pair, "rita")
    under_way = browser()  # a browser login under way when Redis goes
    started = start_login(a, under_way)
    assert started.status_code == 302
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=under_way
    )
    redis_down(redis_server)
    slowest = 0.0
    try:
        for replica in (a, b):
            for fields in ({"username": "rita", "password": PASSWORD}, {"token": token}):
                answer, elapsed = timed(auth, replica, **fields)
                slowest = max(slowest, elapsed)
                assert answer.status_code == 200, (replica.name, answer.text)
                assert elapsed < OUTAGE_BUDGET_SECONDS
            _, elapsed = timed(AdminClient.login, replica.url)  # /api/token: 200
            assert elapsed < OUTAGE_BUDGET_SECONDS
            started, elapsed = timed(start_login, replica, browser())
            assert started.status_code == 302 and elapsed < OUTAGE_BUDGET_SECONDS  # needs no Redis
            # The callback cannot mark its transaction used: a 503 page, and its cookie is kept.
            page, elapsed = timed(
                under_way.get,
                callback_url.replace(pair.public_url, replica.url),
                allow_redirects=False,
                timeout=10,
            )
            slowest = max(slowest, elapsed)
            assert elapsed < OUTAGE_BUDGET_SECONDS
            assert page.status_code == 503 and page.headers["Retry-After"], page.status_code
            assert page.headers["Content-Type"].startswith("text/html")
            assert "cannot be reached" in page.text
        # Documented: while Redis is away each worker process counts failures itself, so
        # guessing stays throttled (at most as many times looser as there are processes). One
        # kept-alive connection stays on one worker: it sees the lock-out after its own count.
        for replica in (a, b):
            with requests.Session() as pinned:
                answers = [
                    pinned.post(
                        f"{replica.url}/api/authenticate",
                        timeout=10,
                        data={"username": f"walt-{replica.name.lower()}", "password": f"wrong-{attempt}-pw"},
                    )
                    for attempt in range(FREE_FAILURES + 2)
                ]
            statuses = [answer.status_code for answer in answers]
            assert statuses == [401] * (FREE_FAILURES + 1) + [429], (replica.name, statuses)
    finally:
        redis_up(redis_server)
    print(f"\nredis down: slowest answer {slowest:.2f} s; guessing throttled per worker process")
    # Back (empty, as after a restart), without restarting the gateways: shared throttling and
    # browser logins work again.
    for attempt in range(FREE_FAILURES + 1):
        answer = auth((a, b)[attempt % 2], username="vera", password=f"wrong-{attempt}-pw")
        assert answer.status_code == 401, (attempt, answer.text)
    assert auth(b, username="vera", password=PASSWORD).status_code == 429
    assert auth(a, username="vera", password=PASSWORD).status_code == 429
    for replica in (a, b):
        assert start_login(replica, browser()).status_code == 302


# ---- 7. PostgreSQL down ----------------------------------------------------------------------


def test_database_down_is_a_503_within_budget_on_both_and_recovers(pair, postgres):
    a, b = pair.a, pair.b
    (token,) = mint(pair, "pat")
    for replica in (a, b):
        assert auth(replica, token=token).status_code == 200
    postgres_down(postgres)
    try:
        slowest = 0.0
        for replica in (a, b, a, b):
            for fields in ({"username": "pat", "password": PASSWORD}, {"token": token}):
                answer, elapsed = timed(auth, replica, **fields)
                slowest = max(slowest, elapsed)
                assert answer.status_code == 503, (replica.name, fields.keys(), answer.text)
                assert answer.json() == UNAVAILABLE
                assert int(answer.headers["Retry-After"]) > 0
                assert elapsed < OUTAGE_BUDGET_SECONDS, (replica.name, elapsed)
            health = requests.get(f"{replica.url}/healthz", timeout=5)
            assert health.status_code == 200
    finally:
        postgres_up(postgres)
    back = time.monotonic()
    recovered = {}
    for replica in (a, b):
        wait_for(
            lambda replica=replica: (
                auth(replica, username="pat", password=PASSWORD).status_code == 200
                and auth(replica, token=token).status_code == 200
            ),
            timeout=20,
            interval=0.2,
            message=f"replica {replica.name} did not recover",
        )
        recovered[replica.name] = time.monotonic() - back
    for replica in (a, b, a, b):  # every worker, not just the first one asked
        assert auth(replica, token=token).status_code == 200
    print(
        f"\ndatabase down: slowest 503 {slowest:.2f} s; logins again after "
        + ", ".join(f"{k} {v:.1f} s" for k, v in recovered.items())
    )
