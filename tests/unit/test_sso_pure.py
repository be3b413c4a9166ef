"""Unit tests (no sockets): the ``sso:`` configuration, the cookie's reach, the redirect
allowlist, the ``xAuthToken`` value as the Registry's web client parses it, app-password shapes
and the routing of IdP tokens."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote

import pytest

from gateway.apppasswords import looks_like_app_password
from gateway.config import parse_config
from gateway.configerror import ConfigError
from gateway.idptokens import _unverified_issuer
from gateway.redirects import RedirectAllowlist
from gateway.sso import check_cookie_reach
from gateway.web.browser import xauth_value

LOGIN = "https://hub.example.com/login"
OIDC = {"id": "corp", "type": "oidc", "issuer": "https://idp.example.com", "client_id": "gw",
        "client_secret": "s3cret"}


def _sso(**sso):
    return parse_config({"sso": {"registry_login_url": LOGIN, **sso}}, "gateway.yaml").sso


def test_sso_defaults_derive_the_registry_origin():
    sso = _sso(cookie_domain=".Example.com")
    assert sso.enabled and sso.registry_origin == "https://hub.example.com"
    assert sso.cookie_domain == "example.com"
    assert not parse_config({}, "x").sso.enabled


@pytest.mark.parametrize("section, key, message", [
    ({"registry_login_url": "ftp://hub/login"}, "sso.registry_login_url", "URL"),
    ({"registry_origin": "https://hub.example.com/path"}, "sso.registry_origin", "origin"),
    ({"cookie_domain": "exa mple.com"}, "sso.cookie_domain", "domain"),
    ({"cookie_domain": "example.com/"}, "sso.cookie_domain", "domain"),
    ({"allowed_next": ["//evil"]}, "sso.allowed_next[0]", "URL"),
    ({"token_lifetime_seconds": 5}, "sso.token_lifetime_seconds", "greater"),
    ({"brand": {"name": ""}}, "sso.brand.name", "Length"),
    ({"surprise": 1}, "sso.surprise", "unknown key"),
])
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


@pytest.mark.parametrize("public_url, domain, ok", [
    ("https://auth.example.com", "example.com", True),
    ("https://example.com", "example.com", True),
    ("https://auth.example.com", None, False),             # two hosts, host-only cookie
    ("https://hub.example.com", None, True),               # gateway on the Registry's host
    ("https://auth.example.org", "example.com", False),    # cookie domain misses the gateway
    ("https://auth.notexample.com", "example.com", False),  # suffix, but not a parent domain
])
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
    for url in ("//evil", "/\\evil", "/%09/evil", LOGIN + "/", LOGIN.upper(), LOGIN + "?x",
                "https://hub.example.com.evil/login", "https://hub.example.com@evil/login", None, 5):
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
    for value in ("gwap_", "gwap_abcdefghij12_" + "A" * 42, "gwap_ABCDEFGHIJ12_" + "A" * 43,
                  "xgwap_abcdefghij12_" + "A" * 43, "gwap_abcdefghij12_" + "A" * 43 + "\n",
                  "purple-anchor-42-windmill"):
        assert not looks_like_app_password(value), value


def _segment(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("payload, issuer", [
    ({"iss": "https://idp.example.com"}, "https://idp.example.com"),
    ({"iss": 5}, None), ([1, 2], None), ({}, None),
])
def test_idp_tokens_are_routed_by_their_issuer(payload, issuer):
    assert _unverified_issuer(f"{_segment({'alg': 'RS256'})}.{_segment(payload)}.sig") == issuer


@pytest.mark.parametrize("token", ["a.!!!.c", "a..c", "a." + "A" * 20000 + ".c", "a.bm90IGpzb24.c"])
def test_unreadable_payloads_route_nowhere(token):
    assert _unverified_issuer(token) is None


@pytest.mark.parametrize("public_url, sso, key", [
    ("https://auth.example.com", {"cookie_domain": "com"}, "sso.cookie_domain"),
    ("https://auth.example.com", {"cookie_domain": "example.com",
                                  "registry_login_url": "http://hub.example.com/login"},
     "sso.registry_login_url"),
    ("https://auth.example.com", {"cookie_domain": "example.com",
                                  "allowed_next": ["https://elsewhere.example.org/x"]}, "sso.cookie_domain"),
    ("https://hub.example.com", {"allowed_next": ["https://other.example.com/x"]}, "sso.cookie_domain"),
])
def test_cookie_reach_covers_scheme_tld_and_every_return_address(public_url, sso, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace(".", r"\.")):
        check_cookie_reach(public_url, _sso(**sso), "gateway.yaml")


@pytest.mark.parametrize("url, origin", [
    ("https://Auth.Example.com:443/x", "https://auth.example.com"),
    ("http://auth.example.com:80", "http://auth.example.com"),
    ("http://auth.example.com:8080/", "http://auth.example.com:8080"),
    ("HTTPS://user:pw@auth.example.com/", "https://auth.example.com"),
])
def test_origins_are_serialised_as_browsers_do(url, origin):
    from gateway.config import origin_of
    assert origin_of(url) == origin


def test_cookies_over_https_are_secure_and_the_session_cookie_host_prefixed(tmp_path):
    """Served over HTTPS (GATEWAY_PUBLIC_URL), the token cookie is Secure for the shared domain and
    still readable by JavaScript; the session cookie is a __Host- cookie (contract §3)."""
    from datetime import timedelta

    from gateway.app import create_app
    from gateway.config import load_config
    from gateway.services import build_services
    from gateway.settings import load_settings
    from gateway.web.browser import set_login_cookies
    from providers.base import Identity

    config_file = tmp_path / "gateway.yaml"
    config_file.write_text("sso:\n  registry_login_url: https://hub.example.com/login\n"
                           "  cookie_domain: example.com\n")
    env = {"GATEWAY_INSTANCE_DIR": str(tmp_path), "GATEWAY_CONFIG": str(config_file),
           "GATEWAY_PUBLIC_URL": "https://auth.example.com", "GATEWAY_DOTENV": "/nonexistent",
           "GATEWAY_KEY_ENCRYPTION_KEY": "unit-test-key-encryption-secret-0123456789"}
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
