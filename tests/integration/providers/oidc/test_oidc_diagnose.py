"""The OIDC discovery diagnostic (providers/oidc/diagnose.py, through gateway/admin/providerdiag.py)
against a real oidc-provider: discovery fetched and checked, the JWKS fetched and its keys tried,
the redirect URI to register; a configured issuer the IdP does not claim, algorithms that do not
fit, and an IdP that is down (answering within the timeout) are named results, not errors."""

from __future__ import annotations

import socket
import time

import pytest

from gateway.admin import providerdiag
from tests.support.oidcserver import OidcProviderServer, default_client, default_users

pytestmark = pytest.mark.integration

REDIRECT = "https://gateway.test/sso/callback/corp"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("oidc-diag"), clients=[default_client(REDIRECT)], users=default_users()
    )
    yield server
    server.stop()


def config(issuer: str, **changes):
    return {
        "id": "corp",
        "type": "oidc",
        "issuer": issuer,
        "client_id": "registry-gateway",
        "client_secret": "diag-Secret-never-shown",
        "timeout_seconds": 1,
        **changes,
    }


def _checks(result):
    return {check["check"]: check for check in result["checks"]}


def test_discovery_is_fetched_and_checked_with_the_redirect_uri(idp):
    result = providerdiag.oidc_discovery(
        config(idp.issuer), redirect_uri=lambda pid: f"https://gw.test/sso/callback/{pid}"
    )
    checks = _checks(result)
    assert result["ok"] is True, result["checks"]
    assert result["provider"] == "corp" and result["type"] == "oidc"
    assert result["redirectUri"] == "https://gw.test/sso/callback/corp"
    assert result["discoveryUrl"] == idp.discovery_url
    for name in ("discovery", "issuer", "algorithms", "response_types", "client_auth", "jwks"):
        assert checks[name]["ok"] is True, checks[name]
    assert checks["endpoints"]["ok"] is None  # plain http on loopback: a warning, not a failure
    assert "usable signing key" in checks["jwks"]["detail"]
    assert result["endpoints"]["jwks_uri"] == idp.jwks_uri
    assert "diag-Secret-never-shown" not in repr(result)
    # The connection check of an IdP is its discovery.
    assert providerdiag.test_connection(config(idp.issuer))["checks"][0]["check"] == "discovery"


def test_the_back_channel_logout_uri_is_shown_only_when_enabled(idp):
    def logout_uri(pid):
        return f"https://gw.test/oidc/{pid}/backchannel-logout"

    plain = providerdiag.oidc_discovery(config(idp.issuer), backchannel_logout_uri=logout_uri)
    enabled = providerdiag.oidc_discovery(
        config(idp.issuer, backchannel_logout={"enabled": True}), backchannel_logout_uri=logout_uri
    )
    assert plain["backchannelLogoutUri"] is None
    assert enabled["backchannelLogoutUri"] == "https://gw.test/oidc/corp/backchannel-logout"


def test_a_broken_issuer_and_unfit_algorithms_are_named(idp):
    result = providerdiag.oidc_discovery(
        config(idp.issuer + "/", discovery_url=idp.discovery_url, algorithms=["ES512"])
    )
    checks = _checks(result)
    assert result["ok"] is False
    assert checks["issuer"]["ok"] is False and "trailing slash" in checks["issuer"]["detail"]
    assert checks["algorithms"]["ok"] is False and "ES512" in checks["algorithms"]["detail"]
    assert checks["jwks"]["ok"] is False


def test_an_idp_that_is_down_or_hangs_answers_within_the_timeout():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    result = providerdiag.oidc_discovery(config(f"http://127.0.0.1:{port}"))
    assert time.monotonic() - started < 3
    assert result["ok"] is False and _checks(result)["discovery"]["ok"] is False

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        started = time.monotonic()
        result = providerdiag.oidc_discovery(config(f"http://127.0.0.1:{hung.getsockname()[1]}"))
        took = time.monotonic() - started
    finally:
        hung.close()
    assert took < 4, took  # two timeouts at most (connect, then the first byte)
    assert "timed out" in _checks(result)["discovery"]["detail"]
