"""Unit tests (no sockets): the ``sso:`` configuration, the cookie's reach, the redirect
allowlist, the ``xAuthToken`` value as the Registry's web client parses it, app-password shapes
and the routing of IdP tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC
from urllib.parse import unquote

import pytest

from gateway.config.errors import ConfigError
from gateway.config.file import parse_config
from gateway.http.browser import xauth_value
from gateway.login.apppasswords import looks_like_app_password
from gateway.login.idptokens import _unverified_issuer
from gateway.sso.redirects import RedirectAllowlist
from gateway.sso.service import MARKER_CLOCK_MARGIN_SECONDS, check_cookie_reach

LOGIN = "https://hub.example.com/login"
OIDC = {
    "id": "corp",
    "type": "oidc",
    "issuer": "https://idp.example.com",
    "client_id": "gw",
    "client_secret": "s3cret",
}


def _sso(**sso):
    return parse_config({"sso": {"registry_login_url": LOGIN, **sso}}, "gateway.yaml").sso


def test_sso_defaults_derive_the_registry_origin():
    sso = _sso(cookie_domain=".Example.com")
    assert sso.enabled and sso.registry_origin == "https://hub.example.com"
    assert sso.cookie_domain == "example.com"
    assert not parse_config({}, "x").sso.enabled


@pytest.mark.parametrize(
    "section, key, message",
    [
        ({"registry_login_url": "ftp://hub/login"}, "sso.registry_login_url", "URL"),
        ({"registry_origin": "https://hub.example.com/path"}, "sso.registry_origin", "origin"),
        ({"cookie_domain": "exa mple.com"}, "sso.cookie_domain", "domain"),
        ({"cookie_domain": "example.com/"}, "sso.cookie_domain", "domain"),
        ({"allowed_next": ["//evil"]}, "sso.allowed_next[0]", "URL"),
        ({"token_lifetime_seconds": 5}, "sso.token_lifetime_seconds", "greater"),
        ({"brand": {"name": ""}}, "sso.brand.name", "Length"),
        ({"surprise": 1}, "sso.surprise", "unknown key"),
    ],
)
def test_sso_config_errors_name_the_key(section, key, message):
    with pytest.raises(ConfigError) as error:
        parse_config({"sso": section}, "gateway.yaml")
    assert f"gateway.yaml: {key}:" in str(error.value)
    assert message.lower() in str(error.value).lower()


def test_an_oidc_provider_needs_a_registry_login_url():
    with pytest.raises(ConfigError, match="sso.registry_login_url: is required"):
        parse_config({"providers": [OIDC]}, "gateway.yaml")


def test_tokens_of_one_issuer_go_to_one_provider():
    tokens = {"tokens": {"accept_id_tokens": True}}
    providers = [{**OIDC, **tokens}, {**OIDC, "id": "corp2", **tokens}]
    with pytest.raises(ConfigError, match=r"providers\[1\].tokens: provider 'corp' already accepts"):
        parse_config({"providers": providers, "sso": {"registry_login_url": LOGIN}}, "gateway.yaml")
    introspect = {"tokens": {"introspection": True}}
    providers = [{**OIDC, **introspect}, {**OIDC, "id": "other", "issuer": "https://b.example", **introspect}]
    with pytest.raises(ConfigError, match="only one provider may introspect"):
        parse_config({"providers": providers, "sso": {"registry_login_url": LOGIN}}, "gateway.yaml")


@pytest.mark.parametrize(
    "public_url, domain, ok",
    [
        ("https://auth.example.com", "example.com", True),
        ("https://example.com", "example.com", True),
        ("https://auth.example.com", None, False),  # two hosts, host-only cookie
        ("https://hub.example.com", None, True),  # gateway on the Registry's host
        ("https://auth.example.org", "example.com", False),  # cookie domain misses the gateway
        ("https://auth.notexample.com", "example.com", False),  # suffix, but not a parent domain
    ],
)
def test_the_cookie_must_reach_the_registry_page(public_url, domain, ok):
    sso = _sso(cookie_domain=domain)
    if ok:
        check_cookie_reach(public_url, sso, "gateway.yaml")
    else:
        with pytest.raises(ConfigError, match="sso.cookie_domain"):
            check_cookie_reach(public_url, sso, "gateway.yaml")


def test_redirect_allowlist_is_exact():
    allowlist = RedirectAllowlist([LOGIN])
    assert allowlist.allows(LOGIN)
    for url in (
        "//evil",
        "/\\evil",
        "/%09/evil",
        LOGIN + "/",
        LOGIN.upper(),
        LOGIN + "?x",
        "https://hub.example.com.evil/login",
        "https://hub.example.com@evil/login",
        None,
        5,
    ):
        assert not allowlist.allows(url), url


def _hub_cookie_parse(document_cookie: str, name: str) -> str | None:
    """The Registry web client's parser (contract §3): split on ';', then on '=', keep the text
    between the first and second '=', trim, URL-decode."""
    for pair in document_cookie.split(";"):
        parts = pair.split("=")
        if parts[0].strip() == name:
            return unquote(parts[1].strip())
    return None


def test_xauth_value_survives_the_registry_client_parser():
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9==.c2ln=="  # '=' would be cut raw
    logout = "https://auth.example.com/sso/logout"
    value = xauth_value(token, logout)
    assert "=" not in value and "|" not in value and ";" not in value and " " not in value
    parsed = _hub_cookie_parse(f"other=1; xAuthToken={value}; more=2", "xAuthToken")
    got_token, got_logout = parsed.split("|", 1)
    assert (got_token, got_logout) == (token, logout)


def test_app_password_shape():
    assert looks_like_app_password("gwap_abcdefghij12_" + "A" * 43)
    for value in (
        "gwap_",
        "gwap_abcdefghij12_" + "A" * 42,
        "gwap_ABCDEFGHIJ12_" + "A" * 43,
        "xgwap_abcdefghij12_" + "A" * 43,
        "gwap_abcdefghij12_" + "A" * 43 + "\n",
        "purple-anchor-42-windmill",
    ):
        assert not looks_like_app_password(value), value


def _segment(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "payload, issuer",
    [
        ({"iss": "https://idp.example.com"}, "https://idp.example.com"),
        ({"iss": 5}, None),
        ([1, 2], None),
        ({}, None),
    ],
)
def test_idp_tokens_are_routed_by_their_issuer(payload, issuer):
    assert _unverified_issuer(f"{_segment({'alg': 'RS256'})}.{_segment(payload)}.sig") == issuer


@pytest.mark.parametrize("token", ["a.!!!.c", "a..c", "a." + "A" * 20000 + ".c", "a.bm90IGpzb24.c"])
def test_unreadable_payloads_route_nowhere(token):
    assert _unverified_issuer(token) is None


@pytest.mark.parametrize(
    "public_url, sso, key",
    [
        ("https://auth.example.com", {"cookie_domain": "com"}, "sso.cookie_domain"),
        (
            "https://auth.example.com",
            {"cookie_domain": "example.com", "registry_login_url": "http://hub.example.com/login"},
            "sso.registry_login_url",
        ),
        (
            "https://auth.example.com",
            {"cookie_domain": "example.com", "allowed_next": ["https://elsewhere.example.org/x"]},
            "sso.cookie_domain",
        ),
        ("https://hub.example.com", {"allowed_next": ["https://other.example.com/x"]}, "sso.cookie_domain"),
    ],
)
def test_cookie_reach_covers_scheme_tld_and_every_return_address(public_url, sso, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace(".", r"\.")):
        check_cookie_reach(public_url, _sso(**sso), "gateway.yaml")


@pytest.mark.parametrize(
    "url, origin",
    [
        ("https://Auth.Example.com:443/x", "https://auth.example.com"),
        ("http://auth.example.com:80", "http://auth.example.com"),
        ("http://auth.example.com:8080/", "http://auth.example.com:8080"),
        ("HTTPS://user:pw@auth.example.com/", "https://auth.example.com"),
    ],
)
def test_origins_are_serialised_as_browsers_do(url, origin):
    from gateway.config.sections import origin_of

    assert origin_of(url) == origin


def test_cookies_over_https_are_secure_and_the_session_cookie_host_prefixed(tmp_path):
    """Served over HTTPS (GATEWAY_PUBLIC_URL), the token cookie is Secure for the shared domain and
    still readable by JavaScript; the session cookie is a __Host- cookie (contract §3)."""
    from datetime import timedelta

    from gateway.app import create_app
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.http.browser import set_login_cookies
    from gateway.services import build_services
    from providers.base import Identity

    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(
        "sso:\n  registry_login_url: https://hub.example.com/login\n  cookie_domain: example.com\n"
    )
    env = {
        "GATEWAY_INSTANCE_DIR": str(tmp_path),
        "GATEWAY_CONFIG": str(config_file),
        "GATEWAY_PUBLIC_URL": "https://auth.example.com",
        "GATEWAY_DOTENV": "/nonexistent",
        "GATEWAY_KEY_ENCRYPTION_KEY": "unit-test-key-encryption-secret-0123456789",
    }
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        services.database.upgrade()
        services.keyring.ensure_signing_key()
        app = create_app(services=services)
        session = services.sessions.create(Identity("local", "local:1", "alice"), timedelta(hours=1))
        with app.test_request_context("/"):
            response = app.response_class()
            set_login_cookies(response, services.sso.mint_for(session), session, timedelta(minutes=5))
        cookies = {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}
    finally:
        services.close()
    xauth = cookies["xAuthToken"]
    assert "Secure" in xauth and "Domain=example.com" in xauth and "HttpOnly" not in xauth
    assert "SameSite=Lax" in xauth and "Path=/" in xauth and "Max-Age=300" in xauth
    own = cookies["__Host-gw_session"]
    assert "Secure" in own and "HttpOnly" in own and "Domain" not in own and "Path=/" in own


# ---- login transactions sealed in the browser's cookie ----------------------------------------

SECRET = "unit-test-key-encryption-secret-0123456789"
CORP_TX = {
    "state": "S" * 43,
    "nonce": "N" * 43,
    "code_verifier": "V" * 64,
    "redirect_uri": "https://auth.example.com/sso/callback/corp",
}


class _Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class _DownStore:
    """A state store whose every call times out."""

    def __getattr__(self, name):
        from gateway.storage.state import StoreUnavailable

        def unavailable(*args, **kwargs):
            raise StoreUnavailable("redis: TimeoutError")

        return unavailable


def _sso_service(store=None, clock=None, secret=SECRET):
    """An SsoService on two OIDC providers (``corp``, ``kc``) that never reach an IdP: their
    ``start`` hands out fixed-shape transactions, their ``finish`` refuses the code."""
    from gateway.sso.service import SsoService
    from gateway.storage.state import MemoryStore
    from providers.oidc.claims import OidcRejected
    from providers.oidc.config import oidc_settings
    from providers.oidc.provider import OidcProvider

    config = parse_config(
        {"providers": [OIDC, {**OIDC, "id": "kc"}], "sso": {"registry_login_url": LOGIN}}, "gateway.yaml"
    )
    providers = [
        OidcProvider(p.id, oidc_settings(dict(p.options)), config.usernames.canonical)
        for p in config.providers
        if p.type == "oidc"
    ]
    counter = iter(range(10**6))
    finished = []
    for provider in providers:

        def start(redirect_uri, provider=provider):
            state = f"{provider.id}-state-{next(counter):08d}-" + "s" * 20
            return (
                f"https://idp.example.com/authorize?state={state}",
                {**CORP_TX, "state": state, "redirect_uri": redirect_uri},
            )

        def finish(redirect_uri, params, transaction):
            finished.append(transaction)
            raise OidcRejected("code_rejected")

        provider.start, provider.finish = start, finish

    class Federation:
        def providers(self):
            return providers

    service = SsoService(
        config,
        "https://auth.example.com",
        store or MemoryStore(),
        Federation(),
        None,
        None,
        None,
        _Audit(),
        secret=secret,
        clock=clock or _Clock(),
    )
    service.finished = finished
    return service


class _Audit:
    def record(self, *args, **kwargs):
        pass


def _refused(reason: str, status: int, call, *args):
    from gateway.sso.service import SsoError

    with pytest.raises(SsoError) as error:
        call(*args)
    assert (error.value.status, error.value.reason) == (status, reason)
    return error.value


def test_a_sealed_transaction_opens_with_the_same_secret_only():
    from gateway.sso.transactions import TransactionSeal, UnreadableTransaction

    clock = _Clock()
    seal = TransactionSeal(SECRET, 600, clock)
    sealed = seal.seal("corp", CORP_TX, LOGIN)
    assert set(sealed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(sealed) < 1000
    for secret in ("nonce", "N" * 43, "V" * 64, "corp", "hub.example.com"):
        assert secret not in sealed
    opened = TransactionSeal(SECRET, 600, clock).open(sealed)  # another replica, same secret
    assert (opened.provider, opened.next_url, opened.transaction, opened.state) == (
        "corp",
        LOGIN,
        CORP_TX,
        CORP_TX["state"],
    )
    assert opened.expires_at - opened.issued_at == 600
    assert seal.seal("corp", CORP_TX, LOGIN) != sealed  # a fresh nonce every time
    with pytest.raises(UnreadableTransaction, match="bad_state"):
        TransactionSeal(SECRET.replace("0", "1"), 600, clock).open(sealed)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1],
        lambda s: s[:40],
        lambda s: s + "A",
        lambda s: s[1:],
        lambda s: s[:20] + ("A" if s[20] != "A" else "B") + s[21:],
        lambda s: s[:-5] + ("A" if s[-5] != "A" else "B") + s[-4:],
        lambda s: s.replace(s[5], "+"),
        lambda s: "",
        lambda s: "A" * 80,
        lambda s: s * 8,
    ],
)
def test_a_tampered_or_truncated_transaction_never_opens(tamper):
    from gateway.sso.transactions import TransactionSeal, UnreadableTransaction

    seal = TransactionSeal(SECRET, 600, _Clock())
    sealed = seal.seal("corp", CORP_TX, LOGIN)
    assert tamper(sealed) != sealed
    with pytest.raises(UnreadableTransaction, match="bad_state"):
        seal.open(tamper(sealed))


def test_a_transaction_expires_after_its_lifetime():
    from gateway.sso.transactions import TransactionSeal, UnreadableTransaction

    clock = _Clock()
    seal = TransactionSeal(SECRET, 600, clock)
    sealed = seal.seal("corp", CORP_TX, LOGIN)
    clock.now += 599
    assert seal.open(sealed).state == CORP_TX["state"]
    clock.now += 1
    with pytest.raises(UnreadableTransaction, match="expired_state"):
        seal.open(sealed)
    with pytest.raises(UnreadableTransaction, match="expired_state"):  # sealed long ago
        seal.open(seal.seal("corp", CORP_TX, LOGIN, issued_at=clock.now - 601))


def test_starting_a_login_stores_nothing():
    from gateway.storage.state import MemoryStore

    store = MemoryStore()
    sso = _sso_service(store)
    for _ in range(500):
        started = sso.begin("corp", None)
        assert started.state in started.url and started.sealed
    assert store._data == {}
    _refused("unknown_provider", 404, sso.begin, "nope", None)
    _refused("next_not_allowed", 400, sso.begin, "corp", "https://evil.example/login")


def test_a_callback_needs_its_own_browsers_fresh_unused_transaction():
    clock = _Clock()
    sso = _sso_service(clock=clock)
    mine, other = sso.begin("corp", None), sso.begin("corp", None)
    params = {"state": mine.state, "code": "c"}
    _refused("bad_state", 400, sso.complete, "corp", {"code": "c"}, mine.sealed)
    _refused("unknown_state", 400, sso.complete, "corp", params, None)  # no cookie
    _refused("foreign_state", 400, sso.complete, "corp", params, other.sealed)  # another one's
    _refused("bad_state", 400, sso.complete, "corp", params, mine.sealed[:-2])  # tampered
    wrong_key = _sso_service(secret=SECRET[::-1], clock=clock).begin("corp", None)
    _refused("bad_state", 400, sso.complete, "corp", {**params, "state": wrong_key.state}, wrong_key.sealed)
    kc = sso.begin("kc", None)
    error = _refused("foreign_state", 400, sso.complete, "corp", {"state": kc.state, "code": "c"}, kc.sealed)
    assert "expired or was already used" in error.message
    assert sso.finished == []  # none of those reached the IdP

    _refused("code_rejected", 401, sso.complete, "corp", params, mine.sealed)
    assert len(sso.finished) == 1 and sso.finished[0]["state"] == mine.state
    _refused("reused_state", 400, sso.complete, "corp", params, mine.sealed)
    assert len(sso.finished) == 1  # a replay never reaches the IdP

    clock.now += 600
    _refused("expired_state", 400, sso.complete, "corp", {"state": other.state, "code": "c"}, other.sealed)


def test_the_single_use_marker_outlasts_the_transaction_by_the_clock_margin():
    from gateway.storage.state import MemoryStore

    clock = _Clock()
    store = MemoryStore(clock=clock)
    sso = _sso_service(store, clock)
    started = sso.begin("corp", None)
    clock.now += 590
    _refused("code_rejected", 401, sso.complete, "corp", {"state": started.state}, started.sealed)
    ((key, (value, expiry)),) = store._data.items()
    assert key.startswith("sso:used:") and started.state not in key
    assert expiry == pytest.approx(clock.now + 10 + MARKER_CLOCK_MARGIN_SECONDS)


def test_a_store_outage_at_the_callback_fails_closed():
    from gateway.storage.state import StoreUnavailable

    sso = _sso_service(_DownStore())
    started = sso.begin("corp", None)  # needs no store
    with pytest.raises(StoreUnavailable):
        sso.complete("corp", {"state": started.state, "code": "c"}, started.sealed)
    assert sso.finished == []


def test_the_oldest_transaction_cookies_are_expired_first():
    from gateway.sso.service import MAX_TRANSACTION_COOKIES, transaction_tag

    clock = _Clock()
    sso = _sso_service(clock=clock)
    cookies = {}
    for _ in range(7):
        started = sso.begin("corp", None)
        cookies[f"gw_sso_{transaction_tag(started.state)}"] = started.sealed
        clock.now += 1
    names = list(cookies)
    assert sso.stale_transactions(dict(list(cookies.items())[: MAX_TRANSACTION_COOKIES - 1])) == []
    assert sso.stale_transactions(cookies) == names[:3]  # keep 4 + the one being added
    shuffled = {name: cookies[name] for name in reversed(names)}
    shuffled["gw_sso_0123456789abcdef"] = "garbage" * 10
    assert sso.stale_transactions(shuffled) == ["gw_sso_0123456789abcdef"] + names[:3]
    assert len(transaction_tag("x" * 43)) == 16


def test_transaction_cookies_over_https_are_host_prefixed_and_secure(tmp_path):
    """Served over HTTPS, a login's transaction cookie is a Secure __Host- cookie, HttpOnly,
    SameSite=Lax, for the transaction's lifetime; only such names count as transactions."""
    from gateway.app import create_app
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.http.browser import (
        expire_transaction_cookie,
        set_transaction_cookie,
        transaction_cookie_name,
        transaction_cookies,
    )
    from gateway.services import build_services
    from gateway.sso.service import transaction_tag

    config_file = tmp_path / "gateway.yaml"
    config_file.write_text("sso:\n  registry_login_url: https://auth.example.com/login\n")
    env = {
        "GATEWAY_INSTANCE_DIR": str(tmp_path),
        "GATEWAY_CONFIG": str(config_file),
        "GATEWAY_PUBLIC_URL": "https://auth.example.com",
        "GATEWAY_DOTENV": "/nonexistent",
        "GATEWAY_KEY_ENCRYPTION_KEY": SECRET,
    }
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    state = "S" * 43
    name = f"__Host-gw_sso_{transaction_tag(state)}"
    sent = f"{name}=sealed; gw_sso_{transaction_tag(state)}=plain; __Host-gw_sso_xyz=odd; gw_session=x"
    try:
        app = create_app(services=services)
        with app.test_request_context("/", headers={"Cookie": sent}):
            assert transaction_cookie_name(state) == name
            assert transaction_cookies() == {name: "sealed"}
            response = app.response_class()
            set_transaction_cookie(response, state, "sealed-value")
            expire_transaction_cookie(response, f"__Host-gw_sso_{'0' * 16}")
    finally:
        services.close()
    set_header, expire_header = response.headers.getlist("Set-Cookie")
    assert set_header.startswith(f"{name}=sealed-value;")
    for header in (set_header, expire_header):
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
        assert "Path=/" in header and "Domain" not in header
    assert "Max-Age=600" in set_header and "Max-Age=0" in expire_header


# ---- the ID token kept with a session, for id_token_hint at the IdP's logout ------------------


def test_the_sign_out_sends_the_kept_id_token_only_when_it_opens(caplog):
    import logging
    from dataclasses import replace
    from datetime import datetime

    from gateway.sso.service import MAX_ID_TOKEN_HINT_CHARS
    from gateway.sso.sessions import SessionRecord
    from providers.base import Identity

    service, other_secret = _sso_service(), _sso_service(secret=SECRET.replace("0", "1"))
    hints = []
    for provider in [*service.providers.values(), *other_secret.providers.values()]:
        provider.end_session_url = lambda uri, hint=None: hints.append((uri, hint)) or "https://idp/x"
    id_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
    sealed = service._sealed_id_token(id_token)
    assert id_token not in sealed and "eyJ" not in sealed
    now = datetime.now(UTC)
    record = SessionRecord(
        "sid", "alice", "corp", Identity("corp", "corp:1", "alice"), now, now, sealed_id_token=sealed
    )

    assert service.idp_logout_url(record) == "https://idp/x"
    assert hints[-1] == ("https://auth.example.com/sso/signed-out", id_token)
    service.idp_logout_url(replace(record, sealed_id_token=None))
    assert hints[-1][1] is None
    with caplog.at_level(logging.INFO, logger="gateway.sso.service"):
        assert other_secret.idp_logout_url(record) == "https://idp/x"  # the secret changed
    assert hints[-1][1] is None
    assert "without id_token_hint" in caplog.text
    assert id_token not in caplog.text and sealed not in caplog.text

    assert service._sealed_id_token("x" * MAX_ID_TOKEN_HINT_CHARS) is not None
    assert service._sealed_id_token("x" * (MAX_ID_TOKEN_HINT_CHARS + 1)) is None
