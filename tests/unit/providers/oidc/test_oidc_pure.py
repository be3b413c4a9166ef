"""The OIDC provider's pure parts (claims to identity, claim paths, the configuration schema),
and the rules only a misbehaving IdP exercises, against an in-process fake (no sockets)."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.config.errors import ConfigError
from gateway.login.usernames import UsernamePolicy
from providers.base import ProviderUnavailable
from providers.oidc import OidcProvider, OidcRejected, OidcSettings, OidcTokenSettings
from providers.oidc.claims import claim_path, claim_value, groups_from, identity_from_claims, strip_domain
from providers.oidc.config import OidcProviderSchema, oidc_settings
from providers.schema import load_section

ISSUER = "https://idp.example/realms/main"
SUB = "0b7c6c1e-sub"


def _canonical(raw: str) -> str | None:
    name = raw.strip().lower()
    return name if name and name.isascii() and name.replace("-", "").replace(".", "").isalnum() else None


def _identity(claims: dict, **settings):
    values = {"issuer": ISSUER, "client_id": "gw", **settings}
    return identity_from_claims(
        "sso",
        ISSUER,
        {"sub": SUB, "preferred_username": "alice", **claims},
        OidcSettings(**values),
        _canonical,
    )


# --- claims to identity -----------------------------------------------------------------------

GROUPS_CASES = [
    ("flat list", {"groups": ["a", "b"]}, "groups", ("a", "b")),
    ("non-strings skipped", {"groups": ["a", 1, None, {"x": 1}, ["b"], "c"]}, "groups", ("a", "c")),
    ("single string", {"groups": "admins"}, "groups", ("admins",)),
    ("number", {"groups": 5}, "groups", ()),
    ("object", {"groups": {"a": 1}}, "groups", ()),
    ("missing", {}, "groups", ()),
    ("null", {"groups": None}, "groups", ()),
    ("no groups claim", {"groups": ["a"]}, None, ()),
    ("realm roles", {"realm_access": {"roles": ["r1", "r2"]}}, "realm_access.roles", ("r1", "r2")),
    ("realm roles missing", {"realm_access": {}}, "realm_access.roles", ()),
    ("realm_access not an object", {"realm_access": ["roles"]}, "realm_access.roles", ()),
    ("client roles", {"resource_access": {"gw": {"roles": ["up"]}}}, "resource_access.gw.roles", ("up",)),
    (
        "dotted client id, list path",
        {"resource_access": {"my.client": {"roles": ["up"]}}},
        ("resource_access", "my.client", "roles"),
        ("up",),
    ),
    (
        "dotted client id, dotted path finds nothing",
        {"resource_access": {"my.client": {"roles": ["up"]}}},
        "resource_access.my.client.roles",
        (),
    ),
    (
        "a key with a dot at the top",
        {"https://ns.example/groups": ["g"]},
        ("https://ns.example/groups",),
        ("g",),
    ),
]


@pytest.mark.parametrize(
    "claims, path, groups", [case[1:] for case in GROUPS_CASES], ids=[case[0] for case in GROUPS_CASES]
)
def test_groups_from_claim_paths(claims, path, groups):
    assert _identity(claims, groups_claim=path).groups == groups


IDENTITY_CASES = [
    ("email and name", {"email": "a@x.test", "name": "Alice A"}, {}, ("a@x.test", "Alice A")),
    ("non-string email and name ignored", {"email": ["a@x.test"], "name": 3}, {}, (None, None)),
    (
        "verified when required",
        {"email": "a@x.test", "email_verified": True},
        {"require_email_verified": True},
        ("a@x.test", None),
    ),
    ("unverified but not required", {"email": "a@x.test", "email_verified": False}, {}, ("a@x.test", None)),
]


@pytest.mark.parametrize(
    "claims, settings, expected",
    [case[1:] for case in IDENTITY_CASES],
    ids=[case[0] for case in IDENTITY_CASES],
)
def test_identity_fields(claims, settings, expected):
    identity = _identity(claims, **settings)
    assert (identity.email, identity.display_name) == expected
    assert (
        identity.provider == "sso" and identity.subject == f"{ISSUER}|{SUB}" and identity.username == "alice"
    )


REFUSALS = [
    (
        "email_verified false",
        {"email_verified": False},
        {"require_email_verified": True},
        "email_not_verified",
        403,
    ),
    (
        "email_verified a string",
        {"email_verified": "true"},
        {"require_email_verified": True},
        "email_not_verified",
        403,
    ),
    ("email_verified 1", {"email_verified": 1}, {"require_email_verified": True}, "email_not_verified", 403),
    ("email_verified missing", {}, {"require_email_verified": True}, "email_not_verified", 403),
    ("username not canonical", {"preferred_username": "Alice Admin"}, {}, "bad_username", 403),
    ("username not a string", {"preferred_username": ["alice"]}, {}, "bad_username", 403),
    ("username missing", {"preferred_username": None}, {}, "bad_username", 403),
    ("username claim path missing", {}, {"username_claim": "profile.login"}, "bad_username", 403),
    ("sub missing", {"sub": None}, {}, "bad_subject", 401),
    ("sub a number", {"sub": 42}, {}, "bad_subject", 401),
    ("sub empty", {"sub": ""}, {}, "bad_subject", 401),
    ("subject too long", {"sub": "s" * (256 - len(ISSUER) - 1)}, {}, "bad_subject", 401),
]


@pytest.mark.parametrize(
    "claims, settings, reason, status", [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
def test_refusals(claims, settings, reason, status):
    with pytest.raises(OidcRejected) as caught:
        _identity(claims, **settings)
    assert (caught.value.reason, caught.value.status) == (reason, status)


def test_longest_subject_is_accepted():
    assert len(_identity({"sub": "s" * (255 - len(ISSUER) - 1)}).subject) == 255


def test_username_from_a_nested_claim_is_made_canonical():
    assert (
        _identity({"profile": {"login": " Alice.B "}}, username_claim="profile.login").username == "alice.b"
    )


def test_exposed_claims_are_scalars_only():
    claims = {
        "dept": "survey",
        "level": 3,
        "admin": False,
        "ratio": 0.5,
        "tags": ["a"],
        "obj": {"a": 1},
        "nothing": None,
        "access_token": None,
    }
    identity = _identity(
        claims, expose_claims=("dept", "level", "admin", "ratio", "tags", "obj", "nothing", "absent")
    )
    assert dict(identity.attributes) == {"dept": "survey", "level": 3, "admin": False}
    assert identity.to_dict()["attributes"] == {"dept": "survey", "level": 3, "admin": False}


@pytest.mark.parametrize(
    "spec, path",
    [
        ("groups", ("groups",)),
        ("realm_access.roles", ("realm_access", "roles")),
        (("resource_access", "my.client", "roles"), ("resource_access", "my.client", "roles")),
    ],
)
def test_claim_paths(spec, path):
    assert claim_path(spec) == path


def test_claim_value_and_groups_from():
    claims = {"a": {"b": {"c": 1}}, "l": [1]}
    assert claim_value(claims, "a.b.c") == 1 and claim_value(claims, "a.b.x") is None
    assert claim_value(claims, "l.0") is None and claim_value(claims, ("a", "b")) == {"c": 1}
    assert groups_from(("a",)) == () and groups_from(True) == () and groups_from([]) == ()


# --- the configuration schema -----------------------------------------------------------------

BASE = {"id": "keycloak", "type": "oidc", "issuer": ISSUER, "client_id": "gw", "client_secret": "s3cret"}


def _loaded(**changes) -> dict:
    data = {key: value for key, value in {**BASE, **changes}.items() if value is not ...}
    return load_section(OidcProviderSchema, data, "gateway.yaml", "providers[1]")


def _settings(**changes) -> OidcSettings:
    options = _loaded(**changes)
    options.pop("id"), options.pop("type")
    return oidc_settings(options)


def test_client_id_as_an_access_token_audience_needs_id_tokens_accepted_too():
    tokens = _settings(tokens={"access_token_audiences": ["gw"], "accept_id_tokens": True}).tokens
    assert tokens.access_token_audiences == ("gw",) and tokens.accept_id_tokens


def test_defaults_match_the_settings_defaults():
    assert _settings() == OidcSettings(issuer=ISSUER, client_id="gw", client_secret="s3cret")


def test_a_full_section_loads():
    settings = _settings(
        client_auth="client_secret_post",
        discovery_url="https://idp.example/custom/discovery?x=1",
        scopes=["openid", "email", "registry:read"],
        username_claim="email",
        groups_claim=["resource_access", "my.client", "roles"],
        userinfo="always",
        require_email_verified=True,
        expose_claims=["department", "employee_id"],
        label="Staff login",
        logo_url="https://cdn.example/l.svg",
        end_session=False,
        timeout_seconds=0.5,
        discovery_ttl_seconds=60,
        jwks_min_refresh_seconds=5,
        algorithms=["ES256", "ES256", "RS512"],
        tokens={
            "accept_id_tokens": True,
            "access_token_audiences": ["https://registry.example/api"],
            "introspection": True,
        },
    )
    assert settings.groups_claim == ("resource_access", "my.client", "roles")
    assert settings.scopes == ("openid", "email", "registry:read") and settings.algorithms == (
        "ES256",
        "RS512",
    )
    assert settings.tokens == OidcTokenSettings(True, ("https://registry.example/api",), True)
    assert settings.discovery_document_url == "https://idp.example/custom/discovery?x=1"
    assert (settings.label, settings.logo_url, settings.end_session) == (
        "Staff login",
        "https://cdn.example/l.svg",
        False,
    )


def test_public_client_and_no_groups():
    settings = _settings(client_auth="none", client_secret=..., groups_claim=None)
    assert settings.client_secret is None and settings.groups_claim is None
    assert settings.discovery_document_url == ISSUER + "/.well-known/openid-configuration"


CONFIG_ERRORS = [
    ({"issuer": ...}, "issuer", "Missing data"),
    ({"issuer": "idp.example"}, "issuer", "http:// or https://"),
    ({"issuer": "ftp://idp.example"}, "issuer", "http:// or https://"),
    ({"issuer": "https://idp.example/?tenant=1"}, "issuer", "no query or fragment"),
    ({"issuer": "https://idp.example/#x"}, "issuer", "no query or fragment"),
    ({"issuer": "https://idp.example:99999/"}, "issuer", "not a URL"),
    ({"client_id": ""}, "client_id", "Length"),
    ({"client_secret": ...}, "client_secret", "required with client_auth client_secret_basic"),
    ({"client_auth": "none"}, "client_secret", "not used with client_auth none"),
    ({"client_auth": "private_key_jwt"}, "client_auth", "Must be one of"),
    (
        {"client_auth": "none", "client_secret": ..., "tokens": {"introspection": True}},
        "tokens.introspection",
        "confidential client",
    ),
    (
        {"tokens": {"access_token_audiences": ["gw"]}},
        "tokens.access_token_audiences",
        "also set tokens.accept_id_tokens: true",
    ),
    ({"scopes": ["profile", "email"]}, "scopes", "must contain openid"),
    ({"scopes": ["openid", "two words"]}, "scopes[1]", "not an OAuth scope"),
    ({"scopes": "openid"}, "scopes", "Not a valid list"),
    ({"username_claim": "a..b"}, "username_claim", "claim name, a dotted path or a list"),
    ({"username_claim": []}, "username_claim", "claim name, a dotted path or a list"),
    ({"username_claim": None}, "username_claim", "Field may not be null"),
    ({"groups_claim": ["resource_access", 3]}, "groups_claim", "claim name, a dotted path or a list"),
    ({"userinfo": "sometimes"}, "userinfo", "Must be one of"),
    ({"expose_claims": ["a.b"]}, "expose_claims[0]", "not a claim name"),
    ({"algorithms": ["RS256", "HS256"]}, "algorithms[1]", "asymmetric only"),
    ({"algorithms": ["none"]}, "algorithms[0]", "asymmetric only"),
    ({"algorithms": []}, "algorithms", "Length"),
    ({"timeout_seconds": 0.1}, "timeout_seconds", "greater than or equal to 0.5"),
    ({"timeout_seconds": 11}, "timeout_seconds", "less than or equal to 10"),
    ({"logo_url": "javascript:alert(1)"}, "logo_url", "http:// or https://"),
    ({"id": "Key Cloak"}, "id", "lower-case letters, digits, - or _"),
    ({"type": "ldap"}, "type", "Must be equal to oidc"),
    ({"client_secrt": "x"}, "client_secrt", "unknown key"),
    ({"tokens": {"introspect": True}}, "tokens.introspect", "unknown key"),
    (
        {"tokens": {"access_token_audiences": "https://api"}},
        "tokens.access_token_audiences",
        "Not a valid list",
    ),
]


@pytest.mark.parametrize("changes, key, message", CONFIG_ERRORS, ids=[case[1] for case in CONFIG_ERRORS])
def test_config_errors_name_the_key(changes, key, message):
    with pytest.raises(ConfigError) as caught:
        _loaded(**changes)
    assert caught.value.key == f"providers[1].{key}"
    assert message in caught.value.message
    assert str(caught.value).startswith(f"gateway.yaml: providers[1].{key}: ")


# --- a misbehaving IdP, in process ------------------------------------------------------------

IDP = "https://idp.test"


def _answer(status: int, body, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.raw = io.BytesIO(data)
    response.headers["Content-Type"] = content_type
    return response


class FakeIdp(requests.Session):
    """An IdP answering from Python: ``routes`` maps a path to a function of the request."""

    def __init__(self):
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}
        self.document = {
            "issuer": IDP,
            "authorization_endpoint": f"{IDP}/auth",
            "token_endpoint": f"{IDP}/token",
            "jwks_uri": f"{IDP}/jwks",
            "userinfo_endpoint": f"{IDP}/me",
        }
        self.id_claims: dict = {}
        self.userinfo: dict = {"sub": SUB, "preferred_username": "alice"}
        self.calls: list[str] = []
        self.routes = {
            "/.well-known/openid-configuration": lambda: _answer(200, self.document),
            "/jwks": lambda: _answer(200, {"keys": [self.jwk]}),
            "/token": lambda: _answer(
                200, {"access_token": "at", "token_type": "Bearer", "id_token": self.sign(self.id_claims)}
            ),
            "/me": lambda: _answer(200, self.userinfo),
        }

    def sign(self, claims: dict, key=None, **header) -> str:
        now = int(time.time())
        full = {"iss": IDP, "aud": "gw", "sub": SUB, "iat": now, "exp": now + 60, **claims}
        return jwt.encode(
            {k: v for k, v in full.items() if v is not None},
            key or self.key,
            algorithm="RS256",
            headers={"kid": "k1", **header},
        )

    def request(self, method, url, *args, **kwargs):
        assert kwargs["allow_redirects"] is False and kwargs["timeout"] == (2.0, 2.0)
        path = urlsplit(url).path
        self.calls.append(path)
        return self.routes[path]()


@pytest.fixture
def fake():
    session = FakeIdp()
    yield session
    session.close()


def _provider(fake, **settings) -> OidcProvider:
    return OidcProvider(
        "sso",
        OidcSettings(
            **{"issuer": IDP, "client_id": "gw", "client_secret": "s", "timeout_seconds": 2.0, **settings}
        ),
        _canonical,
        session=fake,
    )


def _finish(fake, provider):
    """A login through ``provider`` whose ID token carries the fake IdP's ``id_claims``."""
    url, transaction = provider.start("https://gw.test/cb")
    fake.id_claims.setdefault("nonce", transaction["nonce"])
    state = parse_qs(urlsplit(url).query)["state"][0]
    return provider.finish("https://gw.test/cb", {"code": "c", "state": state}, transaction).identity


def _rejected(reason, call, *args):
    with pytest.raises(OidcRejected) as caught:
        call(*args)
    assert caught.value.reason == reason


def test_fake_idp_login_works(fake):
    fake.id_claims = {"preferred_username": "alice", "email": "a@x.test", "groups": ["g"]}
    identity = _finish(fake, _provider(fake))
    assert identity.username == "alice" and identity.subject == f"{IDP}|{SUB}"
    assert "/me" not in fake.calls


def test_userinfo_must_be_about_the_same_subject(fake):
    fake.id_claims = {"preferred_username": "alice"}
    fake.userinfo = {"sub": "someone-else", "preferred_username": "admin", "groups": ["admins"]}
    _rejected("userinfo_sub_mismatch", _finish, fake, _provider(fake))


def test_userinfo_fills_gaps_but_never_the_token_claims(fake):
    fake.id_claims = {"preferred_username": "alice"}
    fake.userinfo = {"sub": SUB, "groups": ["from-userinfo"], "email": "a@x.test", "iss": "https://evil.test"}
    identity = _finish(fake, _provider(fake))
    assert identity.groups == ("from-userinfo",) and identity.email == "a@x.test"
    assert identity.subject == f"{IDP}|{SUB}"


def test_azp_must_be_this_client(fake):
    fake.id_claims = {"preferred_username": "alice", "azp": "other"}
    _rejected("bad_azp", _finish, fake, _provider(fake))


def test_a_key_of_the_wrong_type_for_the_alg(fake):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    fake.jwk = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "k1"}
    fake.id_claims = {"preferred_username": "alice"}
    _rejected("alg_not_allowed", _finish, fake, _provider(fake))  # RS256 header, EC key


def test_an_idp_5xx_or_redirect_is_unavailable_and_a_stale_discovery_is_kept(fake):
    provider = _provider(fake, discovery_ttl_seconds=0)
    fake.routes["/token"] = lambda: _answer(502, b"bad gateway", "text/plain")
    with pytest.raises(ProviderUnavailable) as caught:
        _finish(fake, provider)
    assert caught.value.reason == "token: HTTP 502"
    fake.routes["/.well-known/openid-configuration"] = lambda: _answer(302, b"")
    assert provider.start("https://gw.test/cb")[0].startswith(f"{IDP}/auth?")  # the stale document
    assert provider.health() == "ok"
    cold = _provider(fake)
    with pytest.raises(ProviderUnavailable) as caught:
        cold.start("https://gw.test/cb")
    assert caught.value.reason == "discovery: HTTP 302"


def test_discovery_must_be_complete(fake):
    del fake.document["jwks_uri"]
    with pytest.raises(ProviderUnavailable) as caught:
        _provider(fake).start("https://gw.test/cb")
    assert caught.value.reason == "discovery has no jwks_uri"


def test_random_kids_do_not_flood_the_idp(fake):
    provider = _provider(fake, tokens=OidcTokenSettings(accept_id_tokens=True), jwks_min_refresh_seconds=60)
    token = fake.sign({"preferred_username": "alice"})
    assert provider.identity_from_token(token).username == "alice"
    for kid in ("x1", "x2", "x3"):
        _rejected("unknown_key", provider.identity_from_token, fake.sign({}, kid=kid))
    assert fake.calls.count("/jwks") == 1


def test_introspection_answers_are_checked(fake):
    fake.document["introspection_endpoint"] = f"{IDP}/introspect"
    answer = {
        "active": True,
        "sub": SUB,
        "preferred_username": "alice",
        "client_id": "gw",
        "token_type": "Bearer",
        "iss": IDP,
    }
    fake.routes["/introspect"] = lambda: _answer(200, answer)
    provider = _provider(fake, tokens=OidcTokenSettings(introspection=True))
    assert provider.identity_from_token("opaque-token").username == "alice"
    for change, reason in [
        ({"active": "true"}, "inactive_token"),
        ({"iss": "https://other.test"}, "bad_issuer"),
        ({"token_type": None}, "bad_token_type"),
        ({"token_type": "DPoP"}, "bad_token_type"),
        ({"client_id": "other"}, "bad_audience"),
        ({"exp": int(time.time()) - 61}, "expired"),
    ]:
        changed = {k: v for k, v in {**answer, **change}.items() if v is not None}
        fake.routes["/introspect"] = lambda changed=changed: _answer(200, changed)
        _rejected(reason, provider.identity_from_token, "opaque-token")


# --- which JWTs the token path takes: header typ, payload typ, audience ------------------------

ACCESS = "registry-api"
KEYCLOAK = OidcTokenSettings(accept_id_tokens=True, access_token_audiences=(ACCESS,))
ENTRA = OidcTokenSettings(accept_id_tokens=True, access_token_audiences=("api://registry",))
ACCESS_ONLY = OidcTokenSettings(access_token_audiences=(ACCESS,))
ID_ONLY = OidcTokenSettings(accept_id_tokens=True)
NO_TYP = None  # header without typ (Okta)

# (name, accepted tokens, header typ, claims over the fake IdP's defaults (None removes one),
#  "alice" when accepted, else the reason)
JWT_KINDS = [
    ("RFC 9068 at+jwt", ACCESS_ONLY, "at+jwt", {"aud": ACCESS, "azp": "cli"}, "alice"),
    ("RFC 9068 media type, any case", ACCESS_ONLY, "Application/AT+JWT", {"aud": ACCESS}, "alice"),
    ("at+jwt with payload typ Bearer", KEYCLOAK, "at+jwt", {"aud": ACCESS, "typ": "Bearer"}, "alice"),
    ("at+jwt needs no iat", ACCESS_ONLY, "at+jwt", {"aud": ACCESS, "iat": None}, "alice"),
    (
        "Keycloak access token",
        KEYCLOAK,
        "JWT",
        {"typ": "Bearer", "aud": ["account", ACCESS], "azp": "gw", "scope": "openid profile"},
        "alice",
    ),
    (
        "Keycloak access token of another client",
        KEYCLOAK,
        "JWT",
        {"typ": "Bearer", "aud": ["account", ACCESS], "azp": "cli"},
        "alice",
    ),
    ("Keycloak ID token", KEYCLOAK, "JWT", {"typ": "ID", "aud": "gw", "azp": "gw"}, "alice"),
    (
        "Keycloak ID token, accept_id_tokens only",
        ID_ONLY,
        "JWT",
        {"typ": "ID", "aud": "gw", "azp": "gw"},
        "alice",
    ),
    (
        "Entra v2 access token for the listed API",
        ENTRA,
        "JWT",
        {"aud": "api://registry", "azp": "cli-app", "scp": "registry.read", "ver": "2.0"},
        "alice",
    ),
    ("Entra ID token", ENTRA, "JWT", {"aud": "gw", "nonce": "n", "ver": "2.0"}, "alice"),
    (
        "Okta access token, no header typ",
        OidcTokenSettings(access_token_audiences=("api://default",)),
        NO_TYP,
        {"aud": "api://default", "cid": "cli", "scp": ["openid"], "ver": 1},
        "alice",
    ),
    ("Okta ID token, no header typ", ID_ONLY, NO_TYP, {"aud": "gw"}, "alice"),
    (
        "an access audience wins over client_id (no azp check)",
        ENTRA,
        "JWT",
        {"aud": ["gw", "api://registry"], "azp": "cli-app"},
        "alice",
    ),
    # Refused: the kind.
    (
        "Keycloak access token, our client in aud but no access audience",
        KEYCLOAK,
        "JWT",
        {"typ": "Bearer", "aud": ["account", "gw"], "azp": "gw"},
        "bad_audience",
    ),
    (
        "Keycloak refresh token",
        KEYCLOAK,
        "JWT",
        {"typ": "Refresh", "aud": "gw", "azp": "gw"},
        "token_not_accepted",
    ),
    ("Keycloak offline token", KEYCLOAK, "JWT", {"typ": "Offline", "aud": ACCESS}, "token_not_accepted"),
    ("Keycloak logout token", KEYCLOAK, "JWT", {"typ": "Logout", "aud": "gw"}, "token_not_accepted"),
    ("payload typ not a string", KEYCLOAK, "JWT", {"typ": ["Bearer"], "aud": ACCESS}, "token_not_accepted"),
    ("back-channel logout token", KEYCLOAK, "logout+jwt", {"aud": "gw"}, "token_not_accepted"),
    ("security event token", KEYCLOAK, "secevent+jwt", {"aud": ACCESS}, "token_not_accepted"),
    ("our own gateway token type", KEYCLOAK, "xauth+jwt", {"aud": ACCESS}, "token_not_accepted"),
    ("at+jwt with payload typ ID", KEYCLOAK, "at+jwt", {"typ": "ID", "aud": ACCESS}, "token_not_accepted"),
    ("at+jwt for the client only", KEYCLOAK, "at+jwt", {"aud": "gw", "azp": "gw"}, "bad_audience"),
    ("at+jwt without access audiences", ID_ONLY, "at+jwt", {"aud": "gw"}, "token_not_accepted"),
    (
        "Keycloak access token without access audiences",
        ID_ONLY,
        "JWT",
        {"typ": "Bearer", "aud": "gw"},
        "token_not_accepted",
    ),
    (
        "Entra access token without access audiences",
        ID_ONLY,
        "JWT",
        {"aud": "api://registry"},
        "bad_audience",
    ),
    ("ID token without accept_id_tokens", ACCESS_ONLY, "JWT", {"aud": "gw"}, "bad_audience"),
    (
        "Keycloak ID token without accept_id_tokens",
        ACCESS_ONLY,
        "JWT",
        {"typ": "ID", "aud": ["gw", ACCESS]},
        "token_not_accepted",
    ),
    ("no JWTs accepted at all", OidcTokenSettings(), "JWT", {"aud": "gw"}, "token_not_accepted"),
    # Refused: the kind's rules.
    (
        "Entra token, audience not listed",
        ENTRA,
        "JWT",
        {"aud": "api://other", "azp": "cli-app"},
        "bad_audience",
    ),
    ("ID token of another client", KEYCLOAK, "JWT", {"typ": "ID", "aud": "gw", "azp": "other"}, "bad_azp"),
    ("ID token with several audiences, no azp", ID_ONLY, NO_TYP, {"aud": ["gw", "other"]}, "bad_azp"),
    (
        "Keycloak ID token not for us",
        KEYCLOAK,
        "JWT",
        {"typ": "ID", "aud": ACCESS, "azp": "gw"},
        "bad_audience",
    ),
    ("ID token without iat", ID_ONLY, "JWT", {"aud": "gw", "iat": None}, "missing_claim"),
    ("ID token without sub", ID_ONLY, "JWT", {"aud": "gw", "sub": None}, "missing_claim"),
    ("access token without sub", ENTRA, "JWT", {"aud": "api://registry", "sub": None}, "bad_subject"),
    ("access token without aud", ACCESS_ONLY, "at+jwt", {"aud": None}, "bad_audience"),
    ("access token without exp", ENTRA, "JWT", {"aud": "api://registry", "exp": None}, "missing_claim"),
    (
        "access token of another issuer",
        ENTRA,
        "JWT",
        {"aud": "api://registry", "iss": IDP + "/"},
        "bad_issuer",
    ),
    (
        "expired access token",
        KEYCLOAK,
        "JWT",
        {"typ": "Bearer", "aud": ACCESS, "exp": int(time.time()) - 120},
        "expired",
    ),
]


@pytest.mark.parametrize(
    "tokens, typ, claims, outcome", [case[1:] for case in JWT_KINDS], ids=[case[0] for case in JWT_KINDS]
)
def test_which_jwts_the_token_path_takes(fake, tokens, typ, claims, outcome):
    provider = _provider(fake, tokens=tokens)
    token = fake.sign({"preferred_username": "alice", **claims}, typ=typ)
    if outcome == "alice":
        assert provider.identity_from_token(token).username == "alice"
    else:
        _rejected(outcome, provider.identity_from_token, token)


def test_a_jwt_is_verified_once_with_the_issuers_key(fake, monkeypatch):
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(
        jwt, "decode", lambda *args, **kwargs: decoded.append(kwargs) or real_decode(*args, **kwargs)
    )
    provider = _provider(fake, tokens=KEYCLOAK)
    token = fake.sign({"preferred_username": "alice", "typ": "Bearer", "aud": ["account", ACCESS]}, typ="JWT")
    assert provider.identity_from_token(token).username == "alice"
    assert len(decoded) == 1 and decoded[0]["audience"] == ["gw", ACCESS]
    _rejected(
        "bad_signature",
        provider.identity_from_token,
        fake.sign({"typ": "Bearer", "aud": ACCESS}, key=rsa.generate_private_key(65537, 2048)),
    )
    assert len(decoded) == 2


def test_keycloak_access_token_with_realm_roles(fake):
    claims = {
        "typ": "Bearer",
        "aud": ["account", ACCESS],
        "azp": "gw",
        "preferred_username": "Alice",
        "realm_access": {"roles": ["registry-admin", "offline_access"]},
    }
    identity = _provider(fake, tokens=KEYCLOAK, groups_claim="realm_access.roles").identity_from_token(
        fake.sign(claims, typ="JWT")
    )
    assert identity.username == "alice" and identity.groups == ("registry-admin", "offline_access")
    assert identity.subject == f"{IDP}|{SUB}"


# --- the username: per-provider domains stripped, then the global policy ---------------------

STRIP_CASES = [
    ("listed domain", "ann@corp.example.com", ("corp.example.com",), "ann"),
    ("domain in any case", "Ann@CORP.Example.com", ("corp.example.com",), "Ann"),
    ("second listed domain", "ann@example.org", ("corp.example.com", "example.org"), "ann"),
    ("other domain left", "ann@other.example", ("corp.example.com",), "ann@other.example"),
    ("subdomain left", "ann@eu.corp.example.com", ("corp.example.com",), "ann@eu.corp.example.com"),
    (
        "suffix trick left",
        "ann@corp.example.com.evil.test",
        ("corp.example.com",),
        "ann@corp.example.com.evil.test",
    ),
    ("no domain", "ann", ("corp.example.com",), "ann"),
    ("nothing before @", "@corp.example.com", ("corp.example.com",), "@corp.example.com"),
    ("two @", "a@b@corp.example.com", ("corp.example.com",), "a@b@corp.example.com"),
    ("nothing listed", "ann@corp.example.com", (), "ann@corp.example.com"),
    # "\u212a" (KELVIN SIGN) lower-cases to "k": an IdP checking domains byte for byte sees another one
    (
        "look-alike folds to a listed domain",
        "ann@\u212acorp.example",
        ("kcorp.example",),
        "ann@\u212acorp.example",
    ),
    ("dotless i look-alike", "ann@corp.\u0130o", ("corp.io",), "ann@corp.\u0130o"),
]


@pytest.mark.parametrize(
    "value, domains, expected", [case[1:] for case in STRIP_CASES], ids=[case[0] for case in STRIP_CASES]
)
def test_strip_domain(value, domains, expected):
    assert strip_domain(value, domains) == expected


USERNAME_CASES = [
    ("Entra UPN", {"preferred_username": "Ann@Corp.Example.com"}, {}, "ann"),
    (
        "e-mail of another domain keeps its domain",
        {"preferred_username": "ann@partner.example"},
        {},
        "ann@partner.example",
    ),
    (
        "the username claim is what is stripped",
        {"email": "bob@corp.example.com"},
        {"username_claim": "email"},
        "bob",
    ),
    ("stripped, then refused by the policy", {"preferred_username": "ann smith@corp.example.com"}, {}, None),
    (
        "not stripped, refused by the strict alphabet",
        {"preferred_username": "ann@partner.example"},
        {"alphabet": "strict"},
        None,
    ),
    (
        "stripped, then fits the strict alphabet",
        {"preferred_username": "ann@corp.example.com"},
        {"alphabet": "strict"},
        "ann",
    ),
]


@pytest.mark.parametrize(
    "claims, options, username",
    [case[1:] for case in USERNAME_CASES],
    ids=[case[0] for case in USERNAME_CASES],
)
def test_username_strip_domains_before_the_global_policy(claims, options, username):
    policy = UsernamePolicy(alphabet=options.pop("alphabet", "identity"))
    settings = OidcSettings(
        issuer=ISSUER, client_id="gw", username_strip_domains=("corp.example.com",), **options
    )
    call = identity_from_claims
    args = ("sso", ISSUER, {"sub": SUB, **claims}, settings, policy.canonical)
    if username is None:
        _rejected("bad_username", call, *args)
    else:
        assert call(*args).username == username


def test_username_strip_domains_config():
    settings = _settings(username_strip_domains=["corp.example.com", "example.org", "corp.example.com"])
    assert settings.username_strip_domains == ("corp.example.com", "example.org")
    assert _settings().username_strip_domains == ()


STRIP_CONFIG_ERRORS = [
    (
        {"username_strip_domains": ["Corp.Example.com"]},
        "username_strip_domains[0]",
        "not a lower-case DNS name",
    ),
    (
        {"username_strip_domains": ["example.org", "@corp.example.com"]},
        "username_strip_domains[1]",
        "not a lower-case DNS name",
    ),
    (
        {"username_strip_domains": ["corp.example.com."]},
        "username_strip_domains[0]",
        "not a lower-case DNS name",
    ),
    (
        {"username_strip_domains": ["-corp.example.com"]},
        "username_strip_domains[0]",
        "not a lower-case DNS name",
    ),
    (
        {"username_strip_domains": ["corp example.com"]},
        "username_strip_domains[0]",
        "not a lower-case DNS name",
    ),
    (
        {"username_strip_domains": [f"d{n}.example" for n in range(33)]},
        "username_strip_domains",
        "maximum length 32",
    ),
    ({"username_strip_domains": "corp.example.com"}, "username_strip_domains", "Not a valid list"),
]


@pytest.mark.parametrize(
    "changes, key, message", STRIP_CONFIG_ERRORS, ids=[case[1] for case in STRIP_CONFIG_ERRORS]
)
def test_username_strip_domains_config_errors(changes, key, message):
    test_config_errors_name_the_key(changes, key, message)


# --- what pages call a provider, and whether browsers see it ----------------------------------


def test_display_name_and_label_default_from_the_id():
    settings = _settings()
    assert (settings.display_name, settings.label, settings.browser_login) == ("", "", True)
    assert settings.name_for("keycloak") == "keycloak"
    assert settings.label_for("keycloak") == "Sign in with keycloak"


def test_the_label_defaults_from_the_display_name():
    settings = _settings(display_name="Example Corp")
    assert settings.name_for("keycloak") == "Example Corp"
    assert settings.label_for("keycloak") == "Sign in with Example Corp"
    custom = _settings(display_name="Example Corp", label="Staff login")
    assert (custom.name_for("keycloak"), custom.label_for("keycloak")) == ("Example Corp", "Staff login")


def test_a_token_path_only_provider_loads():
    settings = _settings(browser_login=False, tokens={"accept_id_tokens": True})
    assert settings.browser_login is False and settings.tokens.accept_id_tokens


def test_logo_urls_must_be_https():
    assert _settings(logo_url="https://cdn.example/logo.svg").logo_url == "https://cdn.example/logo.svg"


PAGE_TEXT_ERRORS = [
    ({"display_name": ""}, "display_name", "Length"),
    ({"display_name": "x" * 101}, "display_name", "Length"),
    ({"display_name": "Example\nCorp"}, "display_name", "control characters"),
    ({"display_name": "Example\u202eCorp"}, "display_name", "control characters"),  # bidi override
    ({"display_name": "   "}, "display_name", "must not be blank"),
    ({"display_name": None}, "display_name", "Field may not be null"),
    ({"label": "x" * 101}, "label", "Length"),
    ({"label": "Sign\tin"}, "label", "control characters"),
    ({"label": " "}, "label", "must not be blank"),
    ({"logo_url": "http://cdn.example/logo.svg"}, "logo_url", "must be an https:// URL"),
    ({"logo_url": "data:image/png;base64,AAAA"}, "logo_url", "http:// or https://"),
    ({"browser_login": "maybe"}, "browser_login", "Not a valid boolean"),
]


@pytest.mark.parametrize(
    "changes, key, message",
    PAGE_TEXT_ERRORS,
    ids=[f"{case[1]}-{i}" for i, case in enumerate(PAGE_TEXT_ERRORS)],
)
def test_page_text_config_errors(changes, key, message):
    test_config_errors_name_the_key(changes, key, message)
