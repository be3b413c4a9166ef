"""Browser single sign-on and IdP tokens over HTTP, against a real oidc-provider and the gateway
under gunicorn: on the embedded default (one worker, in-process state) and on PostgreSQL + Redis
with two workers (transactions in the shared store, requests landing on either worker).

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

from tests.integration.harness import ADMIN_PASSWORD, start_gateway
from tests.oidcserver import (
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
from tests.servers import free_port

pytestmark = pytest.mark.integration

REGISTRY_LOGIN = "http://127.0.0.1:8081/login"  # same host as the gateway: host-only cookie
OTHER_NEXT = "http://127.0.0.1:8081/other"
DIRECT_REDIRECT = "http://127.0.0.1:9/direct-callback"  # for tokens fetched straight from the IdP
KC_CLIENT_ID = "keycloak-style"
KC_CLIENT_SECRET = "keycloak-style-Secret-0123456789"
OPAQUE_RESOURCE = "https://registry.test/opaque"
BACKENDS = ("sqlite-memory", "postgres-redis")


def _users() -> list[dict]:
    users = default_users()  # alice (registry-admins, survey-north; verified), bob (unverified)
    users += [
        {"sub": "f3b0c1d2-0003-4a00-9000-000000000003", "preferred_username": "carol",
         "password": DEFAULT_PASSWORD, "email": "carol@example.test", "email_verified": True,
         "name": "Carol Keycloak", "groups": "survey-north",
         "realm_access": {"roles": ["registry-admin", "offline_access"]}},
        {"sub": "f3b0c1d2-0004-4a00-9000-000000000004", "preferred_username": "mallory",
         "password": DEFAULT_PASSWORD, "email": "mallory@example.test", "email_verified": True,
         "groups": ["survey-north"]},
        {"sub": "f3b0c1d2-0005-4a00-9000-000000000005", "preferred_username": "Not Canonical!",
         "password": DEFAULT_PASSWORD, "email": "nc@example.test", "email_verified": True},
        {"sub": "f3b0c1d2-0006-4a00-9000-000000000006", "preferred_username": "admin",
         "password": DEFAULT_PASSWORD, "email": "self-registered@example.test", "email_verified": True,
         "groups": ["registry-admins"]},
    ]
    return users


@pytest.fixture(scope="module")
def ports():
    return {backend: free_port() for backend in BACKENDS}


@pytest.fixture(scope="module")
def idp(tmp_path_factory, ports):
    callbacks = [f"http://127.0.0.1:{port}/sso/callback/{provider}"
                 for port in ports.values() for provider in ("corp", "kc")]
    signed_out = [f"http://127.0.0.1:{port}/sso/signed-out" for port in ports.values()]
    clients = [
        default_client(callbacks + [DIRECT_REDIRECT], post_logout_redirect_uris=signed_out),
        default_client(callbacks, client_id=KC_CLIENT_ID, client_secret=KC_CLIENT_SECRET),
    ]
    resource_servers = DEFAULT_RESOURCE_SERVERS + [
        {"indicator": OPAQUE_RESOURCE, "audience": "registry-opaque", "scope": "registry:read",
         "access_token_format": "opaque"}]
    server = OidcProviderServer.start(tmp_path_factory.mktemp("sso-idp"), clients=clients,
                                      users=_users(), resource_servers=resource_servers)
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
    if request.param == "postgres-redis":
        postgres = request.getfixturevalue("postgres_server")
        redis_server = request.getfixturevalue("redis_server")
        options = {"database_url": postgres.create_database("sso_flow"),
                   "redis_url": redis_server.url}
    port = ports[request.param]
    server = start_gateway(
        tmp_path_factory.mktemp(f"sso-{request.param}"), gateway_config(idp, free_port()), users=[],
        port=port, extra={"CORP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
                          "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, **options)
    server.backend = request.param
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
    callback_url = idp.login_with_requests(started.headers["Location"], username,
                                           DEFAULT_PASSWORD, session=session)
    assert callback_url.startswith(f"{gateway.url}/sso/callback/{provider}?"), callback_url
    return session, session.get(callback_url, allow_redirects=False, timeout=10)


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
    return requests.post(f"{gateway.url}/api/authenticate", data=fields,
                         headers={"Accept": "application/json"}, timeout=30)


def idp_tokens(idp, username="alice", **extra) -> dict:
    """Tokens fetched straight from the IdP by the default client (as an API client would)."""
    verifier, challenge = pkce_pair()
    url = idp.authorize_url(redirect_uri=DIRECT_REDIRECT, code_challenge=challenge,
                            state="s" * 20, nonce="n" * 20, **extra)
    callback = idp.login_with_requests(url, username, DEFAULT_PASSWORD)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": DIRECT_REDIRECT,
            "code_verifier": verifier}
    if "resource" in extra:
        data["resource"] = extra["resource"]
    response = requests.post(idp.token_endpoint, data=data,
                             auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET), timeout=10)
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
    assert "httponly" not in cookie["flags"]          # JavaScript must read it
    assert "secure" not in cookie["flags"]            # served over http here
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
    assert body == {"username": "alice", "roles": ["user", "admin", "surveyor"],
                    "maxStorageMB": 51200, "email": "alice@example.test"}
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


@pytest.mark.parametrize("next_url", [
    "//evil.example", "/\\evil.example", "/%09/evil.example", "https://evil.example/login",
    "http://127.0.0.1.evil.example:8081/login", "http://127.0.0.1:8081@evil.example/login",
    "http://127.0.0.1:8081/login/../../evil", "HTTP://127.0.0.1:8081/login", "http://127.0.0.1:8081/login ",
    "http://127.0.0.1:8081/login?x=1", "http://127.0.0.1:8081/login#x", "http://127.0.0.2:8081/login", "",
    "javascript:alert(1)",
])
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

def test_reused_state_is_refused(gateway, idp):
    session = browser()
    started = start_login(gateway, session)
    callback_url = idp.login_with_requests(started.headers["Location"], "alice", DEFAULT_PASSWORD,
                                           session=session)
    assert session.get(callback_url, allow_redirects=False, timeout=10).status_code == 302
    replay = session.get(callback_url, allow_redirects=False, timeout=10)
    assert replay.status_code == 400
    assert "xAuthToken" not in set_cookies(replay)


def test_state_from_another_browser_is_refused(gateway, idp):
    victim, attacker = browser(), browser()
    started = start_login(gateway, attacker)
    callback_url = idp.login_with_requests(started.headers["Location"], "alice", DEFAULT_PASSWORD,
                                           session=attacker)
    # The victim's browser is made to load the attacker's callback (login CSRF).
    start_login(gateway, victim)  # the victim has a binding cookie of their own
    response = victim.get(callback_url, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "xAuthToken" not in set_cookies(response)
    # ...and the transaction is gone: the attacker cannot use it afterwards either.
    assert attacker.get(callback_url, allow_redirects=False, timeout=10).status_code == 400


@pytest.mark.parametrize("query", ["", "?code=abc", "?code=abc&state=", "?state=" + "x" * 43 + "&code=abc",
                                   "?state=%00%01&code=abc", "?state=" + "y" * 5000])
def test_missing_or_unknown_state_is_refused(gateway, query):
    session = browser()
    start_login(gateway, session)
    response = session.get(f"{gateway.url}/sso/callback/corp{query}", allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


def test_state_of_another_provider_is_refused(gateway, idp):
    session = browser()
    started = start_login(gateway, session, provider="corp")
    callback_url = idp.login_with_requests(started.headers["Location"], "alice", DEFAULT_PASSWORD,
                                           session=session)
    wrong = callback_url.replace("/sso/callback/corp?", "/sso/callback/kc?")
    assert session.get(wrong, allow_redirects=False, timeout=10).status_code == 400


def test_idp_error_answer_is_a_clean_refusal(gateway, idp):
    session = browser()
    started = start_login(gateway, session)
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    response = session.get(f"{gateway.url}/sso/callback/corp?error=access_denied&state={state}",
                           allow_redirects=False, timeout=10)
    assert response.status_code == 401
    assert "Sign-in failed" in response.text


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
    time.sleep(0.1)
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
    refused = session.post(f"{gateway.url}/sso/signout", data={"csrf_token": "0" * 64},
                           allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    response = session.post(f"{gateway.url}/sso/signout", data={"csrf_token": csrf},
                            allow_redirects=False, timeout=10)
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
        from gateway.users import UserService
        UserService(services).set_enabled("carol", False)
        assert authenticate(gateway, token=token).status_code == 401
        _s, again = sso_login(gateway, idp, username="carol", provider="kc")
        assert again.status_code == 403
    finally:
        UserService(services).set_enabled("carol", True)
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
    foreign = session.post(f"{gateway.url}/account/app-passwords",
                           data={"name": "laptop", "csrf_token": _csrf(account.text)},
                           headers={"Origin": "http://evil.example"}, timeout=10)
    assert foreign.status_code == 403

    created = session.post(f"{gateway.url}/account/app-passwords",
                           data={"name": "laptop ddb", "expires_days": "30",
                                 "csrf_token": _csrf(account.text)}, timeout=10)
    assert created.status_code == 201
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert created.headers["Cache-Control"] == "no-store"
    assert password not in session.get(f"{gateway.url}/account", timeout=10).text  # shown once

    answer = authenticate(gateway, username="alice", password=password)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"username": "alice", "roles": ["user", "admin", "surveyor"],
                             "maxStorageMB": 51200, "email": "alice@example.test"}
    listed = session.get(f"{gateway.url}/account", timeout=10).text
    row = listed.split(">laptop ddb</td>", 1)[1].split("</tr>", 1)[0]
    created_at, expires_at, last_used = re.findall(r"<td[^>]*>([^<]*)</td>", row)[:3]
    assert last_used.endswith("UTC") and expires_at != "never"  # used just now; expires in 30 days

    # Wrong app password, another user's name, a plain password: the same 401 as always.
    wrong = password[:-4] + ("AAAA" if not password.endswith("AAAA") else "BBBB")
    for fields in ({"username": "alice", "password": wrong},
                   {"username": "carol", "password": password},
                   {"username": "alice", "password": DEFAULT_PASSWORD}):
        refused = authenticate(gateway, **fields)
        assert (refused.status_code, refused.json()) == (401, DENIED), fields

    public_id = password.split("_")[1]
    revoked = session.post(f"{gateway.url}/account/app-passwords/{public_id}/revoke",
                           data={"csrf_token": _csrf(listed)}, allow_redirects=False, timeout=10)
    assert revoked.status_code == 303
    assert authenticate(gateway, username="alice", password=password).status_code == 401


def test_disabling_the_user_revokes_app_passwords(gateway, idp):
    session, _callback = sso_login(gateway, idp, username="carol", provider="kc")
    account = session.get(f"{gateway.url}/account", timeout=10)
    created = session.post(f"{gateway.url}/account/app-passwords",
                           data={"name": "ci", "csrf_token": _csrf(account.text)}, timeout=10)
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert authenticate(gateway, username="carol", password=password).status_code == 200
    services = gateway.services()
    try:
        from gateway.users import UserService
        UserService(services).set_enabled("carol", False)
        assert authenticate(gateway, username="carol", password=password).status_code in (401, 403)
        UserService(services).set_enabled("carol", True)
        assert authenticate(gateway, username="carol", password=password).status_code == 401
    finally:
        UserService(services).set_enabled("carol", True)
        services.close()
    assert session.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code == 303


@pytest.mark.parametrize("fields", [
    {"name": ""}, {"name": "x" * 101}, {"name": "ok", "expires_days": "-1"},
    {"name": "ok", "expires_days": "0"}, {"name": "ok", "expires_days": "abc"},
    {"name": "ok", "expires_days": "99999"}, {"name": "bad\x00name"},
])
def test_app_password_form_validation(gateway, idp, fields):
    session, _callback = sso_login(gateway, idp)
    account = session.get(f"{gateway.url}/account", timeout=10)
    response = session.post(f"{gateway.url}/account/app-passwords",
                            data={**fields, "csrf_token": _csrf(account.text)}, timeout=10)
    assert response.status_code == 400
    if "\x00" in fields["name"]:   # refused before any form is read, on every page
        assert "character that is not allowed" in response.text
    else:
        assert 'id="form-error"' in response.text


def test_account_page_needs_a_session(gateway):
    response = requests.get(f"{gateway.url}/account", allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    response = requests.post(f"{gateway.url}/account/app-passwords", data={"name": "x"},
                             allow_redirects=False, timeout=10)
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
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
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
    dead_issuer = re.search(r"issuer: (http://127\.0\.0\.1:\d+)\n    client_id: nobody",
                            (gateway.instance_dir / "gateway.yaml").read_text()).group(1)
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
        response = requests.get(f"{gateway.url}/account", cookies={"gw_session": forged},
                                allow_redirects=False, timeout=10)
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
        response = requests.get(f"{gateway.url}{path}", headers={"Cookie": b"gw_session=" + raw +
                                b"; gw_binding=" + raw + b"; xAuthToken=" + raw},
                                allow_redirects=False, timeout=10)
        assert response.status_code < 500, (path, response.status_code)


def test_hostile_form_fields_are_400_not_500(gateway, idp):
    session, _callback = sso_login(gateway, idp)
    csrf = _csrf(session.get(f"{gateway.url}/account", timeout=10).text)
    url = f"{gateway.url}/account/app-passwords"
    for body in (f"name=x&expires_days=%C2%B2&csrf_token={csrf}", f"name=x&csrf_token=%C3%A9{csrf}",
                 f"name=%FF%FE&csrf_token={csrf}", f"name=x&csrf_token={csrf}&csrf_token=1"):
        response = session.post(url, data=body, timeout=10,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code in (201, 400, 403), (body, response.status_code)


def test_one_browser_cannot_pile_up_login_transactions(gateway):
    session = browser()
    statuses = [start_login(gateway, session).status_code for _ in range(31)]
    assert statuses[:30] == [302] * 30 and statuses[30] == 429
    assert start_login(gateway, browser()).status_code == 302  # another browser is not affected


def test_app_passwords_need_a_recent_browser_login(gateway, idp):
    session, _callback = sso_login(gateway, idp)
    csrf = _csrf(session.get(f"{gateway.url}/account", timeout=10).text)
    created = session.post(f"{gateway.url}/account/app-passwords",
                           data={"name": "old laptop", "csrf_token": csrf}, timeout=10)
    password = re.search(r'id="new-app-password">(gwap_[A-Za-z0-9_-]+)<', created.text).group(1)
    assert authenticate(gateway, username="alice", password=password).status_code == 200
    services = gateway.services()
    try:
        from sqlalchemy import update
        from gateway.models import Account
        with services.database.session() as db:
            account = db.get(Account, "alice")
            stale = dict(account.snapshot, recorded_at=time.time() - 31 * 86400)
            db.execute(update(Account).where(Account.username == "alice").values(snapshot=stale))
    finally:
        services.close()
    refused = authenticate(gateway, username="alice", password=password)
    assert refused.status_code == 403  # the IdP has not seen alice for a month
    sso_login(gateway, idp)            # a browser login refreshes what the gateway knows
    assert authenticate(gateway, username="alice", password=password).status_code == 200


def test_a_frozen_redis_is_a_503_page_for_browser_logins_only(tmp_path, idp, postgres_server):
    """Documented behaviour: login transactions live in Redis; while it hangs a browser login
    gets a 503 page within the store's 0.5 s timeout, and password logins go on."""
    from tests.servers import RedisServer

    redis_server = RedisServer.start(tmp_path / "redis")
    port = free_port()
    server = start_gateway(
        tmp_path / "gw", gateway_config(idp, free_port()), users=[], port=port,
        database_url=postgres_server.create_database("sso_redis_outage"), redis_url=redis_server.url,
        extra={"CORP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
               "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    try:
        assert start_login(server, browser()).status_code == 302
        redis_server.pause()
        started = time.monotonic()
        response = start_login(server, browser())
        assert time.monotonic() - started < 5
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert "cannot be reached" in response.text
        assert authenticate(server, username="admin", password=ADMIN_PASSWORD).status_code == 200
    finally:
        redis_server.resume()
        server.stop()
        redis_server.stop()
