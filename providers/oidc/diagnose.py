"""Checks of an OIDC provider's configuration, for an admin setting an IdP up: the discovery
document fetched and checked, the signing keys fetched and tried, and whether what the IdP
supports fits what the gateway is configured to use.

Takes a validated ``type: oidc`` section (without ``id`` and ``type``), saved or not. Every
call is bounded like a login's (``timeout_seconds``); an IdP that fails is a result, never an
exception. The client secret is never sent or reported.
"""

from __future__ import annotations

import http.cookiejar
import time
from collections.abc import Mapping
from typing import Any

import jwt
import requests

from providers.base import ProviderUnavailable
from providers.oidc.config import oidc_settings
from providers.oidc.metadata import Http
from providers.oidc.settings import OidcSettings

_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
_KEY_TYPES = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}


def oidc_discovery(provider_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``{ok, type, discoveryUrl, issuer, checks: [{check, ok, detail}], endpoints,
    backchannelLogoutSupported}``. ``ok`` of a check is None for a warning; the whole is ok
    when no check failed."""
    settings = oidc_settings(dict(options))
    checks: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "ok": False,
        "type": "oidc",
        "discoveryUrl": settings.discovery_document_url,
        "issuer": settings.issuer,
        "checks": checks,
        "endpoints": {},
        "backchannelLogoutSupported": False,
    }

    def check(name: str, ok: bool | None, detail: str) -> bool | None:
        checks.append({"check": name, "ok": ok, "detail": detail})
        return ok

    session = _session(settings)
    try:
        http = Http(provider_id, settings.timeout_seconds, session)
        started = time.monotonic()
        try:
            document = http.get_json(settings.discovery_document_url, "discovery")
        except ProviderUnavailable as error:
            check("discovery", False, f"{settings.discovery_document_url}: {error.reason}")
            return result
        check("discovery", True, f"fetched in {round((time.monotonic() - started) * 1000)} ms")
        _check_document(settings, document, check, result)
        _check_keys(settings, http, document, check)
    finally:
        session.close()
    result["ok"] = all(item["ok"] is not False for item in checks)
    return result


def _session(settings: OidcSettings) -> requests.Session:
    # As the provider's own session: nothing from the environment, no cookies kept.
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    if settings.ca_file:
        session.verify = settings.ca_file
    return session


def _check_document(
    settings: OidcSettings, document: Mapping[str, Any], check: Any, result: dict[str, Any]
) -> None:
    issuer = document.get("issuer")
    if issuer == settings.issuer:
        check("issuer", True, f"{issuer!r} is the configured issuer")
    else:
        check(
            "issuer",
            False,
            f"the IdP says {issuer!r}, the configuration {settings.issuer!r}: they must be equal "
            "character for character (a trailing slash counts)",
        )
    endpoints = {
        name: document[name]
        for name in (*_REQUIRED, "userinfo_endpoint", "end_session_endpoint", "introspection_endpoint")
        if isinstance(document.get(name), str)
    }
    result["endpoints"] = endpoints
    missing = [
        name for name in _REQUIRED if not str(endpoints.get(name, "")).startswith(("https://", "http://"))
    ]
    if missing:
        check("endpoints", False, f"missing or not a URL: {', '.join(missing)}")
    else:
        plain = [name for name in _REQUIRED if endpoints[name].startswith("http://")]
        check(
            "endpoints",
            None if plain else True,
            f"plain http: {', '.join(plain)}" if plain else "authorization, token and JWKS endpoints present",
        )
    if settings.tokens.introspection:
        found = "introspection_endpoint" in endpoints
        check(
            "introspection",
            found,
            "advertised" if found else "tokens.introspection is on, but not advertised",
        )
    offered = _strings(document.get("id_token_signing_alg_values_supported"))
    usable = [alg for alg in settings.algorithms if alg in offered]
    check(
        "algorithms",
        bool(usable),
        f"ID tokens may be signed with {', '.join(usable)}"
        if usable
        else f"the IdP signs with {', '.join(offered) or 'nothing advertised'}; "
        f"the gateway accepts {', '.join(settings.algorithms)}",
    )
    types = _strings(document.get("response_types_supported"))
    check(
        "response_types", "code" in types, f"supported: {', '.join(types) or 'none advertised'} (code needed)"
    )
    pkce = _strings(document.get("code_challenge_methods_supported"))
    check(
        "pkce",
        True if "S256" in pkce else None,
        "S256 supported" if "S256" in pkce else "S256 not advertised (the gateway sends it anyway)",
    )
    methods = _strings(document.get("token_endpoint_auth_methods_supported")) or ["client_secret_basic"]
    check(
        "client_auth",
        settings.client_auth in methods or settings.client_auth == "none",
        f"configured {settings.client_auth}; supported: {', '.join(methods)}",
    )
    scopes = _strings(document.get("scopes_supported"))
    unknown = [scope for scope in settings.scopes if scopes and scope not in scopes]
    check(
        "scopes",
        None if unknown else True,
        f"not advertised: {', '.join(unknown)}" if unknown else f"{' '.join(settings.scopes)}",
    )
    result["backchannelLogoutSupported"] = document.get("backchannel_logout_supported") is True


def _check_keys(settings: OidcSettings, http: Http, document: Mapping[str, Any], check: Any) -> None:
    uri = document.get("jwks_uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        return
    try:
        keys = http.get_json(uri, "jwks").get("keys")
    except ProviderUnavailable as error:
        check("jwks", False, f"{uri}: {error.reason}")
        return
    if not isinstance(keys, list):
        check("jwks", False, f"{uri}: no 'keys' list")
        return
    usable, refused = [], 0
    for key in keys:
        if not isinstance(key, dict) or key.get("use", "sig") != "sig" or {"d", "p", "q"} & set(key):
            refused += 1
            continue
        alg = key.get("alg") or _KEY_TYPES.get(str(key.get("kty")))
        if alg not in settings.algorithms:
            refused += 1
            continue
        try:
            jwt.PyJWK(dict(key), algorithm=alg)
        except Exception:  # whatever a hostile or broken key set holds, it is only "not usable"
            refused += 1
            continue
        usable.append(f"{key.get('kid', '(no kid)')} ({alg})")
    detail = (
        f"{len(usable)} usable signing key(s): {', '.join(usable[:8])}" if usable else "no usable signing key"
    )
    if refused:
        detail += f"; {refused} other key(s) not usable with the configured algorithms"
    check("jwks", bool(usable), detail)


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
