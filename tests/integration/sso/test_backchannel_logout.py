"""OpenID Connect Back-Channel Logout 1.0 (issue 15: OIDC users between logins), against a real
oidc-provider with its ``backchannelLogout`` feature, the gateway under gunicorn and the
Registry stand-in linked both ways: one gunicorn worker on the embedded default, and two
workers on PostgreSQL + Redis.

A person signs in through the gateway's browser SSO and at the Registry; signing out at the IdP
(RP-initiated logout, which makes oidc-provider post a logout token to the gateway before it
answers) ends the gateway session, so the Registry's token path refuses the gateway token, and,
for the provider configured ``on_logout: deactivate``, the Registry refuses the person's
Registry token and its refresh within 2 s; their next login gives their roles back; their app
passwords keep working (``revoke_app_passwords`` is off). The ``plain`` provider's client is
registered without ``backchannel_logout_session_required``, so its logout tokens carry ``sub``
only: every session of that person at that provider ends, the Registry is left alone
(``on_logout: end_sessions``), and their app passwords are revoked (``revoke_app_passwords``).

The validation table posts logout tokens signed with the IdP's own key (and some that are not)
straight to the endpoint: each bad one is a 400 JSON error with ``Cache-Control: no-store``,
never a 500, and a replayed ``jti`` is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import unquote

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from tests.support.adminapi import AdminClient
from tests.support.harness import ADMIN_PASSWORD, CONTRACT_CONFIG, PASSWORD, start_gateway
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    OidcProviderServer,
    default_client,
    default_users,
)
from tests.support.registrygateway import (
    SYNC_PASSWORD_ENV,
    eventually,
    link,
    refused_within,
    registry_section,
    roles_at_registry,
    start_stub,
    with_token,
)
from tests.support.servers import free_port
from tests.support.ssoflow import CSRF, browser, new_app_password, sso_login, xauth_token

pytestmark = pytest.mark.integration

PLAIN_CLIENT_ID = "plain-client"
PLAIN_CLIENT_SECRET = "plain-client-Secret-0123456789"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALICE_SUB = "f3b0c1d2-0001-4a00-9000-000000000001"
SERVICE_ACCOUNT = "sync"
# One worker with in-process state; two workers on PostgreSQL sharing Redis (a jti spent on
# one worker is spent on the other).
BACKENDS = ("sqlite-memory", "postgres-redis")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def stub(backend):
    server = start_stub()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def port(backend):
    return free_port()


@pytest.fixture(scope="module")
def idp(tmp_path_factory, port):
    base = f"http://127.0.0.1:{port}"
    clients = [
        default_client(
            f"{base}/sso/callback/corp",
            post_logout_redirect_uris=[f"{base}/sso/signed-out"],
            backchannel_logout_uri=f"{base}/oidc/corp/backchannel-logout",
            backchannel_logout_session_required=True,
        ),
        default_client(
            f"{base}/sso/callback/plain",
            client_id=PLAIN_CLIENT_ID,
            client_secret=PLAIN_CLIENT_SECRET,
            backchannel_logout_uri=f"{base}/oidc/plain/backchannel-logout",
            backchannel_logout_session_required=False,
        ),
    ]
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("bcl-idp"), clients=clients, users=default_users()
    )
    yield server
    server.stop()


def gateway_config(idp: OidcProviderServer, stub_url: str) -> str:
    return (
        f"""
providers:
  - id: local
    type: local
  - id: corp
    type: oidc
    issuer: {idp.issuer}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    scopes: [openid, profile, email, groups]
    backchannel_logout:
      enabled: true
      on_logout: deactivate
  - id: plain
    type: oidc
    issuer: {idp.issuer}
    client_id: {PLAIN_CLIENT_ID}
    client_secret: {PLAIN_CLIENT_SECRET}
    scopes: [openid, profile, email, groups]
    backchannel_logout: {{enabled: true, revoke_app_passwords: true}}
  - id: quiet
    type: oidc
    issuer: {idp.issuer}
    client_id: quiet-client
    client_secret: quiet-client-Secret-0123456789
sso:
  registry_login_url: {stub_url}/login
"""
        + CONTRACT_CONFIG
        + registry_section(stub_url, account=SERVICE_ACCOUNT)
    )


@pytest.fixture(scope="module")
def gateway(request, tmp_path_factory, idp, stub, port, backend):
    options = {}
    if backend == "postgres-redis":
        postgres = request.getfixturevalue("postgres_server")
        redis_server = request.getfixturevalue("redis_server")
        options = {"database_url": postgres.create_database("backchannel"), "redis_url": redis_server.url}
    server = start_gateway(
        tmp_path_factory.mktemp(f"bcl-{backend}"),
        gateway_config(idp, stub.url),
        users=[{"username": SERVICE_ACCOUNT, "groups": ["drone-admins"]}],
        port=port,
        extra={SYNC_PASSWORD_ENV: PASSWORD, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        **options,
    )
    link(stub, server.url)
    yield server
    server.stop()


# ---- helpers -------------------------------------------------------------------------------


def signed_in(gateway, idp, provider: str, username: str) -> tuple[requests.Session, str]:
    """A browser signed in through ``provider`` as ``username``, and its gateway token."""
    session = browser()
    callback = sso_login(gateway, idp, provider, username, session)
    assert callback.status_code == 302, callback.text
    return session, xauth_token(callback)[0]


def registry_token(stub, gateway_token: str) -> str:
    """The Registry token the Hub gets by posting the gateway token (contract §3)."""
    answer = requests.post(f"{stub.url}/users/authenticate", data={"token": gateway_token}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def token_path(gateway, gateway_token: str) -> int:
    """The status the Registry's token path gets for ``gateway_token`` now."""
    return requests.post(
        f"{gateway.url}/api/authenticate", data={"token": gateway_token}, timeout=10
    ).status_code


def password_path(gateway, username: str, password: str) -> int:
    """The status the Registry's password path gets for ``username`` and ``password`` now."""
    return requests.post(
        f"{gateway.url}/api/authenticate", data={"username": username, "password": password}, timeout=10
    ).status_code


def xauth_token_of(session: requests.Session) -> str:
    """The gateway token in a signed-in browser's xAuthToken cookie."""
    value = next(cookie.value for cookie in session.cookies if cookie.name == "xAuthToken")
    return unquote(value).partition("|")[0]


def sign_out_at_idp(idp: OidcProviderServer, session: requests.Session, client_id: str) -> None:
    """RP-initiated logout at the IdP, confirmed, in the browser ``session``."""
    idp.logout_with_requests(f"{idp.issuer}/session/end?client_id={client_id}", session)


def post_logout(gateway, provider: str, data, **kwargs) -> requests.Response:
    return requests.post(f"{gateway.url}/oidc/{provider}/backchannel-logout", data=data, timeout=10, **kwargs)


def logout_claims(idp: OidcProviderServer, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "aud": DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": "nobody-at-all",
        "events": {EVENT: {}},
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def signed(idp: OidcProviderServer, claims: dict, alg: str = "RS256", **header) -> str:
    jwk = idp.private_jwks["keys"][0]
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": jwk["kid"], "typ": "logout+jwt", **header})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(idp: OidcProviderServer, claims: dict) -> str:
    """The classic key-confusion forgery: HS256 keyed with the IdP's public key (PEM)."""
    public = RSAAlgorithm.from_jwk(json.dumps(idp.jwks["keys"][0]))
    secret = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "logout+jwt", "kid": idp.kids[0]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def unsigned(claims: dict) -> str:
    header = {"alg": "none", "typ": "logout+jwt"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def audit(gateway, **filters) -> list[dict]:
    """The ``idp_logout`` audit events matching ``filters``, newest first."""
    admin = AdminClient.login(gateway.url)
    found = admin.get("/audit", params={"event": "idp_logout", **filters})
    assert found.status_code == 200, found.text
    return found.json()["items"]


def settled(admin) -> bool:
    outbox = admin.get("/registry").json()["outbox"]
    return outbox["pending"] == 0 and outbox["failed"] == 0


def assert_refused(response: requests.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json()) <= {"error", "error_description"}


# ---- an IdP sign-out ends what it should -----------------------------------------------------


def test_idp_sign_out_ends_the_session_and_deactivates_at_the_registry(gateway, idp, stub):
    app_password, _browser = new_app_password(gateway, idp, "corp", "alice")
    session, gateway_token = signed_in(gateway, idp, "corp", "alice")
    token = registry_token(stub, gateway_token)
    assert with_token(stub, "GET", "/orgs", token).status_code == 200
    assert roles_at_registry(stub, "alice") == ["surveyor", "pilot"]
    assert session.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code == 200

    sign_out_at_idp(idp, session, DEFAULT_CLIENT_ID)

    assert "backchannel.success registry-gateway" in idp.log_text()
    # oidc-provider answers the sign-out only once the gateway has answered its logout token.
    assert token_path(gateway, gateway_token) == 401
    assert session.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code != 200
    refused_within(stub, token, 2.0)
    assert with_token(stub, "POST", "/users/authenticate/refresh", token).status_code == 401
    assert roles_at_registry(stub, "alice") == ["deactivated"]
    assert password_path(gateway, "alice", app_password) == 200  # revoke_app_passwords is off
    logged = audit(gateway, username="alice")[0]
    assert logged["outcome"] == "ok" and logged["provider"] == "corp"
    assert logged["detail"] == {
        "actor": "idp:backchannel-logout",
        "sessions_ended": 1,
        "secrets_revoked": 0,
        "registry": "deactivated",
    }

    # Signing out is not being disabled: the next login gives the Registry roles back.
    _again, fresh = signed_in(gateway, idp, "corp", "alice")
    assert with_token(stub, "GET", "/orgs", registry_token(stub, fresh)).status_code == 200
    assert roles_at_registry(stub, "alice") == ["surveyor", "pilot"]


def test_a_login_while_the_deactivation_waits_in_the_outbox_wins(gateway, idp, stub):
    session, gateway_token = signed_in(gateway, idp, "corp", "alice")
    registry_token(stub, gateway_token)
    admin = AdminClient.login(gateway.url)
    stub.set_down("unavailable")
    try:
        sign_out_at_idp(idp, session, DEFAULT_CLIENT_ID)
        assert token_path(gateway, gateway_token) == 401
        assert admin.get("/registry").json()["outbox"]["pending"] >= 1  # the deactivation waits
        signed_in(gateway, idp, "corp", "alice")  # and a new login comes before it is delivered
    finally:
        stub.set_down(None)
    eventually(lambda: settled(admin), 30.0)
    assert roles_at_registry(stub, "alice") == ["surveyor", "pilot"]


def test_a_sub_only_logout_ends_every_session_of_the_person_and_leaves_the_registry(gateway, idp, stub):
    app_password, first = new_app_password(gateway, idp, "plain", "bob")
    first_token = xauth_token_of(first)
    _second, second_token = signed_in(gateway, idp, "plain", "bob")
    token = registry_token(stub, second_token)
    assert token_path(gateway, first_token) == token_path(gateway, second_token) == 200
    assert password_path(gateway, "bob", app_password) == 200

    sign_out_at_idp(idp, first, PLAIN_CLIENT_ID)

    assert "backchannel.success plain-client" in idp.log_text()
    assert token_path(gateway, first_token) == 401
    assert token_path(gateway, second_token) == 401  # sub only: all of bob's sessions there
    assert with_token(stub, "POST", "/users/authenticate/refresh", token).status_code == 200
    assert "deactivated" not in roles_at_registry(stub, "bob")
    assert password_path(gateway, "bob", app_password) == 401  # revoke_app_passwords: true


# ---- the validation table ----------------------------------------------------------------------


def test_a_valid_token_for_nobody_known_is_accepted_and_its_jti_only_once(gateway, idp):
    token = signed(idp, logout_claims(idp))
    accepted = post_logout(gateway, "corp", {"logout_token": token})
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["Cache-Control"] == "no-store"
    assert_refused(post_logout(gateway, "corp", {"logout_token": token}))  # replayed jti


def test_a_token_without_exp_is_accepted_while_its_iat_is_fresh(gateway, idp):
    """Keycloak before 22.0.8/23.0.4 sends no exp (the spec made it REQUIRED in 2023)."""
    token = signed(idp, logout_claims(idp, exp=None))
    assert post_logout(gateway, "corp", {"logout_token": token}).status_code == 200
    assert_refused(post_logout(gateway, "corp", {"logout_token": token}))  # still single-use


BAD_TOKENS = {
    "wrong alg (RS512, not configured)": lambda idp: signed(idp, logout_claims(idp), alg="RS512"),
    "HS256 with the public key": lambda idp: hs256_with_public_key(idp, logout_claims(idp)),
    "alg none": lambda idp: unsigned(logout_claims(idp)),
    "wrong aud": lambda idp: signed(idp, logout_claims(idp, aud="someone-else")),
    "wrong iss": lambda idp: signed(idp, logout_claims(idp, iss="https://evil.example")),
    "missing events": lambda idp: signed(idp, logout_claims(idp, events=None)),
    "another event": lambda idp: signed(idp, logout_claims(idp, events={"urn:other": {}})),
    "event not an object": lambda idp: signed(idp, logout_claims(idp, events={EVENT: "yes"})),
    "nonce present": lambda idp: signed(idp, logout_claims(idp, nonce="n-0S6_WzA2Mj")),
    "neither sub nor sid": lambda idp: signed(idp, logout_claims(idp, sub=None)),
    "sub not a string": lambda idp: signed(idp, logout_claims(idp, sub=42)),
    "missing jti": lambda idp: signed(idp, logout_claims(idp, jti=None)),
    "expired": lambda idp: signed(
        idp, logout_claims(idp, iat=int(time.time()) - 900, exp=int(time.time()) - 600)
    ),
    "missing exp and a stale iat": lambda idp: signed(
        idp, logout_claims(idp, exp=None, iat=int(time.time()) - 3600)
    ),
    "stale iat": lambda idp: signed(idp, logout_claims(idp, iat=int(time.time()) - 3600)),
    "iat in the future": lambda idp: signed(idp, logout_claims(idp, iat=int(time.time()) + 3600)),
    "an access token's typ": lambda idp: signed(idp, logout_claims(idp), typ="at+jwt"),
    "unknown kid": lambda idp: signed(idp, logout_claims(idp), kid="no-such-key"),
    "bad signature": lambda idp: signed(idp, logout_claims(idp))[:-6] + "AAAAAA",
    "garbage": lambda idp: "garbage",
    "three dots of garbage": lambda idp: "a.b.c",
    "hostile JSON header": lambda idp: _b64(b"[" * 5000) + ".e30.sig",
    "too long": lambda idp: "a" * 17000,
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_a_bad_logout_token_is_a_400_json_error(gateway, idp, case):
    assert_refused(post_logout(gateway, "corp", {"logout_token": BAD_TOKENS[case](idp)}))


def test_a_refusal_is_audited_with_its_reason(gateway, idp):
    assert_refused(post_logout(gateway, "corp", {"logout_token": signed(idp, logout_claims(idp, nonce="n"))}))
    refused = audit(gateway, outcome="refused", provider="corp")[0]
    assert refused["detail"] == {"actor": "idp:backchannel-logout", "reason": "nonce_present"}


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({}, {}),
        ({"logout_token": ""}, {}),
        ({"logout_token": ["a.b.c", "d.e.f"]}, {}),
        ({"logout_token": "a\x00b"}, {}),
        ('{"logout_token": "x"}', {"Content-Type": "application/json"}),
    ],
    ids=["no field", "empty", "twice", "NUL", "JSON body"],
)
def test_a_malformed_request_is_a_400_json_error(gateway, data, headers):
    assert_refused(post_logout(gateway, "corp", data, headers=headers))


@pytest.mark.parametrize("provider", ["quiet", "local", "no-such-provider"])
def test_a_provider_without_backchannel_logout_is_a_404(gateway, idp, provider):
    assert_refused(post_logout(gateway, provider, {"logout_token": signed(idp, logout_claims(idp))}), 404)


def test_no_csrf_token_or_origin_is_needed_but_a_get_is_refused(gateway, idp):
    token = signed(idp, logout_claims(idp))
    answer = post_logout(gateway, "corp", {"logout_token": token}, headers={"Origin": "https://idp.example"})
    assert answer.status_code == 200, answer.text
    assert requests.get(f"{gateway.url}/oidc/corp/backchannel-logout", timeout=10).status_code == 405


def test_the_admin_api_and_page_show_the_uri_to_register(gateway):
    admin = AdminClient.login(gateway.url)
    listed = {item["id"]: item for item in admin.get("/providers").json()}
    assert listed["corp"]["backchannelLogoutUri"] == f"{gateway.url}/oidc/corp/backchannel-logout"
    assert listed["plain"]["backchannelLogoutUri"] == f"{gateway.url}/oidc/plain/backchannel-logout"
    assert "backchannelLogoutUri" not in listed["quiet"] and "backchannelLogoutUri" not in listed["local"]
    signed_in_admin = browser()
    form = signed_in_admin.get(f"{gateway.url}/login", timeout=10)
    signed_in_admin.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "admin", "password": ADMIN_PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    page = signed_in_admin.get(f"{gateway.url}/admin/providers", timeout=10)
    assert page.status_code == 200, page.text[:300]
    assert f'<code class="backchannel-uri">{gateway.url}/oidc/corp/backchannel-logout</code>' in page.text
