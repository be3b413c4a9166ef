"""The OIDC provider (providers/oidc) against a real OpenID Provider (panva's oidc-provider,
tests/support/oidcserver.py): the browser login, the token path, key rotation and outages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from providers.base import ProviderUnavailable
from providers.oidc import OidcProvider, OidcRejected, OidcSettings, OidcTokenSettings, metadata
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_RESOURCE,
    DEFAULT_RESOURCE_SERVERS,
    OidcProviderServer,
    default_client,
    default_users,
    generate_signing_key,
)

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"  # never followed
LOGGED_OUT_URI = "http://127.0.0.1:9/logged-out"
POST_CLIENT_ID = "registry-gateway-post"
POST_CLIENT_SECRET = "registry-gateway-post-Secret-987654"
PUBLIC_CLIENT_ID = "registry-gateway-public"
DOTTED_CLIENT = "registry.gateway.v2"
OPAQUE_RESOURCE = "https://registry.test/opaque"
SCOPES = ("openid", "profile", "email", "groups")
ALICE_SUB = "f3b0c1d2-0001-4a00-9000-000000000001"


def _users():
    users = default_users()
    users[0]["nickname"] = "Ally"  # a claim the IdP puts in ID tokens and userinfo, not in access tokens
    users[0]["resource_access"][DOTTED_CLIENT] = {"roles": ["uploader", 7, None]}
    return users


def _clients():
    return [
        default_client(REDIRECT_URI, post_logout_redirect_uris=[LOGGED_OUT_URI]),
        default_client(
            REDIRECT_URI,
            client_id=POST_CLIENT_ID,
            client_secret=POST_CLIENT_SECRET,
            token_endpoint_auth_method="client_secret_post",
        ),
        default_client(
            REDIRECT_URI,
            client_id=PUBLIC_CLIENT_ID,
            token_endpoint_auth_method="none",
            grant_types=["authorization_code"],
        ),
    ]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    resource_servers = DEFAULT_RESOURCE_SERVERS + [
        {
            "indicator": OPAQUE_RESOURCE,
            "audience": "registry-opaque",
            "scope": "registry:read",
            "access_token_format": "opaque",
        }
    ]
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("oidc"), clients=_clients(), users=_users(), resource_servers=resource_servers
    )
    yield server
    server.stop()


class RecordingSession(requests.Session):
    """A requests session that remembers the paths it was asked for."""

    def __init__(self):
        super().__init__()
        self.trust_env = False
        self.paths: list[str] = []

    def request(self, method, url, *args, **kwargs):
        self.paths.append(urlsplit(url).path)
        return super().request(method, url, *args, **kwargs)


def _settings(idp, **overrides) -> OidcSettings:
    values = dict(
        issuer=idp.issuer,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        scopes=SCOPES,
        timeout_seconds=2.0,
    )
    values.update(overrides)
    return OidcSettings(**values)


@pytest.fixture
def make(idp):
    """make(**settings) -> an OidcProvider for the module's IdP (closed after the test)."""
    made = []

    def build(server=None, session=None, **overrides):
        provider = OidcProvider("sso", _settings(server or idp, **overrides), _canonical, session=session)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        provider.close()


def _canonical(raw: str) -> str | None:
    name = raw.strip().lower()
    return name if name.isascii() and name.replace("-", "").isalnum() else None


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _callback(idp, provider, user="alice", extra=""):
    """start() and a browser login at the IdP: (callback query parameters, transaction)."""
    url, transaction = provider.start(REDIRECT_URI)
    location = idp.login_with_requests(url + extra, user, DEFAULT_PASSWORD)
    assert location.startswith(REDIRECT_URI + "?"), location
    return _query(location), transaction


def _tokens(idp, provider, user="alice", extra="", client_id=DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET):
    """A login whose code the test exchanges itself: the token response."""
    params, transaction = _callback(idp, provider, user, extra)
    with idp.http_session() as http:
        response = http.post(
            idp.token_endpoint,
            auth=(client_id, secret),
            timeout=10,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": transaction["code_verifier"],
            },
        )
    assert response.status_code == 200, response.text
    return response.json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(jwk: dict, claims: dict, **header) -> str:
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    return jwt.encode(
        claims, key, algorithm=header.pop("alg", "RS256"), headers={"kid": jwk["kid"], **header}
    )


def _id_claims(idp, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": idp.issuer,
        "sub": ALICE_SUB,
        "aud": DEFAULT_CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "preferred_username": "alice",
        "groups": ["registry-admins"],
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _refused(reason: str, call, *args, status: int = 401):
    with pytest.raises(OidcRejected) as caught:
        call(*args)
    assert (caught.value.reason, caught.value.status) == (reason, status)


# --------------------------------------------------------------------------------------------
# the browser login
# --------------------------------------------------------------------------------------------


def test_alice_logs_in_with_pkce_and_flat_groups(idp, make):
    provider = make()
    url, transaction = provider.start(REDIRECT_URI)
    query = _query(url)
    assert url.startswith(idp.authorization_endpoint + "?")
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    assert query["scope"] == "openid profile email groups" and query["client_id"] == DEFAULT_CLIENT_ID
    assert {query["state"], query["nonce"]} == {transaction["state"], transaction["nonce"]}
    verifier_digest = hashlib.sha256(transaction["code_verifier"].encode()).digest()
    assert query["code_challenge"] == _b64(verifier_digest)
    assert DEFAULT_CLIENT_SECRET not in url and transaction["code_verifier"] not in url
    assert json.loads(json.dumps(transaction)) == transaction
    second = provider.start(REDIRECT_URI)[1]
    assert all(second[key] != transaction[key] for key in ("state", "nonce", "code_verifier"))

    params = _query(idp.login_with_requests(url, "alice", DEFAULT_PASSWORD))
    finished = provider.finish(REDIRECT_URI, params, transaction)
    claims = jwt.decode(finished.id_token, options={"verify_signature": False})
    assert (claims["nonce"], claims["aud"]) == (transaction["nonce"], DEFAULT_CLIENT_ID)
    assert finished.id_token not in repr(finished)  # the ID token for id_token_hint, never shown
    identity = finished.identity
    assert identity.provider == "sso"
    assert identity.subject == f"{idp.issuer}|{ALICE_SUB}"
    assert identity.username == "alice" and identity.email == "alice@example.test"
    assert identity.display_name == "Alice Admin"
    assert identity.groups == ("registry-admins", "survey-north")
    assert dict(identity.attributes) == {}


@pytest.mark.parametrize(
    "groups_claim, groups",
    [
        ("realm_access.roles", ("registry-admin", "offline_access")),
        (f"resource_access.{DEFAULT_CLIENT_ID}.roles", ("admin", "upload")),
        (("resource_access", DOTTED_CLIENT, "roles"), ("uploader",)),
        ("preferred_username", ("alice",)),
        ("no_such_claim", ()),
        (None, ()),
    ],
)
def test_groups_from_nested_claims(idp, make, groups_claim, groups):
    provider = make(groups_claim=groups_claim, userinfo="never", expose_claims=("nickname", "email_verified"))
    identity = provider.finish(REDIRECT_URI, *_callback(idp, provider)).identity
    assert identity.groups == groups
    assert dict(identity.attributes) == {"nickname": "Ally", "email_verified": True}


def test_client_secret_post_and_public_clients(idp, make):
    post = make(client_id=POST_CLIENT_ID, client_secret=POST_CLIENT_SECRET, client_auth="client_secret_post")
    assert post.finish(REDIRECT_URI, *_callback(idp, post, "bob")).identity.username == "bob"
    public = make(client_id=PUBLIC_CLIENT_ID, client_secret=None, client_auth="none")
    assert public.finish(REDIRECT_URI, *_callback(idp, public)).identity.username == "alice"


@pytest.mark.parametrize(
    "mode, groups_claim, asks_userinfo",
    [
        ("fallback", "groups", False),  # everything wanted is in the ID token
        ("fallback", "department", True),  # a claim the ID token lacks
        ("always", "groups", True),
        ("never", "department", False),
    ],
)
def test_userinfo_modes(idp, make, mode, groups_claim, asks_userinfo):
    session = RecordingSession()
    provider = make(session=session, userinfo=mode, groups_claim=groups_claim)
    identity = provider.finish(REDIRECT_URI, *_callback(idp, provider)).identity
    assert identity.username == "alice" and identity.subject.endswith(ALICE_SUB)
    assert ("/me" in session.paths) is asks_userinfo
    assert session.paths.count("/token") == 1
    session.close()


def test_unverified_email_is_refused_when_required(idp, make):
    strict = make(require_email_verified=True)
    _refused("email_not_verified", strict.finish, REDIRECT_URI, *_callback(idp, strict, "bob"), status=403)
    assert strict.finish(REDIRECT_URI, *_callback(idp, strict, "alice")).identity.username == "alice"
    assert make().finish(REDIRECT_URI, *_callback(idp, make(), "bob")).identity.username == "bob"


def test_a_username_without_canonical_form_is_refused(idp, make):
    provider = make(username_claim="name", userinfo="never")  # "Alice Admin" has a space
    _refused("bad_username", provider.finish, REDIRECT_URI, *_callback(idp, provider), status=403)


def test_wrong_state_redirect_uri_and_nonce_are_refused(idp, make):
    provider = make()
    params, transaction = _callback(idp, provider)
    _refused("bad_state", provider.finish, REDIRECT_URI, {**params, "state": "forged"}, transaction)
    _refused(
        "bad_state",
        provider.finish,
        REDIRECT_URI,
        {k: v for k, v in params.items() if k != "state"},
        transaction,
    )
    _refused("bad_state", provider.finish, REDIRECT_URI, params, {**transaction, "state": ""})
    _refused("bad_redirect_uri", provider.finish, REDIRECT_URI + "x", params, transaction)
    # None of those spent the code: the nonce check comes after the exchange.
    _refused("nonce_mismatch", provider.finish, REDIRECT_URI, params, {**transaction, "nonce": "tampered"})


def test_a_code_is_good_once(idp, make):
    provider = make()
    params, transaction = _callback(idp, provider)
    assert provider.finish(REDIRECT_URI, params, transaction).identity.username == "alice"
    _refused("code_rejected", provider.finish, REDIRECT_URI, params, transaction)
    # Another login's verifier does not fit this code either.
    other = _callback(idp, provider)[1]
    fresh, transaction = _callback(idp, provider)
    _refused(
        "code_rejected",
        provider.finish,
        REDIRECT_URI,
        fresh,
        {**transaction, "code_verifier": other["code_verifier"]},
    )


def test_iss_parameter_must_be_the_issuer_and_present(idp, make):
    provider = make()
    params, transaction = _callback(idp, provider)
    assert params["iss"] == idp.issuer
    _refused("bad_iss", provider.finish, REDIRECT_URI, {**params, "iss": idp.issuer + "/"}, transaction)
    # The IdP promises the parameter (authorization_response_iss_parameter_supported): its absence
    # is a mix-up.
    _refused(
        "bad_iss", provider.finish, REDIRECT_URI, {k: v for k, v in params.items() if k != "iss"}, transaction
    )
    assert provider.finish(REDIRECT_URI, params, transaction).identity.username == "alice"


def test_an_error_answer_is_refused(idp, make):
    provider = make()
    _, transaction = provider.start(REDIRECT_URI)
    _refused(
        "idp_error",
        provider.finish,
        REDIRECT_URI,
        {"error": "access_denied", "state": transaction["state"], "iss": idp.issuer},
        transaction,
    )


def test_wrong_client_secret_is_the_operators_problem(idp, make):
    provider = make(client_secret="not-the-secret")
    with pytest.raises(ProviderUnavailable) as caught:
        provider.finish(REDIRECT_URI, *_callback(idp, provider))
    assert "client authentication refused" in caught.value.reason


def test_discovery_issuer_must_match(idp, make):
    provider = make(issuer=idp.issuer + "/", discovery_url=idp.discovery_url)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.start(REDIRECT_URI)
    assert caught.value.reason == "issuer mismatch in discovery"
    assert provider.health() == "issuer mismatch in discovery"
    assert provider.end_session_url(LOGGED_OUT_URI) is None


def test_end_session_url_and_health(idp, make):
    provider = make()
    assert provider.health() == "ok"
    url = provider.end_session_url(LOGGED_OUT_URI)
    assert url.startswith(idp.end_session_endpoint + "?")
    assert _query(url) == {"client_id": DEFAULT_CLIENT_ID, "post_logout_redirect_uri": LOGGED_OUT_URI}
    assert _query(provider.end_session_url(None)) == {"client_id": DEFAULT_CLIENT_ID}
    assert _query(provider.end_session_url(LOGGED_OUT_URI, "a.b.c")) == {
        "id_token_hint": "a.b.c",
        "client_id": DEFAULT_CLIENT_ID,
        "post_logout_redirect_uri": LOGGED_OUT_URI,
    }
    assert make(end_session=False).end_session_url(LOGGED_OUT_URI) is None


# --------------------------------------------------------------------------------------------
# the token path
# --------------------------------------------------------------------------------------------


def test_id_tokens_only_when_accepted_and_only_for_this_client(idp, make):
    ours = _tokens(idp, make())["id_token"]
    accepting = make(tokens=OidcTokenSettings(accept_id_tokens=True))
    assert accepting.accepts_jwt_tokens()
    assert accepting.identity_from_token(ours).username == "alice"
    assert not make().accepts_jwt_tokens()
    _refused("token_not_accepted", make().identity_from_token, ours)
    # An ID token the same IdP issued to another client.
    theirs = _tokens(
        idp, make(client_id=POST_CLIENT_ID), client_id=POST_CLIENT_ID, secret=POST_CLIENT_SECRET
    )["id_token"]
    _refused("bad_audience", accepting.identity_from_token, theirs)


def test_forged_and_expired_jwts_are_refused(idp, make):
    provider = make(tokens=OidcTokenSettings(accept_id_tokens=True))
    real_key = idp.private_jwks["keys"][0]
    kid = real_key["kid"]
    # The control: a token crafted with the IdP's own key passes (within the 60 s leeway, too).
    assert provider.identity_from_token(_signed(real_key, _id_claims(idp))).username == "alice"
    assert provider.identity_from_token(_signed(real_key, _id_claims(idp, exp=int(time.time()) - 30)))

    foreign = {**generate_signing_key(), "kid": kid}
    _refused("bad_signature", provider.identity_from_token, _signed(foreign, _id_claims(idp)))
    _refused("unknown_key", provider.identity_from_token, _signed(generate_signing_key(), _id_claims(idp)))

    header = {"alg": "none", "typ": "JWT", "kid": kid}
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_id_claims(idp)).encode())}."
    _refused("alg_not_allowed", provider.identity_from_token, unsigned)

    # HS256 keyed with the IdP's public key, the classic algorithm confusion.
    public_pem = RSAAlgorithm.from_jwk(json.dumps(idp.jwks["keys"][0])).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}."
        f"{_b64(json.dumps(_id_claims(idp)).encode())}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    _refused("alg_not_allowed", provider.identity_from_token, f"{signing_input}.{_b64(mac)}")
    # PS256 is allowed, but not with a key published for RS256.
    _refused("alg_not_allowed", provider.identity_from_token, _signed(real_key, _id_claims(idp), alg="PS256"))

    now = int(time.time())
    _refused(
        "expired",
        provider.identity_from_token,
        _signed(real_key, _id_claims(idp, iat=now - 900, exp=now - 120)),
    )
    _refused("missing_claim", provider.identity_from_token, _signed(real_key, _id_claims(idp, exp=None)))
    _refused(
        "bad_issuer", provider.identity_from_token, _signed(real_key, _id_claims(idp, iss=idp.issuer + "/"))
    )
    _refused(
        "bad_azp",
        provider.identity_from_token,
        _signed(real_key, _id_claims(idp, aud=[DEFAULT_CLIENT_ID, "other"])),
    )
    _refused("bad_subject", provider.identity_from_token, _signed(real_key, _id_claims(idp, sub="x" * 250)))
    _refused("malformed_token", provider.identity_from_token, "a.b.c." + "x" * 20000)


def test_expired_id_token_from_the_idp(tmp_path, make):
    server = OidcProviderServer.start(tmp_path, clients=_clients(), users=_users(), ttl={"IdToken": 1})
    try:
        provider = make(server=server, tokens=OidcTokenSettings(accept_id_tokens=True))
        id_token = _tokens(server, provider)["id_token"]
        assert provider.identity_from_token(id_token).username == "alice"
        claims = jwt.decode(id_token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 1
    finally:
        server.stop()
    # Past exp plus the 60 s leeway: crafted with the IdP's key, as waiting a minute would be slow.
    now = int(time.time())
    expired = _signed(server.private_jwks["keys"][0], _id_claims(server, iat=now - 120, exp=now - 61))
    _refused("expired", provider.identity_from_token, expired)


def test_jwt_access_tokens_for_a_configured_audience(idp, make):
    tokens = _tokens(idp, make(), extra="&resource=" + quote(DEFAULT_RESOURCE, safe=""))
    access = tokens["access_token"]
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"
    accepting = make(
        tokens=OidcTokenSettings(access_token_audiences=("https://other.test", DEFAULT_RESOURCE)),
        groups_claim="realm_access.roles",
    )
    assert accepting.accepts_jwt_tokens()
    identity = accepting.identity_from_token(access)
    assert identity.username == "alice" and identity.groups == ("registry-admin", "offline_access")
    assert identity.subject == f"{idp.issuer}|{ALICE_SUB}"
    _refused(
        "token_not_accepted",
        make(tokens=OidcTokenSettings(accept_id_tokens=True)).identity_from_token,
        access,
    )
    _refused(
        "bad_audience",
        make(tokens=OidcTokenSettings(access_token_audiences=("https://other.test",))).identity_from_token,
        access,
    )
    # An ID token (plain JWT) is no access token for another audience. A plain JWT's kind is
    # told by its aud, though: listing the client's own id as an access token audience (Entra
    # v2 tokens for an API exposed by the gateway's own app registration) admits its ID tokens.
    _refused(
        "bad_audience",
        make(tokens=OidcTokenSettings(access_token_audiences=(DEFAULT_RESOURCE,))).identity_from_token,
        tokens["id_token"],
    )
    listing_client = make(tokens=OidcTokenSettings(access_token_audiences=(DEFAULT_CLIENT_ID,)))
    assert listing_client.identity_from_token(tokens["id_token"]).username == "alice"


def test_plain_jwt_access_tokens_of_keycloak_entra_and_okta_shapes(idp, make):
    """Access tokens with header typ JWT (or none), signed with the IdP's real key and verified
    through its real discovery and JWKS: told apart by their payload typ and audience."""
    real_key = idp.private_jwks["keys"][0]
    now = int(time.time())
    base = {"iss": idp.issuer, "sub": ALICE_SUB, "iat": now, "exp": now + 300, "preferred_username": "alice"}
    keycloak = {
        **base,
        "typ": "Bearer",
        "aud": ["account", "registry-api"],
        "azp": DEFAULT_CLIENT_ID,
        "realm_access": {"roles": ["registry-admin"]},
        "scope": "openid profile email",
    }
    entra = {
        **base,
        "aud": "api://registry",
        "azp": "33333333-cli-app",
        "scp": "registry.read",
        "ver": "2.0",
        "preferred_username": "Alice@Corp.Example.com",
        "groups": ["9f2d1c1e-group"],
    }
    okta = {**base, "aud": "api://default", "cid": "0oa-cli", "scp": ["openid"], "ver": 1}
    provider = make(
        tokens=OidcTokenSettings(
            accept_id_tokens=True, access_token_audiences=("registry-api", "api://registry", "api://default")
        ),
        groups_claim="realm_access.roles",
        username_strip_domains=("corp.example.com",),
    )

    identity = provider.identity_from_token(_signed(real_key, keycloak, typ="JWT"))
    assert identity.username == "alice" and identity.groups == ("registry-admin",)
    assert identity.subject == f"{idp.issuer}|{ALICE_SUB}"
    assert provider.identity_from_token(_signed(real_key, entra, typ="JWT")).username == "alice"
    assert provider.identity_from_token(_signed(real_key, okta, typ=None)).username == "alice"
    entra_groups = make(
        tokens=OidcTokenSettings(access_token_audiences=("api://registry",)),
        username_strip_domains=("corp.example.com",),
    )
    assert entra_groups.identity_from_token(_signed(real_key, entra, typ="JWT")).groups == ("9f2d1c1e-group",)

    # Keycloak's other tokens, and the same shapes for an audience nobody listed.
    for typ in ("Refresh", "Offline", "Logout"):
        _refused(
            "token_not_accepted",
            provider.identity_from_token,
            _signed(real_key, {**keycloak, "typ": typ}, typ="JWT"),
        )
    _refused(
        "bad_audience",
        provider.identity_from_token,
        _signed(real_key, {**keycloak, "aud": ["account", DEFAULT_CLIENT_ID]}, typ="JWT"),
    )
    _refused(
        "bad_audience",
        provider.identity_from_token,
        _signed(real_key, {**entra, "aud": "api://someone-else"}, typ="JWT"),
    )
    _refused(
        "token_not_accepted", provider.identity_from_token, _signed(real_key, keycloak, typ="logout+jwt")
    )
    # Forged with another key under the real kid: the one verification fails.
    forged = {**generate_signing_key(), "kid": real_key["kid"]}
    _refused("bad_signature", provider.identity_from_token, _signed(forged, entra, typ="JWT"))


def test_opaque_tokens_by_introspection(idp, make):
    provider = make(tokens=OidcTokenSettings(introspection=True), scopes=SCOPES + ("registry:read",))
    opaque = _tokens(idp, provider, extra="&resource=" + quote(OPAQUE_RESOURCE, safe=""))
    assert opaque["access_token"].count(".") != 2
    identity = provider.identity_from_token(opaque["access_token"])
    assert identity.username == "alice" and identity.groups == ("registry-admins", "survey-north")
    _refused("token_not_accepted", make().identity_from_token, opaque["access_token"])
    _refused("inactive_token", provider.identity_from_token, "not-a-token")

    tokens = _tokens(idp, provider, "bob")  # no resource: an opaque token for userinfo
    assert provider.identity_from_token(tokens["access_token"]).username == "bob"
    _refused("bad_token_type", provider.identity_from_token, tokens["refresh_token"])
    with idp.http_session() as http:
        http.post(
            idp.revocation_endpoint,
            auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            data={"token": tokens["access_token"]},
            timeout=5,
        ).raise_for_status()
    _refused("inactive_token", provider.identity_from_token, tokens["access_token"])

    # A token of another client is not for this gateway.
    theirs = _tokens(idp, make(client_id=POST_CLIENT_ID), client_id=POST_CLIENT_ID, secret=POST_CLIENT_SECRET)
    _refused("bad_audience", provider.identity_from_token, theirs["access_token"])

    with pytest.raises(ProviderUnavailable):
        make(client_secret="wrong", tokens=OidcTokenSettings(introspection=True)).identity_from_token(
            opaque["access_token"]
        )


def test_introspection_falls_back_to_userinfo_for_the_username(idp, make):
    session = RecordingSession()
    provider = make(session=session, username_claim="nickname", tokens=OidcTokenSettings(introspection=True))
    access = _tokens(idp, provider)["access_token"]
    session.paths.clear()
    assert provider.identity_from_token(access).username == "ally"
    assert session.paths == ["/token/introspection", "/me"]
    session.close()


# --------------------------------------------------------------------------------------------
# key rotation and outages
# --------------------------------------------------------------------------------------------


def test_key_rotation_is_followed_and_the_refetch_is_rate_limited(tmp_path, make):
    server = OidcProviderServer.start(tmp_path, clients=_clients(), users=_users())
    try:
        settings = {"server": server, "tokens": OidcTokenSettings(accept_id_tokens=True)}
        quick, slow = (
            make(jwks_min_refresh_seconds=0.2, **settings),
            make(jwks_min_refresh_seconds=300, **settings),
        )
        old = _tokens(server, quick)["id_token"]
        assert quick.identity_from_token(old).username == slow.identity_from_token(old).username == "alice"

        server.restart(rotate_keys=True, keep_previous_key=True)
        time.sleep(0.25)
        params, transaction = _callback(server, quick)
        assert jwt.get_unverified_header(old)["kid"] != server.kids[0]
        # Refetched the JWKS:
        assert quick.finish(REDIRECT_URI, params, transaction).identity.username == "alice"
        assert quick.identity_from_token(old).username == "alice"  # the previous key is still published
        new = _tokens(server, quick)["id_token"]
        assert jwt.get_unverified_header(new)["kid"] == server.kids[0]
        _refused("unknown_key", slow.identity_from_token, new)  # fetched too recently to look again

        # Stopped: what is cached still answers, but nothing new can be had.
        params, transaction = _callback(server, quick)
        server.stop()
        with pytest.raises(ProviderUnavailable):
            quick.finish(REDIRECT_URI, params, transaction)
        assert quick.health() == "ok"  # the discovery document is cached
        cold = make(**settings)
        with pytest.raises(ProviderUnavailable):
            cold.start(REDIRECT_URI)
        assert cold.health() != "ok"
        assert cold.end_session_url(LOGGED_OUT_URI) is None
    finally:
        server.stop()


def test_a_hung_idp_is_unavailable_within_the_timeout(idp, make, monkeypatch):
    monkeypatch.setattr(metadata, "COLD_RETRY_SECONDS", 0.5)  # the breaker's pause, shortened
    warm = make(timeout_seconds=1.0)
    params, transaction = _callback(idp, warm)
    cold = make(timeout_seconds=1.0)
    idp.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(ProviderUnavailable) as caught:
            warm.finish(REDIRECT_URI, params, transaction)
        assert "token" in caught.value.reason
        assert time.monotonic() - t0 < 1.8

        # Threads waiting for the same discovery fetch share its failure: ~one timeout each.
        outcomes, times = [], []

        def start():
            began = time.monotonic()
            try:
                cold.start(REDIRECT_URI)
            except ProviderUnavailable as error:
                outcomes.append(error.reason)
            times.append(time.monotonic() - began)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert outcomes == ["discovery: timed out"] * 4
        assert max(times) < 1.8
    finally:
        idp.resume()
    time.sleep(0.6)  # the circuit breaker lets a fetch through again after its pause
    assert cold.health() == "ok"
