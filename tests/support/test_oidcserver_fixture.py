"""The oidc-provider fixture (tests/support/oidcserver.py + tests/support/oidc/) serves what it
promises, checked with requests, pyjwt and authlib directly (not through the
gateway)."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support import oidcserver
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_RESOURCE,
    DEFAULT_RESOURCE_SERVERS,
    DEFAULT_SCOPE,
    INSTALL_COMMAND,
    OidcLoginError,
    OidcProviderServer,
    ServerBinaryMissing,
    ServerStartError,
    default_client,
    default_users,
    pkce_pair,
)

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"  # never followed
LOGGED_OUT_URI = "http://127.0.0.1:9/logged-out"
POST_CLIENT_ID = "registry-gateway-post"
POST_CLIENT_SECRET = "registry-gateway-post-Secret-987654"


def _clients():
    return [
        default_client(REDIRECT_URI, post_logout_redirect_uris=[LOGGED_OUT_URI]),
        default_client(
            REDIRECT_URI,
            client_id=POST_CLIENT_ID,
            client_secret=POST_CLIENT_SECRET,
            token_endpoint_auth_method="client_secret_post",
        ),
    ]


OPAQUE_RESOURCE = "https://registry.test/opaque"
RESOURCE_SERVERS = DEFAULT_RESOURCE_SERVERS + [
    {
        "indicator": OPAQUE_RESOURCE,
        "audience": "registry-opaque",
        "scope": "registry:read",
        "access_token_format": "opaque",
    },
]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("oidc"),
        clients=_clients(),
        users=default_users(),
        resource_servers=RESOURCE_SERVERS,
    )
    yield server
    server.stop()


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _verify(token: str, jwks: dict, **kwargs) -> dict:
    """Verify a JWS with pyjwt against a JWK set (looked up by kid)."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(token, key=key, algorithms=["RS256"], **kwargs)


def _login(idp, session=None, user="alice", **extra):
    """One authorization request through the login form; (redirect query, verifier, nonce, state)."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    url = idp.authorize_url(
        redirect_uri=REDIRECT_URI, code_challenge=challenge, state=state, nonce=nonce, **extra
    )
    location = idp.login_with_requests(url, user, DEFAULT_PASSWORD, session=session)
    assert location.startswith(REDIRECT_URI + "?"), location
    return _query(location), verifier, nonce, state


def _exchange(http, idp, code, verifier, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET):
    r = http.post(
        idp.token_endpoint,
        auth=(client_id, client_secret),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------
# discovery, keys
# --------------------------------------------------------------------------


def test_discovery_document(idp, http):
    r = http.get(idp.discovery_url, timeout=5)
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}"
    for name, url in {
        "authorization_endpoint": idp.authorization_endpoint,
        "token_endpoint": idp.token_endpoint,
        "userinfo_endpoint": idp.userinfo_endpoint,
        "jwks_uri": idp.jwks_uri,
        "introspection_endpoint": idp.introspection_endpoint,
        "revocation_endpoint": idp.revocation_endpoint,
        "end_session_endpoint": idp.end_session_endpoint,
    }.items():
        assert doc[name] == url, name
    assert "S256" in doc["code_challenge_methods_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["response_types_supported"] == ["code"]
    assert {"openid", "profile", "email", "groups"} <= set(doc["scopes_supported"])
    assert {"groups", "realm_access", "resource_access", "preferred_username"} <= set(doc["claims_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(doc["token_endpoint_auth_methods_supported"])


def test_jwks_is_public_and_matches(idp, http):
    served = http.get(idp.jwks_uri, timeout=5).json()
    assert [k["kid"] for k in served["keys"]] == idp.kids == [k["kid"] for k in idp.jwks["keys"]]
    for key in served["keys"] + idp.jwks["keys"]:
        assert key["kty"] == "RSA"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private members published"
    assert "d" in idp.private_jwks["keys"][0]
    assert "BEGIN" not in idp.log_text() and DEFAULT_CLIENT_SECRET not in idp.log_text()


# --------------------------------------------------------------------------
# the authorization code flow
# --------------------------------------------------------------------------


def test_code_flow_with_pkce_gives_verifiable_tokens(idp, http):
    verifier, challenge = pkce_pair()
    assert create_s256_code_challenge(verifier) == challenge  # authlib agrees
    state, nonce = "state-" + secrets.token_hex(4), "nonce-" + secrets.token_hex(4)
    url = idp.authorize_url(
        redirect_uri=REDIRECT_URI,
        code_challenge=challenge,
        state=state,
        nonce=nonce,
        resource=DEFAULT_RESOURCE,
    )
    location = idp.login_with_requests(url, "alice", DEFAULT_PASSWORD)
    assert location.startswith(REDIRECT_URI + "?")
    q = _query(location)
    assert q["state"] == state and q["iss"] == idp.issuer and q["code"]

    tokens = _exchange(http, idp, q["code"], verifier)  # client_secret_basic
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    jwks = http.get(idp.jwks_uri, timeout=5).json()

    id_claims = _verify(tokens["id_token"], jwks, audience=DEFAULT_CLIENT_ID, issuer=idp.issuer)
    alice = oidcserver.DEFAULT_USERS[0]
    assert id_claims["nonce"] == nonce
    assert id_claims["sub"] == alice["sub"]
    assert id_claims["preferred_username"] == "alice"
    assert id_claims["email"] == alice["email"] and id_claims["email_verified"] is True
    assert id_claims["name"] == alice["name"]
    assert id_claims["groups"] == alice["groups"]
    assert id_claims["realm_access"]["roles"] == alice["realm_access"]["roles"]
    assert id_claims["resource_access"][DEFAULT_CLIENT_ID]["roles"] == ["admin", "upload"]
    assert "password" not in id_claims
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == idp.kids[0]

    # The access token is an RFC 9068 JWT for the resource server.
    access = tokens["access_token"]
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
    at_claims = _verify(access, jwks, audience=DEFAULT_RESOURCE, issuer=idp.issuer)
    assert at_claims["client_id"] == DEFAULT_CLIENT_ID
    assert at_claims["sub"] == alice["sub"]
    assert at_claims["realm_access"]["roles"] == alice["realm_access"]["roles"]
    assert at_claims["groups"] == alice["groups"]
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(access, jwks, audience=DEFAULT_CLIENT_ID)

    # oidc-provider does not store JWT access tokens, so it refuses to introspect them
    # (by design); the refresh token of the same grant is introspectable.
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": access, "token_type_hint": "access_token"},
        timeout=5,
    )
    assert r.status_code == 400 and r.json()["error"] == "unsupported_token_type"
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": tokens["refresh_token"]},
        timeout=5,
    )
    assert r.json()["active"] is True and r.json()["client_id"] == DEFAULT_CLIENT_ID
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": "not-a-token"},
        timeout=5,
    )
    assert r.json() == {"active": False}

    # The code is single-use.
    r = http.post(
        idp.token_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        timeout=5,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_userinfo_refresh_and_client_secret_post_with_authlib(idp, http):
    """Without a resource the access token is opaque and good at userinfo;
    authlib's OAuth2Session does the exchange with client_secret_post."""
    client = OAuth2Session(
        POST_CLIENT_ID,
        POST_CLIENT_SECRET,
        scope=DEFAULT_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    )
    client.trust_env = False
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(
        idp.authorization_endpoint, code_verifier=verifier, nonce="n-1"
    )
    location = idp.login_with_requests(url, "bob", DEFAULT_PASSWORD)
    assert _query(location)["iss"] == idp.issuer
    token = client.fetch_token(
        idp.token_endpoint, authorization_response=location, code_verifier=verifier, timeout=10
    )
    assert token["access_token"].count(".") != 2, "expected an opaque access token"
    bob = oidcserver.DEFAULT_USERS[1]
    claims = _verify(token["id_token"], idp.fetch_jwks(), audience=POST_CLIENT_ID)
    assert claims["preferred_username"] == "bob" and claims["email_verified"] is False

    r = http.get(
        idp.userinfo_endpoint, timeout=5, headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["sub"] == bob["sub"] and info["preferred_username"] == "bob"
    assert info["groups"] == bob["groups"]
    assert info["realm_access"] == bob["realm_access"]
    assert info["resource_access"] == bob["resource_access"]
    assert "password" not in info

    r = http.post(
        idp.introspection_endpoint,
        timeout=5,
        data={
            "token": token["access_token"],
            "client_id": POST_CLIENT_ID,
            "client_secret": POST_CLIENT_SECRET,
        },
    )
    assert r.json()["active"] is True

    refreshed = client.refresh_token(idp.token_endpoint, refresh_token=token["refresh_token"], timeout=10)
    assert refreshed["access_token"] != token["access_token"]
    claims = _verify(refreshed["id_token"], idp.fetch_jwks(), audience=POST_CLIENT_ID)
    assert claims["sub"] == bob["sub"] and claims["groups"] == bob["groups"]


def test_introspection_of_opaque_access_tokens(idp, http):
    """RFC 7662 on an access token for a resource server configured opaque."""
    q, verifier, _, _ = _login(idp, scope=DEFAULT_SCOPE + " registry:read", resource=OPAQUE_RESOURCE)
    tokens = _exchange(http, idp, q["code"], verifier)
    assert tokens["access_token"].count(".") != 2 and tokens["scope"] == "registry:read"
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["active"] is True and info["token_type"] == "Bearer"
    assert info["sub"] == oidcserver.DEFAULT_USERS[0]["sub"]
    assert info["client_id"] == DEFAULT_CLIENT_ID and info["aud"] == "registry-opaque"
    assert info["scope"] == "registry:read" and info["iss"] == idp.issuer
    assert info["realm_access"]["roles"] == ["registry-admin", "offline_access"]
    # Revoked: no longer active.
    r = http.post(
        idp.revocation_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": tokens["access_token"]},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"token": tokens["access_token"]},
        timeout=5,
    )
    assert r.json() == {"active": False}
    # Wrong client credentials are refused.
    r = http.post(
        idp.introspection_endpoint,
        auth=(DEFAULT_CLIENT_ID, "wrong"),
        data={"token": tokens["access_token"]},
        timeout=5,
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_single_sign_on_and_logout(idp, http):
    session = idp.http_session()
    q, verifier, _, _ = _login(idp, session=session)
    tokens = _exchange(http, idp, q["code"], verifier)
    # Signed in: the next authorization request redirects without a form.
    _, challenge = pkce_pair()
    again = idp.login_with_requests(
        idp.authorize_url(redirect_uri=REDIRECT_URI, code_challenge=challenge, state="s2"),
        "nobody",
        "not used",
        session=session,
    )
    assert _query(again)["state"] == "s2" and "code" in _query(again)
    # prompt=consent is granted automatically; prompt=login asks for the password again.
    consent = idp.login_with_requests(
        idp.authorize_url(redirect_uri=REDIRECT_URI, code_challenge=challenge, prompt="consent"),
        "nobody",
        "not used",
        session=session,
    )
    assert "code" in _query(consent)
    with pytest.raises(OidcLoginError):
        idp.login_with_requests(
            idp.authorize_url(redirect_uri=REDIRECT_URI, code_challenge=challenge, prompt="login"),
            "alice",
            "wrong",
            session=session,
        )

    end = (
        idp.end_session_endpoint
        + "?"
        + urlencode(
            {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT_URI, "state": "bye"}
        )
    )
    after = idp.logout_with_requests(end, session)
    assert after == f"{LOGGED_OUT_URI}?state=bye"
    # Signed out: the login form is back (a wrong password proves it is asked).
    with pytest.raises(OidcLoginError):
        idp.login_with_requests(
            idp.authorize_url(redirect_uri=REDIRECT_URI, code_challenge=challenge),
            "alice",
            "wrong",
            session=session,
        )
    session.close()


def test_wrong_password_is_refused(idp):
    _, challenge = pkce_pair()
    url = idp.authorize_url(redirect_uri=REDIRECT_URI, code_challenge=challenge, state="x")
    with pytest.raises(OidcLoginError) as exc:
        idp.login_with_requests(url, "alice", DEFAULT_PASSWORD + "-wrong")
    assert exc.value.status == 401
    assert 'name="login"' in exc.value.body and "Invalid username or password" in exc.value.body
    with pytest.raises(OidcLoginError):
        idp.login_with_requests(url, "mallory", DEFAULT_PASSWORD)
    assert 'login refused for "alice"' in idp.log_text()


def test_pkce_is_required_and_bad_requests_are_errors(idp, http):
    url = (
        idp.authorization_endpoint
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": DEFAULT_SCOPE,
                "state": "nopkce",
            }
        )
    )
    location = idp.login_with_requests(url, "alice", DEFAULT_PASSWORD)
    q = _query(location)
    assert location.startswith(REDIRECT_URI) and q["error"] == "invalid_request"
    assert "PKCE" in q["error_description"] and q["state"] == "nopkce"
    # An unregistered redirect URI is never redirected to: an error page.
    _, challenge = pkce_pair()
    bad = idp.authorize_url(redirect_uri="http://127.0.0.1:9/evil", code_challenge=challenge)
    with pytest.raises(OidcLoginError) as exc:
        idp.login_with_requests(bad, "alice", DEFAULT_PASSWORD)
    assert exc.value.status == 400 and "redirect_uri" in exc.value.body
    # Wrong PKCE verifier at the token endpoint.
    q, _, _, _ = _login(idp)
    r = http.post(
        idp.token_endpoint,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce_pair()[0],
        },
        timeout=5,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# --------------------------------------------------------------------------
# lifecycle: key rotation, hangs, missing pieces
# --------------------------------------------------------------------------


def test_restart_with_rotated_keys(tmp_path, http):
    server = OidcProviderServer.start(tmp_path, clients=_clients(), users=default_users(), signing_keys=2)
    try:
        port, old = server.port, server.kids
        assert len(old) == 2 and [k["kid"] for k in server.fetch_jwks()["keys"]] == old
        q, verifier, _, _ = _login(server)
        old_id_token = _exchange(http, server, q["code"], verifier)["id_token"]
        assert jwt.get_unverified_header(old_id_token)["kid"] == old[0]

        server.restart(rotate_keys=True)
        assert server.port == port and server.issuer == f"http://127.0.0.1:{port}"
        new = [k["kid"] for k in server.fetch_jwks()["keys"]]
        assert new == server.kids and len(new) == 2 and not set(new) & set(old)
        q, verifier, _, _ = _login(server)
        id_token = _exchange(http, server, q["code"], verifier)["id_token"]
        assert jwt.get_unverified_header(id_token)["kid"] == new[0]
        _verify(id_token, server.fetch_jwks(), audience=DEFAULT_CLIENT_ID)
        with pytest.raises(KeyError):
            _verify(old_id_token, server.fetch_jwks(), audience=DEFAULT_CLIENT_ID)

        server.restart(rotate_keys=True, keep_previous_key=True)
        served = [k["kid"] for k in server.fetch_jwks()["keys"]]
        assert len(served) == 3 and served[2] == new[0] and served[:2] == server.kids[:2]
        _verify(id_token, server.fetch_jwks(), audience=DEFAULT_CLIENT_ID)
    finally:
        server.stop()
    assert not server.running


def test_pause_makes_discovery_hang_and_resume_recovers(tmp_path, http):
    server = OidcProviderServer.start(tmp_path, clients=_clients(), users=default_users())
    try:
        assert http.get(server.discovery_url, timeout=5).status_code == 200
        server.pause()
        t0 = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            http.get(server.discovery_url, timeout=0.5)
        assert time.monotonic() - t0 < 3
        server.resume()
        assert http.get(server.discovery_url, timeout=5).status_code == 200
    finally:
        server.stop()


def test_missing_node_modules_is_an_error_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(oidcserver, "OIDC_DIR", tmp_path / "no-such-oidc-dir")
    with pytest.raises(ServerStartError) as exc:
        OidcProviderServer.start(tmp_path, clients=_clients(), users=default_users())
    assert INSTALL_COMMAND in str(exc.value)
    assert INSTALL_COMMAND == "npm ci --prefix tests/support/oidc --no-audit --no-fund"


def test_missing_node_is_an_error_naming_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_NODE_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(oidcserver, "_NODE_FALLBACKS", ())
    with pytest.raises(ServerBinaryMissing) as exc:
        OidcProviderServer.start(tmp_path, clients=_clients(), users=default_users())
    assert "'nodejs'" in str(exc.value)
