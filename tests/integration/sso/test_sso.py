"""Browser single sign-on and IdP tokens over HTTP, against a real oidc-provider and the gateway
under gunicorn: on the embedded default (one worker, in-process state) and on PostgreSQL + Redis
with two workers (requests landing on either worker). A login transaction travels sealed in its
own cookie; the state store only holds the single-use marker each callback writes.

Driven with requests, so every header and cookie attribute is visible; the browser test
(test_sso_browser.py) runs the same dance in Chromium. Contract lines: registry-contract.md §2
(answer types), §3 (the xAuthToken cookie, the logout page).
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.login.credchanges import record_change
from gateway.sso.service import transaction_tag
from tests.support.harness import ADMIN_PASSWORD, start_gateway
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_RESOURCE,
    DEFAULT_RESOURCE_SERVERS,
    OidcProviderServer,
    default_client,
    default_users,
    pkce_pair,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

REGISTRY_LOGIN = "http://127.0.0.1:8081/login"  # same host as the gateway: host-only cookie
OTHER_NEXT = "http://127.0.0.1:8081/other"
DIRECT_REDIRECT = "http://127.0.0.1:9/direct-callback"  # for tokens fetched straight from the IdP
KC_CLIENT_ID = "keycloak-style"
KC_CLIENT_SECRET = "keycloak-style-Secret-0123456789"
OPAQUE_RESOURCE = "https://registry.test/opaque"
BACKENDS = ("sqlite-memory", "postgres-redis")
FROZEN_REDIS = "frozen-redis"  # the port of the gateway test_a_frozen_redis_... starts itself


def _users() -> list[dict]:
    users = default_users()  # alice (registry-admins, survey-north; verified), bob (unverified)
    users += [
        {
            "sub": "f3b0c1d2-0003-4a00-9000-000000000003",
            "preferred_username": "carol",
            "password": DEFAULT_PASSWORD,
            "email": "carol@example.test",
            "email_verified": True,
            "name": "Carol Keycloak",
            "groups": "survey-north",
            "realm_access": {"roles": ["registry-admin", "offline_access"]},
        },
        {
            "sub": "f3b0c1d2-0004-4a00-9000-000000000004",
            "preferred_username": "mallory",
            "password": DEFAULT_PASSWORD,
            "email": "mallory@example.test",
            "email_verified": True,
            "groups": ["survey-north"],
        },
        {
            "sub": "f3b0c1d2-0005-4a00-9000-000000000005",
            "preferred_username": "Not Canonical!",
            "password": DEFAULT_PASSWORD,
            "email": "nc@example.test",
            "email_verified": True,
        },
        {
            "sub": "f3b0c1d2-0006-4a00-9000-000000000006",
            "preferred_username": "admin",
            "password": DEFAULT_PASSWORD,
            "email": "self-registered@example.test",
            "email_verified": True,
            "groups": ["registry-admins"],
        },
    ]
    return users


@pytest.fixture(scope="module")
def ports():
    return {name: free_port() for name in (*BACKENDS, FROZEN_REDIS)}


@pytest.fixture(scope="module")
def idp(tmp_path_factory, ports):
    callbacks = [
        f"http://127.0.0.1:{port}/sso/callback/{provider}"
        for port in ports.values()
        for provider in ("corp", "kc")
    ]
    signed_out = [f"http://127.0.0.1:{port}/sso/signed-out" for port in ports.values()]
    clients = [
        default_client(callbacks + [DIRECT_REDIRECT], post_logout_redirect_uris=signed_out),
        default_client(callbacks, client_id=KC_CLIENT_ID, client_secret=KC_CLIENT_SECRET),
    ]
    resource_servers = DEFAULT_RESOURCE_SERVERS + [
        {
            "indicator": OPAQUE_RESOURCE,
            "audience": "registry-opaque",
            "scope": "registry:read",
            "access_token_format": "opaque",
        }
    ]
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("sso-idp"), clients=clients, users=_users(), resource_servers=resource_servers
    )
    yield server
    server.stop()


def gateway_config(idp: OidcProviderServer, dead_port: int) -> str:
    return f"""
providers:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: ${{CORP_CLIENT_SECRET}}
    scopes: [openid, profile, email, groups]
    label: Corporate account
    require_email_verified: true
    tokens:
      accept_id_tokens: true
      access_token_audiences: ["{DEFAULT_RESOURCE}"]
      introspection: true
  - id: kc
    type: oidc
    issuer: {idp.issuer}
    client_id: {KC_CLIENT_ID}
    client_secret: {KC_CLIENT_SECRET}
    scopes: [openid, profile, email, groups]
    groups_claim: realm_access.roles
    label: Keycloak realm
  - id: down
    type: oidc
    issuer: http://127.0.0.1:{dead_port}
    client_id: nobody
    client_secret: nothing-here
    timeout_seconds: 1
    tokens: {{accept_id_tokens: true}}
sso:
  registry_login_url: {REGISTRY_LOGIN}
  allowed_next: ["{OTHER_NEXT}"]
  brand: {{name: Example Drone Registry}}
mapping:
  default_roles: [user]
  expose: [email]
  rules:
    - name: admins
      match: {{group: [registry-admins, registry-admin]}}
      roles: [admin]
    - name: survey
      match: {{group: survey-north}}
      roles: [surveyor]
      maxStorageMB: 51200
    - name: no-m-users
      require: {{username_glob: "[!m]*"}}
"""


@pytest.fixture(scope="module", params=BACKENDS)
def gateway(request, tmp_path_factory, idp, ports):
    options = {}
    redis_server = None
    if request.param == "postgres-redis":
        postgres = request.getfixturevalue("postgres_server")
        redis_server = request.getfixturevalue("redis_server")
        options = {"database_url": postgres.create_database("sso_flow"), "redis_url": redis_server.url}
    port = ports[request.param]
    server = start_gateway(
        tmp_path_factory.mktemp(f"sso-{request.param}"),
        gateway_config(idp, free_port()),
        users=[],
        port=port,
        extra={"CORP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        **options,
    )
    server.backend = request.param
    server.redis = redis_server
    yield server
    server.stop()


# ---- helpers -------------------------------------------------------------------------------


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def start_login(gateway, session, provider="corp", **params) -> requests.Response:
    query = f"?{urlencode(params)}" if params else ""
    return session.get(f"{gateway.url}/sso/login/{provider}{query}", allow_redirects=False, timeout=10)


def sso_login(gateway, idp, username="alice", provider="corp", session=None, **params):
    """Run the whole browser dance; return (session, callback response)."""
    session = session or browser()
    started = start_login(gateway, session, provider, **params)
    assert started.status_code == 302, started.text
    callback_url = idp.login_with_requests(
        started.headers["Location"], username, DEFAULT_PASSWORD, session=session
    )
    assert callback_url.startswith(f"{gateway.url}/sso/callback/{provider}?"), callback_url
    return session, session.get(callback_url, allow_redirects=False, timeout=10)


def state_of(started: requests.Response) -> str:
    """The ``state`` a login start sent to the IdP."""
    return parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]


def transaction_cookie_name(state: str) -> str:
    return f"gw_sso_{transaction_tag(state)}"


def transaction_cookies(session: requests.Session) -> dict[str, str]:
    """The login transaction cookies a browser holds: name -> sealed value."""
    return {c.name: c.value for c in session.cookies if c.name.startswith("gw_sso_")}


def put_cookie(session: requests.Session, gateway, name: str, value: str) -> None:
    """Give a browser the cookie ``name`` as the gateway would have set it (replacing its own)."""
    host = urlsplit(gateway.url).hostname
    session.cookies.clear_expired_cookies()
    for cookie in [c for c in session.cookies if c.name == name]:
        session.cookies.clear(cookie.domain, cookie.path, cookie.name)
    session.cookies.set(name, value, domain=host, path="/")


def set_cookies(response) -> dict[str, dict]:
    """Every Set-Cookie of a response: name -> {"value", attribute names lower-cased...}."""
    cookies = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            attributes = {key: morsel[key] for key in morsel.keys() if morsel[key]}
            flags = {part.strip().lower() for part in header.split(";")[1:]}
            cookies[name] = {"value": morsel.value, "raw": header, "flags": flags, **attributes}
    return cookies


def xauth_parts(cookie_value: str) -> tuple[str, str]:
    """What the Registry's web client reads (contract §3): decode, split at the first ``|``."""
    token, _, logout_url = unquote(cookie_value).partition("|")
    return token, logout_url


def authenticate(gateway, **fields) -> requests.Response:
    return requests.post(
        f"{gateway.url}/api/authenticate", data=fields, headers={"Accept": "application/json"}, timeout=30
    )


def idp_tokens(idp, username="alice", **extra) -> dict:
    """Tokens fetched straight from the IdP by the default client (as an API client would)."""
    verifier, challenge = pkce_pair()
    url = idp.authorize_url(
        redirect_uri=DIRECT_REDIRECT, code_challenge=challenge, state="s" * 20, nonce="n" * 20, **extra
    )
    callback = idp.login_with_requests(url, username, DEFAULT_PASSWORD)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": DIRECT_REDIRECT,
        "code_verifier": verifier,
    }
    if "resource" in extra:
        data["resource"] = extra["resource"]
    response = requests.post(
        idp.token_endpoint, data=data, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), timeout=10
    )
    response.raise_for_status()
    return response.json()


DENIED = {"error": "invalid credentials"}


# ---- landing page --------------------------------------------------------------------------


def test_landing_page_lists_the_providers_as_buttons(gateway):
    response = requests.get(f"{gateway.url}/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'href="/sso/login/corp"' in response.text and "Corporate account" in response.text
    assert 'href="/sso/login/kc"' in response.text and "Keycloak realm" in response.text
    assert "Example Drone Registry" in response.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert requests.get(f"{gateway.url}/static/gateway.css", timeout=10).status_code == 200


# ---- the whole flow ------------------------------------------------------------------------


def test_login_sets_xauth_cookie_as_the_registry_client_reads_it(gateway, idp):
    _session, callback = sso_login(gateway, idp)
    assert callback.status_code == 302
    assert callback.headers["Location"] == REGISTRY_LOGIN
    cookie = set_cookies(callback)["xAuthToken"]
    assert "httponly" not in cookie["flags"]  # JavaScript must read it
    assert "secure" not in cookie["flags"]  # served over http here
    assert cookie["path"] == "/" and cookie["samesite"] == "Lax"
    raw_value = cookie["raw"].split(";", 1)[0].split("=", 1)[1]
    assert "=" not in raw_value and "|" not in raw_value and ";" not in raw_value
    token, logout_url = xauth_parts(raw_value)
    assert logout_url == f"{gateway.url}/sso/logout"
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["typ"] == "xauth+jwt" and claims["aud"] == "dronedb-registry"
    assert claims["exp"] - claims["iat"] <= 3600

    answer = authenticate(gateway, token=token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == {
        "username": "alice",
        "roles": ["user", "admin", "surveyor"],
        "maxStorageMB": 51200,
        "email": "alice@example.test",
    }
    assert type(body["maxStorageMB"]) is int
    assert re.search(r'"maxStorageMB":\s*51200[,}]', answer.text)  # an integer, not 51200.0


def test_nested_group_claim_maps_roles(gateway, idp):
    _session, callback = sso_login(gateway, idp, username="carol", provider="kc")
    token, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    body = authenticate(gateway, token=token).json()
    assert body["username"] == "carol"
    assert body["roles"] == ["user", "admin"]  # realm_access.roles, not the flat groups claim
    assert "maxStorageMB" not in body


def test_next_from_the_allowlist_is_honoured(gateway, idp):
    _session, callback = sso_login(gateway, idp, next=OTHER_NEXT)
    assert callback.headers["Location"] == OTHER_NEXT


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "/\\evil.example",
        "/%09/evil.example",
        "https://evil.example/login",
        "http://127.0.0.1.evil.example:8081/login",
        "http://127.0.0.1:8081@evil.example/login",
        "http://127.0.0.1:8081/login/../../evil",
        "HTTP://127.0.0.1:8081/login",
        "http://127.0.0.1:8081/login ",
        "http://127.0.0.1:8081/login?x=1",
        "http://127.0.0.1:8081/login#x",
        "http://127.0.0.2:8081/login",
        "",
        "javascript:alert(1)",
    ],
)
def test_open_redirects_are_refused_before_the_idp(gateway, next_url):
    response = start_login(gateway, browser(), next=next_url)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not allowed" in response.text


def test_require_rule_denies_at_the_callback(gateway, idp):
    _session, callback = sso_login(gateway, idp, username="mallory")
    assert callback.status_code == 403
    assert "xAuthToken" not in set_cookies(callback)
    assert "not allowed" in callback.text


def test_unverified_email_is_refused_where_required(gateway, idp):
    _session, callback = sso_login(gateway, idp, username="bob")
    assert callback.status_code == 403
    assert "xAuthToken" not in set_cookies(callback)


def test_username_that_cannot_be_canonical_is_refused(gateway, idp):
    _session, callback = sso_login(gateway, idp, username="Not Canonical!")
    assert callback.status_code == 403
    assert "xAuthToken" not in set_cookies(callback)


# ---- state -----------------------------------------------------------------------------------


def test_login_start_hands_over_the_transaction_in_its_own_cookie(gateway):
    session = browser()
    started = start_login(gateway, session)
    assert started.status_code == 302
    name = transaction_cookie_name(state_of(started))
    cookie = set_cookies(started)[name]
    assert "httponly" in cookie["flags"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert cookie["max-age"] == "600" and "domain" not in cookie
    assert "secure" not in cookie["flags"]  # served over http here (https: Secure, __Host-)
    assert state_of(started) not in cookie["value"] and len(cookie["value"]) < 1200
    assert "gw_binding" not in set_cookies(started)  # the sealed cookie is the binding now


def test_reused_state_is_refused(gateway, idp):
    session = browser()
    started = start_login(gateway, session)
    name = transaction_cookie_name(state_of(started))
    sealed = transaction_cookies(session)[name]
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    done = session.get(callback_url, allow_redirects=False, timeout=10)
    assert done.status_code == 302
    assert set_cookies(done)[name]["value"] == ""  # the callback expires the transaction cookie
    assert name not in transaction_cookies(session)
    replay = session.get(callback_url, allow_redirects=False, timeout=10)
    assert replay.status_code == 400
    assert "xAuthToken" not in set_cookies(replay)
    # Replayed with the cookie kept (copied before the callback): the marker refuses it.
    copied = browser()
    put_cookie(copied, gateway, name, sealed)
    replay = copied.get(callback_url, allow_redirects=False, timeout=10)
    assert replay.status_code == 400 and "already used" in replay.text
    assert "xAuthToken" not in set_cookies(replay)


def test_state_from_another_browser_is_refused(gateway, idp):
    victim, attacker = browser(), browser()
    started = start_login(gateway, attacker)
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=attacker
    )
    # The victim's browser is made to load the attacker's callback (login CSRF).
    response = victim.get(callback_url, allow_redirects=False, timeout=10)  # no cookie at all
    assert response.status_code == 400
    assert "xAuthToken" not in set_cookies(response)
    own = start_login(gateway, victim)  # the victim's own transaction, under its own state
    response = victim.get(callback_url, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "xAuthToken" not in set_cookies(response)
    # The victim's sealed transaction under the name of the attacker's state: foreign.
    put_cookie(
        victim,
        gateway,
        transaction_cookie_name(state_of(started)),
        transaction_cookies(victim)[transaction_cookie_name(state_of(own))],
    )
    response = victim.get(callback_url, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "expired or was already used" in response.text
    assert "xAuthToken" not in set_cookies(response)
    # None of that spent the attacker's transaction: it still signs in only its own browser.
    mine = attacker.get(callback_url, allow_redirects=False, timeout=10)
    assert mine.status_code == 302 and "xAuthToken" in set_cookies(mine)


@pytest.mark.parametrize("tamper", ["flip", "truncate", "other_secret"])
def test_a_tampered_transaction_cookie_is_refused(gateway, idp, tamper):
    session = browser()
    started = start_login(gateway, session)
    name = transaction_cookie_name(state_of(started))
    sealed = transaction_cookies(session)[name]
    if tamper == "flip":
        forged = sealed[:30] + ("A" if sealed[30] != "A" else "B") + sealed[31:]
    elif tamper == "truncate":
        forged = sealed[:-16]
    else:  # sealed under another secret, for this very state
        from gateway.sso.transactions import TransactionSeal

        record = {
            "state": state_of(started),
            "nonce": "n" * 43,
            "code_verifier": "v" * 64,
            "redirect_uri": f"{gateway.url}/sso/callback/corp",
        }
        forged = TransactionSeal("another-secret-of-at-least-32-characters", 600).seal(
            "corp", record, REGISTRY_LOGIN
        )
    put_cookie(session, gateway, name, forged)
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    response = session.get(callback_url, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "expired or was already used" in response.text
    assert "xAuthToken" not in set_cookies(response)


def test_logins_started_in_two_tabs_both_complete(gateway, idp):
    session = browser()
    first, second = start_login(gateway, session), start_login(gateway, session)
    assert len(transaction_cookies(session)) == 2
    first_callback = idp.login_with_requests(
        first.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    second_callback = idp.login_with_requests(
        second.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    for callback_url in (second_callback, first_callback):  # finished in either order
        done = session.get(callback_url, allow_redirects=False, timeout=10)
        assert done.status_code == 302 and done.headers["Location"] == REGISTRY_LOGIN
        token, _ = xauth_parts(set_cookies(done)["xAuthToken"]["value"])
    assert authenticate(gateway, token=token).status_code == 200
    assert transaction_cookies(session) == {}


def test_a_browser_keeps_at_most_five_transaction_cookies(gateway, idp):
    session = browser()
    starts = []
    for _ in range(7):
        starts.append(start_login(gateway, session))
        assert starts[-1].status_code == 302
        assert len(transaction_cookies(session)) <= 5
        time.sleep(0.01)  # issued-at has millisecond resolution
    names = [transaction_cookie_name(state_of(started)) for started in starts]
    assert sorted(transaction_cookies(session)) == sorted(names[2:])  # the two oldest went
    evicted = set_cookies(starts[-1])
    assert evicted[names[1]]["value"] == "" and names[6] in evicted
    oldest = idp.login_with_requests(
        starts[0].headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    assert session.get(oldest, allow_redirects=False, timeout=10).status_code == 400
    newest = idp.login_with_requests(
        starts[-1].headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    assert session.get(newest, allow_redirects=False, timeout=10).status_code == 302


def test_anonymous_login_starts_fill_nothing_and_deny_no_one(gateway, idp):
    """The denial of service this design removes: login starts from clients without cookies
    used to fill a global per-minute cap in the state store and turn everyone's login into a
    503. Now a start writes nothing, and a real login right after still completes."""
    redis = gateway.redis.client(decode_responses=True) if gateway.redis else None
    before = redis.dbsize() if redis else None
    with requests.Session() as flood:
        flood.trust_env = False
        for _ in range(200):
            started = flood.get(f"{gateway.url}/sso/login/corp", allow_redirects=False, timeout=10)
            assert started.status_code == 302
            flood.cookies.clear()  # never send a cookie back
    if redis is not None:
        assert redis.dbsize() <= before
        assert not [key for key in redis.scan_iter("gw:sso:*") if not key.startswith("gw:sso:used:")]
    _session, callback = sso_login(gateway, idp)
    assert callback.status_code == 302 and "xAuthToken" in set_cookies(callback)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?code=abc",
        "?code=abc&state=",
        "?state=" + "x" * 43 + "&code=abc",
        "?state=%00%01&code=abc",
        "?state=" + "y" * 5000,
    ],
)
def test_missing_or_unknown_state_is_refused(gateway, query):
    session = browser()
    start_login(gateway, session)
    response = session.get(f"{gateway.url}/sso/callback/corp{query}", allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


def test_state_of_another_provider_is_refused(gateway, idp):
    session = browser()
    started = start_login(gateway, session, provider="corp")
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    wrong = callback_url.replace("/sso/callback/corp?", "/sso/callback/kc?")
    assert session.get(wrong, allow_redirects=False, timeout=10).status_code == 400


def test_idp_error_answer_is_a_clean_refusal(gateway, idp):
    session = browser()
    started = start_login(gateway, session)
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    response = session.get(
        f"{gateway.url}/sso/callback/corp?error=access_denied&state={state}",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 401
    assert "Sign-in failed" in response.text


def test_an_id_token_for_another_nonce_is_a_clean_refusal(gateway, idp):
    """The ID token must carry the nonce of this transaction: sealed here with another one (as
    only a holder of the server secret could), the callback is a 401 page, never a 500."""
    session = browser()
    started = start_login(gateway, session)
    name = transaction_cookie_name(state_of(started))
    services = gateway.services()
    try:
        seal = services.sso.transactions
        opened = seal.open(transaction_cookies(session)[name])
        put_cookie(
            session,
            gateway,
            name,
            seal.seal(opened.provider, {**opened.transaction, "nonce": "x" * 43}, opened.next_url),
        )
    finally:
        services.close()
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    response = session.get(callback_url, allow_redirects=False, timeout=10)
    assert response.status_code == 401 and "Sign-in failed" in response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "xAuthToken" not in set_cookies(response)


def test_a_hung_idp_at_the_callback_is_a_503_page_within_the_timeout(gateway, idp):
    from providers.oidc.metadata import COLD_RETRY_SECONDS

    session = browser()
    started = start_login(gateway, session)
    callback_url = idp.login_with_requests(
        started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
    )
    idp.pause()
    try:
        began = time.monotonic()
        response = session.get(callback_url, allow_redirects=False, timeout=30)
        elapsed = time.monotonic() - began
    finally:
        idp.resume()
    assert response.status_code == 503 and "cannot be reached" in response.text
    assert response.headers["Retry-After"] and "xAuthToken" not in set_cookies(response)
    # One call to the IdP (the code exchange, or discovery on a worker that has none yet) is
    # bounded by 2 x timeout_seconds (3 s): a hung IdP never hangs the page.
    assert elapsed < 2 * 3 + 2, elapsed
    # A worker that had no discovery yet refuses at once for COLD_RETRY_SECONDS: let that pass
    # before the next test logs in.
    time.sleep(COLD_RETRY_SECONDS + 0.5)


def test_unknown_provider_is_404(gateway):
    assert start_login(gateway, browser(), provider="nope").status_code == 404
    assert start_login(gateway, browser(), provider="local").status_code == 404


# ---- logout -----------------------------------------------------------------------------------


def test_logout_url_ends_the_session_clears_the_cookie_and_may_be_framed(gateway, idp):
    session, callback = sso_login(gateway, idp)
    token, logout_url = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    assert authenticate(gateway, token=token).status_code == 200

    response = session.get(logout_url, timeout=10)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors http://127.0.0.1:8081")
    assert "X-Frame-Options" not in response.headers
    cleared = set_cookies(response)["xAuthToken"]
    assert cleared["value"] == "" and cleared["path"] == "/"
    assert cleared["max-age"] == "0" or "1970" in cleared.get("expires", "")
    # The logout page commits the revocation before it answers: no wait is needed.
    refused = authenticate(gateway, token=token)
    assert refused.status_code == 401 and refused.json() == DENIED


def test_logout_works_from_the_token_cookie_alone(gateway, idp):
    """The Registry's page may only send the shared-domain xAuthToken cookie."""
    _session, callback = sso_login(gateway, idp)
    cookie_value = set_cookies(callback)["xAuthToken"]["value"]
    token, logout_url = xauth_parts(cookie_value)
    response = requests.get(logout_url, cookies={"xAuthToken": cookie_value}, timeout=10)
    assert response.status_code == 200
    assert authenticate(gateway, token=token).status_code == 401


def test_top_level_signout_continues_to_the_idp(gateway, idp):
    session, callback = sso_login(gateway, idp)
    token, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    page = session.get(f"{gateway.url}/", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    assert "Signed in" in page.text
    refused = session.post(
        f"{gateway.url}/sso/signout", data={"csrf_token": "0" * 64}, allow_redirects=False, timeout=10
    )
    assert refused.status_code == 403
    response = session.post(
        f"{gateway.url}/sso/signout", data={"csrf_token": csrf}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == idp.issuer
    assert parse_qs(target.query)["client_id"] == [DEFAULT_CLIENT_ID]
    assert authenticate(gateway, token=token).status_code == 401


def test_disabling_the_user_revokes_their_token(gateway, idp):
    _session, callback = sso_login(gateway, idp, username="carol", provider="kc")
    token, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    assert authenticate(gateway, token=token).status_code == 200
    services = gateway.services()
    try:
        services.user_operations().set_enabled("carol", False)
        assert authenticate(gateway, token=token).status_code == 401
        _s, again = sso_login(gateway, idp, username="carol", provider="kc")
        assert again.status_code == 403
    finally:
        services.user_operations().set_enabled("carol", True)
        services.close()


# ---- app passwords ---------------------------------------------------------------------------


def _csrf(page_text: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page_text).group(1)


def test_app_passwords_for_the_command_line(gateway, idp):
    session, _callback = sso_login(gateway, idp)
    account = session.get(f"{gateway.url}/account", timeout=10)
    assert account.status_code == 200 and "alice" in account.text
    assert '"maxStorageMB": 51200' in html.unescape(account.text)  # what the Registry gets

    no_csrf = session.post(f"{gateway.url}/account/app-passwords", data={"name": "laptop"}, timeout=10)
    assert no_csrf.status_code == 403
    foreign = session.post(
        f"{gateway.url}/account/app-passwords",
        data={"name": "laptop", "csrf_token": _csrf(account.text)},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 403

    created = session.post(
        f"{gateway.url}/account/app-passwords",
        data={"name": "laptop ddb", "expires_days": "30", "csrf_token": _csrf(account.text)},
        timeout=10,
    )
    # POST-redirect-GET: the POST answers a 303; the GET it leads to shows the password once.
    assert [step.status_code for step in created.history] == [303]
    assert created.status_code == 200 and created.url.startswith(f"{gateway.url}/account")
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert password not in created.history[0].headers["Location"]
    assert created.headers["Cache-Control"] == "no-store"
    assert password not in session.get(f"{gateway.url}/account", timeout=10).text  # shown once

    answer = authenticate(gateway, username="alice", password=password)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "username": "alice",
        "roles": ["user", "admin", "surveyor"],
        "maxStorageMB": 51200,
        "email": "alice@example.test",
    }
    listed = session.get(f"{gateway.url}/account", timeout=10).text
    row = listed.split(">laptop ddb</td>", 1)[1].split("</tr>", 1)[0]
    created_at, expires_at, last_used = re.findall(r"<td[^>]*>([^<]*)</td>", row)[:3]
    assert last_used.endswith("UTC") and expires_at != "never"  # used just now; expires in 30 days

    # Wrong app password, another user's name, a plain password: the same 401 as always.
    wrong = password[:-4] + ("AAAA" if not password.endswith("AAAA") else "BBBB")
    for fields in (
        {"username": "alice", "password": wrong},
        {"username": "carol", "password": password},
        {"username": "alice", "password": DEFAULT_PASSWORD},
    ):
        refused = authenticate(gateway, **fields)
        assert (refused.status_code, refused.json()) == (401, DENIED), fields

    public_id = password.split("_")[1]
    revoked = session.post(
        f"{gateway.url}/account/app-passwords/{public_id}/revoke",
        data={"csrf_token": _csrf(listed)},
        allow_redirects=False,
        timeout=10,
    )
    assert revoked.status_code == 303
    assert authenticate(gateway, username="alice", password=password).status_code == 401


def test_disabling_the_user_revokes_app_passwords(gateway, idp):
    session, _callback = sso_login(gateway, idp, username="carol", provider="kc")
    account = session.get(f"{gateway.url}/account", timeout=10)
    created = session.post(
        f"{gateway.url}/account/app-passwords",
        data={"name": "ci", "csrf_token": _csrf(account.text)},
        timeout=10,
    )
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert authenticate(gateway, username="carol", password=password).status_code == 200
    services = gateway.services()
    try:
        services.user_operations().set_enabled("carol", False)
        assert authenticate(gateway, username="carol", password=password).status_code in (401, 403)
        services.user_operations().set_enabled("carol", True)
        assert authenticate(gateway, username="carol", password=password).status_code == 401
    finally:
        services.user_operations().set_enabled("carol", True)
        services.close()
    assert session.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code == 303


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "ok", "expires_days": "-1"},
        {"name": "ok", "expires_days": "0"},
        {"name": "ok", "expires_days": "abc"},
        {"name": "ok", "expires_days": "99999"},
        {"name": "bad\x00name"},
    ],
)
def test_app_password_form_validation(gateway, idp, fields):
    session, _callback = sso_login(gateway, idp)
    account = session.get(f"{gateway.url}/account", timeout=10)
    response = session.post(
        f"{gateway.url}/account/app-passwords", data={**fields, "csrf_token": _csrf(account.text)}, timeout=10
    )
    assert response.status_code == 400
    if "\x00" in fields["name"]:  # refused before any form is read, on every page
        assert "character that is not allowed" in response.text
    else:
        assert 'id="form-error"' in response.text


def test_account_page_needs_a_session(gateway):
    response = requests.get(f"{gateway.url}/account", allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    response = requests.post(
        f"{gateway.url}/account/app-passwords", data={"name": "x"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303


# ---- IdP tokens on the token path ------------------------------------------------------------


def test_idp_id_token_is_accepted(gateway, idp):
    tokens = idp_tokens(idp)
    answer = authenticate(gateway, token=tokens["id_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "alice"
    assert answer.json()["roles"] == ["user", "admin", "surveyor"]


def test_idp_jwt_access_token_is_accepted(gateway, idp):
    tokens = idp_tokens(idp, resource=DEFAULT_RESOURCE)
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    answer = authenticate(gateway, token=tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "alice"


def test_idp_opaque_access_token_is_introspected(gateway, idp):
    tokens = idp_tokens(idp)
    assert tokens["access_token"].count(".") != 2
    answer = authenticate(gateway, token=tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "alice"


def _forge(claims: dict, key, algorithm: str, headers: dict | None = None) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_hostile_idp_tokens_are_refused(gateway, idp):
    real = jwt.decode(idp_tokens(idp)["id_token"], options={"verify_signature": False})
    kid = idp.kids[0]
    now = int(time.time())
    claims = {**real, "iat": now, "exp": now + 300}
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = serialization.load_pem_public_key(
        jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(idp.jwks["keys"][0])).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    own_key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(idp.private_jwks["keys"][0]))
    hostile = {
        "foreign key, same kid": _forge(claims, foreign_key, "RS256", {"kid": kid}),
        "alg none": f"{_b64({'alg': 'none', 'kid': kid})}.{_b64(claims)}.",
        "HS256 with the public key": _forge_hs256(claims, public_pem, kid),
        "expired": _forge({**claims, "iat": now - 7200, "exp": now - 3600}, own_key, "RS256", {"kid": kid}),
        "wrong audience": _forge({**claims, "aud": "someone-else"}, own_key, "RS256", {"kid": kid}),
        "wrong issuer": _forge({**claims, "iss": "http://127.0.0.1:1"}, own_key, "RS256", {"kid": kid}),
        "our typ, IdP issuer": _forge(claims, own_key, "RS256", {"kid": kid, "typ": "xauth+jwt"}),
        "garbage": "not-a-token-at-all",
        "three garbage segments": "a.b.c",
    }
    for name, token in hostile.items():
        answer = authenticate(gateway, token=token)
        assert (answer.status_code, answer.json()) == (401, DENIED), name
    control = _forge(claims, own_key, "RS256", {"kid": kid})
    assert authenticate(gateway, token=control).status_code == 200


def _forge_hs256(claims: dict, secret: bytes, kid: str) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


# ---- the IdP cannot be reached -------------------------------------------------------------


def test_unreachable_idp_is_a_503_page_at_login(gateway):
    started = time.monotonic()
    response = start_login(gateway, browser(), provider="down")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Retry-After" in response.headers
    assert "cannot be reached" in response.text


def test_unreachable_idp_is_a_503_on_the_token_path(gateway, idp):
    dead_issuer = re.search(
        r"issuer: (http://127\.0\.0\.1:\d+)\n    client_id: nobody",
        (gateway.instance_dir / "gateway.yaml").read_text(),
    ).group(1)
    token = f"{_b64({'alg': 'RS256', 'kid': 'k'})}.{_b64({'iss': dead_issuer, 'sub': 'x'})}.c2ln"
    started = time.monotonic()
    answer = authenticate(gateway, token=token)
    assert time.monotonic() - started < 5
    assert answer.status_code == 503
    assert answer.json() == {"error": "service temporarily unavailable"}


def test_password_path_is_unchanged_for_local_users(gateway):
    answer = authenticate(gateway, username="admin", password=ADMIN_PASSWORD)
    assert answer.status_code == 200
    assert "admin" in answer.json()["roles"]


def test_a_stolen_token_cookie_does_not_open_the_account_page(gateway, idp):
    """The token's sid is readable by any script on the shared domain; the session cookie is
    not just that sid."""
    _session, callback = sso_login(gateway, idp)
    token, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    for forged in (sid, f"{sid}.", f"{sid}.{'0' * 64}"):
        response = requests.get(
            f"{gateway.url}/account", cookies={"gw_session": forged}, allow_redirects=False, timeout=10
        )
        assert response.status_code == 303, forged


def test_continue_mints_a_fresh_cookie_for_the_same_session(gateway, idp):
    session, callback = sso_login(gateway, idp)
    first, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    response = session.get(f"{gateway.url}/sso/continue", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"] == REGISTRY_LOGIN
    second, _ = xauth_parts(set_cookies(response)["xAuthToken"]["value"])
    assert second != first
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["sid"] == claims[1]["sid"]
    assert authenticate(gateway, token=second).status_code == 200
    anonymous = requests.get(f"{gateway.url}/sso/continue", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/"


def test_signing_in_again_ends_the_previous_session(gateway, idp):
    session, callback = sso_login(gateway, idp)
    first, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    _session, again = sso_login(gateway, idp, session=session)
    second, _ = xauth_parts(set_cookies(again)["xAuthToken"]["value"])
    assert authenticate(gateway, token=first).status_code == 401
    assert authenticate(gateway, token=second).status_code == 200


def test_an_idp_user_cannot_take_the_admin_username(gateway, idp):
    """A self-registered IdP user named 'admin' must not become the Registry's admin."""
    _session, callback = sso_login(gateway, idp, username="admin")
    assert callback.status_code == 403
    assert "xAuthToken" not in set_cookies(callback)
    token = idp_tokens(idp, username="admin")["id_token"]
    assert authenticate(gateway, token=token).status_code == 403
    assert authenticate(gateway, username="admin", password=ADMIN_PASSWORD).status_code == 200


@pytest.mark.parametrize("cookie", ["abc.\xc3\xa9", "\xff" * 40, "a" * 5000, "x.y.z", "."])
def test_hostile_session_cookies_are_ignored(gateway, cookie):
    raw = cookie.encode().decode("unicode_escape").encode("latin-1")
    for path in ("/", "/account", "/sso/continue", "/sso/logout", "/sso/callback/corp?state=" + "s" * 40):
        response = requests.get(
            f"{gateway.url}{path}",
            headers={"Cookie": b"gw_session=" + raw + b"; gw_binding=" + raw + b"; xAuthToken=" + raw},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code < 500, (path, response.status_code)


def test_hostile_form_fields_are_400_not_500(gateway, idp):
    session, _callback = sso_login(gateway, idp)
    csrf = _csrf(session.get(f"{gateway.url}/account", timeout=10).text)
    url = f"{gateway.url}/account/app-passwords"
    for body in (
        f"name=x&expires_days=%C2%B2&csrf_token={csrf}",
        f"name=x&csrf_token=%C3%A9{csrf}",
        f"name=%FF%FE&csrf_token={csrf}",
        f"name=x&csrf_token={csrf}&csrf_token=1",
    ):
        response = session.post(
            url,
            data=body,
            timeout=10,
            allow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        # 303: created, then shown on the account page (post-redirect-get).
        assert response.status_code in (303, 400, 403), (body, response.status_code)


def _age_idp_snapshot(gateway, username: str, days: int) -> None:
    """Make the gateway's record of ``username``'s last IdP login ``days`` old."""
    from sqlalchemy import update

    from gateway.storage.models import Account

    services = gateway.services()
    try:
        with services.database.session() as db:
            account = db.get(Account, username)
            stale = dict(account.snapshot, recorded_at=time.time() - days * 86400)
            db.execute(update(Account).where(Account.username == username).values(snapshot=stale))
            # This edit stands in for days passing; the gateway's cache of proven logins caps
            # each entry at the snapshot's age limit itself (tests/unit/login/test_credcache.py), so
            # here the edit is announced the way every change in the gateway is.
            record_change(db, username)
    finally:
        services.close()


def test_app_passwords_need_a_recent_browser_login(gateway, idp):
    session, _callback = sso_login(gateway, idp)
    csrf = _csrf(session.get(f"{gateway.url}/account", timeout=10).text)
    created = session.post(
        f"{gateway.url}/account/app-passwords", data={"name": "old laptop", "csrf_token": csrf}, timeout=10
    )
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert authenticate(gateway, username="alice", password=password).status_code == 200
    _age_idp_snapshot(gateway, "alice", days=31)
    refused = authenticate(gateway, username="alice", password=password)
    assert refused.status_code == 403  # the IdP has not seen alice for a month
    sso_login(gateway, idp)  # a browser login refreshes what the gateway knows
    assert authenticate(gateway, username="alice", password=password).status_code == 200


def test_a_frozen_redis_is_a_503_page_for_browser_logins_only(tmp_path, idp, ports, postgres_server):
    """Documented behaviour: a callback spends its transaction with a marker in Redis; while
    Redis hangs a browser login gets a 503 page at the callback within the store's 0.5 s
    timeout (starting one needs no Redis), and password logins go on."""
    from tests.support.servers import RedisServer

    redis_server = RedisServer.start(tmp_path / "redis")
    port = ports[FROZEN_REDIS]
    server = start_gateway(
        tmp_path / "gw",
        gateway_config(idp, free_port()),
        users=[],
        port=port,
        database_url=postgres_server.create_database("sso_redis_outage"),
        redis_url=redis_server.url,
        extra={"CORP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    try:
        session = browser()
        started = start_login(server, session)
        callback_url = idp.login_with_requests(
            started.headers["Location"], "alice", DEFAULT_PASSWORD, session=session
        )
        redis_server.pause()
        assert start_login(server, browser()).status_code == 302
        began = time.monotonic()
        response = session.get(callback_url, allow_redirects=False, timeout=10)
        assert time.monotonic() - began < 5
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert "cannot be reached" in response.text and "xAuthToken" not in set_cookies(response)
        assert authenticate(server, username="admin", password=ADMIN_PASSWORD).status_code == 200
        redis_server.resume()
        # Nothing was spent: once Redis answers, the same callback finishes (exactly once).
        done = session.get(callback_url, allow_redirects=False, timeout=10)
        assert done.status_code == 302 and "xAuthToken" in set_cookies(done)
        assert session.get(callback_url, allow_redirects=False, timeout=10).status_code == 400
    finally:
        redis_server.resume()
        server.stop()
        redis_server.stop()


# ---- app passwords: expiry, deletion, last use, the per-user cap ------------------------------


def _new_app_password(gateway, idp, username="alice", provider="corp", **fields) -> str:
    """Sign in in the browser, create an app password on the account page; return it."""
    session, _callback = sso_login(gateway, idp, username=username, provider=provider)
    csrf = _csrf(session.get(f"{gateway.url}/account", timeout=10).text)
    created = session.post(
        f"{gateway.url}/account/app-passwords", data={"name": "ddb", **fields, "csrf_token": csrf}, timeout=10
    )
    assert [step.status_code for step in created.history] == [303], created.text  # POST-redirect-GET
    return re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)


def _app_password_row(gateway, password, **values):
    """The app password's row in the gateway's database (None once deleted), after setting
    ``values`` on it if any; in-process, as an operator with database access would."""
    from sqlalchemy import update

    from gateway.storage.models import AppPassword

    public_id = password.split("_")[1]
    services = gateway.services()
    try:
        with services.database.session() as db:
            if values:
                db.execute(update(AppPassword).where(AppPassword.id == public_id).values(**values))
                # Stands in for time passing (an expiry reached): announced as a change, as in
                # _age_idp_snapshot.
                record_change(db, db.get(AppPassword, public_id).username)
        with services.database.session() as db:
            return db.get(AppPassword, public_id)
    finally:
        services.close()


def test_an_expired_app_password_is_refused_like_a_wrong_password(gateway, idp):
    from datetime import timedelta

    from providers.sql import utcnow

    password = _new_app_password(gateway, idp, expires_days="1")
    assert authenticate(gateway, username="alice", password=password).status_code == 200
    _app_password_row(gateway, password, expires_at=utcnow() - timedelta(seconds=1))
    expired = authenticate(gateway, username="alice", password=password)
    wrong = authenticate(
        gateway,
        username="alice",
        password=password[:-4] + ("AAAA" if not password.endswith("AAAA") else "BBBB"),
    )
    assert (expired.status_code, expired.json()) == (401, DENIED)
    assert expired.content == wrong.content
    assert (
        authenticate(gateway, username="alice", password=_new_app_password(gateway, idp)).status_code == 200
    )  # alice herself is fine (and unthrottled)


def test_deleting_an_sso_user_ends_their_app_passwords_at_once(gateway, idp):
    from tests.support.adminapi import AdminClient

    password = _new_app_password(gateway, idp, username="bob", provider="kc")
    assert authenticate(gateway, username="bob", password=password).status_code == 200
    admin = AdminClient.login(gateway.url)
    assert admin.delete("/users/bob").status_code == 204
    refused = authenticate(gateway, username="bob", password=password)
    assert (refused.status_code, refused.json()) == (401, DENIED)
    assert _app_password_row(gateway, password) is None
    assert admin.get("/users/bob").status_code == 404
    _session, again = sso_login(gateway, idp, username="bob", provider="kc")
    assert again.status_code == 302  # a new account at the next browser login...
    assert authenticate(gateway, username="bob", password=password).status_code == 401  # ...no old one


def test_a_refused_app_password_login_records_no_use(gateway, idp):
    from datetime import timedelta

    from providers.sql import utcnow

    password = _new_app_password(gateway, idp)
    assert authenticate(gateway, username="alice", password=password).status_code == 200
    long_ago = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
    _app_password_row(gateway, password, last_used_at=long_ago)  # outside the 60 s resolution
    assert authenticate(gateway, username="carol", password=password).status_code == 401
    assert _app_password_row(gateway, password).last_used_at == long_ago
    _age_idp_snapshot(gateway, "alice", days=31)
    assert authenticate(gateway, username="alice", password=password).status_code == 403
    assert _app_password_row(gateway, password).last_used_at == long_ago
    sso_login(gateway, idp)  # a fresh browser login: the app password is accepted again
    assert authenticate(gateway, username="alice", password=password).status_code == 200
    assert _app_password_row(gateway, password).last_used_at > long_ago


def test_concurrent_app_password_creates_never_pass_the_cap(gateway):
    """Two service sets on the gateway's database (PostgreSQL on one backend) stand in for two
    replicas; every thread creates at the same moment."""
    import secrets
    import threading

    from gateway.login.apppasswords import MAX_PER_USER, AppPasswordError

    username = f"cap-{secrets.token_hex(4)}"
    replicas = [gateway.services(), gateway.services()]
    barrier, outcomes = threading.Barrier(MAX_PER_USER + 10), []

    def create(number):
        barrier.wait()
        try:
            replicas[number % 2].app_passwords.create(username, f"p{number}")
            outcomes.append("created")
        except AppPasswordError:
            outcomes.append("refused")
        except Exception as error:
            outcomes.append(repr(error))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(MAX_PER_USER + 10)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["created"] * MAX_PER_USER + ["refused"] * 10, outcomes
        assert len(replicas[0].app_passwords.list(username)) == MAX_PER_USER
    finally:
        replicas[0].app_passwords.revoke_all(username)
        for services in replicas:
            services.close()


# ---- IdP tokens: a hung IdP, tokens longer than 8 KiB ---------------------------------------

HUNG_TIMEOUT_SECONDS = 1


def _hung_idp_config(idp: OidcProviderServer) -> str:
    return f"""
providers:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    timeout_seconds: {HUNG_TIMEOUT_SECONDS}
    tokens: {{accept_id_tokens: true}}
sso:
  registry_login_url: {REGISTRY_LOGIN}
mapping:
  default_roles: [user]
"""


def test_a_hung_idp_is_a_503_on_the_token_path_within_the_budget(tmp_path, idp):
    """Nothing cached yet (a gateway of its own), the IdP stopped mid-way (SIGSTOP): the token
    path needs discovery, then the JWKS, each bounded by 2 x timeout_seconds (docs/operations.md, Time
    budget; providers/oidc/metadata.py), so the answer is a 503 within 2 x 2 x 1 s, never a 401
    or a 500. Asked again at once, it is a 503 without waiting; after resume, the token works."""
    token = idp_tokens(idp)["id_token"]
    port = free_port()
    server = start_gateway(
        tmp_path / "gw",
        _hung_idp_config(idp),
        users=[],
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    try:
        idp.pause()
        try:
            started = time.monotonic()
            first = authenticate(server, token=token)
            first_seconds = time.monotonic() - started
            started = time.monotonic()
            again = authenticate(server, token=token)
            again_seconds = time.monotonic() - started
        finally:
            idp.resume()
        for answer in (first, again):
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"error": "service temporarily unavailable"}
            assert "Retry-After" in answer.headers
        assert HUNG_TIMEOUT_SECONDS * 0.9 <= first_seconds < 2 * 2 * HUNG_TIMEOUT_SECONDS + 1
        assert again_seconds < HUNG_TIMEOUT_SECONDS
        deadline = time.monotonic() + 15  # the IdP is asked again after the 5 s cool-down
        while (
            answer := authenticate(server, token=token)
        ).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
    finally:
        idp.resume()
        server.stop()


def _long_id_token(idp, nonce_chars: int) -> str:
    """An ID token of the IdP, made long by a long nonce (which it echoes), as a token with
    many group claims is long."""
    verifier, challenge = pkce_pair()
    url = idp.authorize_url(
        redirect_uri=DIRECT_REDIRECT, code_challenge=challenge, state="s" * 20, nonce="n" * nonce_chars
    )
    code = parse_qs(urlsplit(idp.login_with_requests(url, "alice", DEFAULT_PASSWORD)).query)["code"][0]
    response = requests.post(
        idp.token_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": DIRECT_REDIRECT,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["id_token"]


def test_an_idp_token_longer_than_8_kib_is_accepted(gateway, idp):
    token = _long_id_token(idp, 9000)
    assert 8192 < len(token) < 16384  # inside the token limit
    answer = authenticate(gateway, token=token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "alice"


@pytest.mark.parametrize("token", ["x" * 12000, "a." + "A" * 12000 + ".c"])
def test_long_garbage_tokens_under_the_limit_are_401(gateway, token):
    answer = authenticate(gateway, token=token)
    assert (answer.status_code, answer.json()) == (401, DENIED)


@pytest.mark.parametrize(
    "token, status",
    [
        ("x" * 16385, 401),
        ("a." + "A" * 16381 + ".c", 401),  # over the token limit
        ("x" * 30000, 413),
        ("a." + "A" * 29996 + ".c", 413),  # over the 20 KiB body limit
    ],
)
def test_over_long_tokens_are_json_errors_never_a_500(gateway, token, status):
    """docs/getting-started.md: a body over 20 KiB is 413 with a short JSON error; a longer token than the
    16384 characters any IdP token may have is refused like any bad token."""
    answer = authenticate(gateway, token=token)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    if status == 401:
        assert answer.json() == DENIED
    else:
        assert set(answer.json()) == {"error"}


# ---- provider names, labels, logos; token-path-only providers --------------------------------


def _provider_buttons(page_html: str) -> dict[str, str]:
    """The landing page's provider buttons: provider id -> the button's HTML."""
    return dict(
        re.findall(r'<a class="button provider" id="provider-([a-z0-9_-]+)"(.*?)</a>', page_html, re.S)
    )


def test_landing_page_names_providers_and_hides_token_only_ones(tmp_path, idp):
    """display_name, label (default ``Sign in with <display name>``), logo_url and the brand are
    rendered; a ``browser_login: false`` provider has no button, cannot start a browser login
    (404), and still accepts its IdP's tokens on the token path."""
    port = free_port()
    config = f"""
providers:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: {KC_CLIENT_ID}
    client_secret: {KC_CLIENT_SECRET}
    display_name: Example Corp
    logo_url: https://cdn.example.test/corp.svg
  - id: staff
    type: oidc
    issuer: {idp.issuer}
    client_id: {KC_CLIENT_ID}
    client_secret: {KC_CLIENT_SECRET}
    display_name: Staff directory
    label: Staff login
    logo_url: https://cdn.example.test/staff.svg
  - id: plain
    type: oidc
    issuer: {idp.issuer}
    client_id: {KC_CLIENT_ID}
    client_secret: {KC_CLIENT_SECRET}
  - id: tokens-only
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    display_name: Hidden IdP
    browser_login: false
    tokens: {{accept_id_tokens: true}}
sso:
  registry_login_url: {REGISTRY_LOGIN}
  brand: {{name: Northern Survey Hub, logo_url: "https://cdn.example.test/hub.png"}}
"""
    server = start_gateway(
        tmp_path, config, users=[], port=port, extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    )
    try:
        text = requests.get(f"{server.url}/", timeout=10).text
        assert "<title>Sign in · Northern Survey Hub</title>" in text
        assert '<img src="https://cdn.example.test/hub.png" alt="" width="32" height="32">' in text
        assert "Choose how you sign in to Northern Survey Hub." in text
        buttons = _provider_buttons(text)
        assert list(buttons) == ["corp", "staff", "plain"]
        # The label names the provider: its logo is decoration (empty alt text).
        assert "<span>Sign in with Example Corp</span>" in buttons["corp"]
        assert (
            '<img src="https://cdn.example.test/corp.svg" alt="" width="24" height="24">' in buttons["corp"]
        )
        # A label of its own: the logo carries the display name.
        assert "<span>Staff login</span>" in buttons["staff"]
        assert 'src="https://cdn.example.test/staff.svg" alt="Staff directory"' in buttons["staff"]
        assert "<span>Sign in with plain</span>" in buttons["plain"] and "<img" not in buttons["plain"]
        assert "tokens-only" not in text and "Hidden IdP" not in text

        hidden = start_login(server, browser(), provider="tokens-only")
        assert hidden.status_code == 404 and "no such sign-in option" in hidden.text
        assert start_login(server, browser(), provider="corp").status_code == 302

        answer = authenticate(server, token=idp_tokens(idp)["id_token"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["username"] == "alice"
    finally:
        server.stop()


def test_idp_plain_jwt_access_token_of_entra_shape_is_accepted(gateway, idp):
    """An access token shaped like Entra ID's (header typ JWT, no payload typ, aud one of the
    provider's ``access_token_audiences``, azp another app, scp), signed with the IdP's real
    key, is accepted over HTTP; the same token for an audience nobody listed is a 401."""
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(idp.private_jwks["keys"][0]))
    alice = default_users()[0]
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "sub": alice["sub"],
        "aud": DEFAULT_RESOURCE,
        "azp": "33333333-cli-app",
        "scp": "registry.read",
        "ver": "2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "preferred_username": "alice",
        "email": alice["email"],
        "email_verified": True,
    }
    headers = {"kid": idp.kids[0], "typ": "JWT"}
    answer = authenticate(gateway, token=jwt.encode(claims, key, algorithm="RS256", headers=headers))
    assert answer.status_code == 200, answer.text
    assert answer.json()["username"] == "alice"
    unlisted = jwt.encode({**claims, "aud": "api://someone-else"}, key, algorithm="RS256", headers=headers)
    assert authenticate(gateway, token=unlisted).status_code == 401


# ---- id_token_hint at the IdP's logout ------------------------------------------------------


def _sealed_id_token_of(gateway, session_id: str):
    """The session's sealed_id_token column, read in-process as an operator could."""
    from sqlalchemy import select

    from gateway.storage.models import SsoSession

    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            return connection.execute(
                select(SsoSession.__table__.c.sealed_id_token).where(SsoSession.__table__.c.id == session_id)
            ).scalar()
    finally:
        services.close()


def test_top_level_signout_sends_the_logins_id_token_as_hint(gateway, idp, monkeypatch):
    """The sign-out's Location carries the ID token the IdP issued for this very login (its
    signature, sub, aud and nonce), the real IdP accepts it and returns the browser to the
    gateway's signed-out page, and the ended session keeps no ID token."""
    authorize_urls = []
    login = idp.login_with_requests

    def login_noting_the_url(url, *args, **kwargs):
        authorize_urls.append(url)
        return login(url, *args, **kwargs)

    monkeypatch.setattr(idp, "login_with_requests", login_noting_the_url)
    session, callback = sso_login(gateway, idp)
    nonce = parse_qs(urlsplit(authorize_urls[-1]).query)["nonce"][0]
    token, _ = xauth_parts(set_cookies(callback)["xAuthToken"]["value"])
    session_id = jwt.decode(token, options={"verify_signature": False})["sid"]
    sealed = _sealed_id_token_of(gateway, session_id)
    assert sealed and "eyJ" not in sealed  # kept, and only encrypted
    page = session.get(f"{gateway.url}/", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)

    response = session.post(
        f"{gateway.url}/sso/signout", data={"csrf_token": csrf}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(idp.end_session_endpoint + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [DEFAULT_CLIENT_ID]
    assert query["post_logout_redirect_uri"] == [f"{gateway.url}/sso/signed-out"]
    hint = query["id_token_hint"][0]
    kid = jwt.get_unverified_header(hint)["kid"]
    key = jwt.PyJWK(next(jwk for jwk in idp.jwks["keys"] if jwk["kid"] == kid))
    claims = jwt.decode(
        hint, key=key, algorithms=[key.algorithm_name], audience=DEFAULT_CLIENT_ID, issuer=idp.issuer
    )
    alice = next(user["sub"] for user in _users() if user["preferred_username"] == "alice")
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (alice, DEFAULT_CLIENT_ID, nonce)
    assert response.content == b""  # the ID token is in Location and nowhere else
    assert all(hint not in value for name, value in response.headers.items() if name != "Location")
    assert _sealed_id_token_of(gateway, session_id) is None  # ended: the ID token is forgotten
    assert authenticate(gateway, token=token).status_code == 401

    # The IdP validates the hint: a tampered one is refused, the real one signs out.
    forged = location.replace(hint, hint[:-4] + ("AAAA" if not hint.endswith("AAAA") else "BBBB"))
    refused = session.get(forged, allow_redirects=False, timeout=10)
    assert refused.status_code == 400 and "id_token_hint" in html.unescape(refused.text)
    back = idp.logout_with_requests(location, session)
    assert back == f"{gateway.url}/sso/signed-out"
    signed_out = session.get(back, allow_redirects=False, timeout=10)
    assert signed_out.status_code == 200
    assert "You are signed out of Example Drone Registry" in signed_out.text
