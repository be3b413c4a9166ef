"""The back-channel logout token's rules (pure: :mod:`providers.oidc.logouttoken`) and the
``backchannel_logout`` section of an ``oidc`` provider's configuration. The signature, issuer,
audience and expiry checks, and the whole table over HTTP, are in
tests/integration/sso/test_backchannel_logout.py (against the real oidc-provider)."""

from __future__ import annotations

import pytest

from gateway.config.errors import ConfigError
from providers.base import LogoutPolicy
from providers.oidc import OidcProvider, OidcRejected
from providers.oidc.config import OidcProviderSchema, oidc_settings
from providers.oidc.logouttoken import BACKCHANNEL_LOGOUT_EVENT, check_header, logout_notice
from providers.schema import load_section

ISSUER = "https://idp.example/realms/main"
NOW = 1_800_000_000.0
MAX_AGE = 300.0


def claims(**changes) -> dict:
    values = {
        "iss": ISSUER,
        "aud": "gw",
        "iat": int(NOW),
        "exp": int(NOW) + 120,
        "jti": "jti-1",
        "sub": "0b7c6c1e-sub",
        "sid": "idp-session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def test_a_valid_token_names_the_identity_subject_and_the_idp_session():
    notice = logout_notice(claims(), ISSUER, NOW, MAX_AGE)
    assert notice.subject == f"{ISSUER}|0b7c6c1e-sub"  # as Identity.subject
    assert notice.idp_session == "idp-session-1"
    assert notice.token_id == "jti-1"
    assert notice.expires_at >= NOW + MAX_AGE  # the jti is remembered while the token could pass


@pytest.mark.parametrize(
    ("changes", "who"),
    [({"sid": None}, ("sub",)), ({"sub": None}, ("sid",))],
    ids=["sub only", "sid only"],
)
def test_sub_or_sid_alone_is_enough(changes, who):
    notice = logout_notice(claims(**changes), ISSUER, NOW, MAX_AGE)
    assert (notice.subject is not None, notice.idp_session is not None) == ("sub" in who, "sid" in who)


REFUSALS = [
    ("missing events", {"events": None}, "missing_event"),
    ("events not an object", {"events": [BACKCHANNEL_LOGOUT_EVENT]}, "missing_event"),
    ("another event", {"events": {"urn:other": {}}}, "missing_event"),
    ("event value not an object", {"events": {BACKCHANNEL_LOGOUT_EVENT: True}}, "missing_event"),
    ("nonce present", {"nonce": "abc"}, "nonce_present"),
    ("nonce present, empty", {"nonce": ""}, "nonce_present"),
    ("neither sub nor sid", {"sub": None, "sid": None}, "missing_subject"),
    ("sub not a string", {"sub": 7}, "bad_sub"),
    ("sid empty", {"sid": ""}, "bad_sid"),
    ("sid too long", {"sid": "s" * 256}, "bad_sid"),
    ("sub with a newline", {"sub": "a\nb"}, "bad_sub"),
    ("missing jti", {"jti": None}, "missing_jti"),
    ("jti not a string", {"jti": 12}, "bad_jti"),
    ("missing iat", {"iat": None}, "stale_token"),
    ("iat a string", {"iat": "1800000000"}, "stale_token"),
    ("iat a boolean", {"iat": True}, "stale_token"),
    ("iat too old", {"iat": int(NOW - MAX_AGE - 61)}, "stale_token"),
    ("iat in the future", {"iat": int(NOW + 61)}, "stale_token"),
]


@pytest.mark.parametrize(("changes", "reason"), [case[1:] for case in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_each_rule_refuses_with_its_reason_and_400(changes, reason):
    with pytest.raises(OidcRejected) as refused:
        logout_notice(claims(**changes), ISSUER, NOW, MAX_AGE)
    assert (refused.value.reason, refused.value.status) == (reason, 400)


@pytest.mark.parametrize("typ", [None, "JWT", "logout+jwt", "application/logout+jwt", "Logout+JWT"])
def test_header_types_a_logout_token_may_have(typ):
    check_header({"alg": "RS256"} if typ is None else {"alg": "RS256", "typ": typ})


@pytest.mark.parametrize("typ", ["at+jwt", "secevent+jwt", "xauth+jwt", 5, ""])
def test_header_types_that_are_another_kind_of_token(typ):
    with pytest.raises(OidcRejected, match="bad_typ"):
        check_header({"alg": "RS256", "typ": typ})


# --- configuration ----------------------------------------------------------------------------

SECTION = {"id": "corp", "type": "oidc", "issuer": ISSUER, "client_id": "gw", "client_secret": "s3cret"}


def _provider(**backchannel) -> OidcProvider:
    section = {**SECTION, **({"backchannel_logout": backchannel} if backchannel else {})}
    options = load_section(OidcProviderSchema, section, "gateway.yaml", "providers[0]")
    del options["id"], options["type"]
    return OidcProvider("corp", oidc_settings(options), lambda name: name)


def test_back_channel_logout_is_off_by_default_and_refuses_every_token():
    provider = _provider()
    assert provider.logout_policy is None
    with pytest.raises(OidcRejected, match="backchannel_logout_disabled"):
        provider.verify_logout_token("a.b.c")


@pytest.mark.parametrize(
    ("section", "policy"),
    [
        ({"enabled": True}, LogoutPolicy(deactivate=False, revoke_app_passwords=False)),
        ({"enabled": True, "on_logout": "deactivate"}, LogoutPolicy(deactivate=True)),
        ({"enabled": True, "revoke_app_passwords": True}, LogoutPolicy(revoke_app_passwords=True)),
    ],
)
def test_the_policy_follows_the_section(section, policy):
    assert _provider(**section).logout_policy == policy


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"enabled": True, "on_logout": "disable"}, "backchannel_logout.on_logout"),
        ({"enabled": "sometimes"}, "backchannel_logout.enabled"),
        ({"enabled": True, "max_token_age_seconds": 5}, "backchannel_logout.max_token_age_seconds"),
        ({"enabled": True, "uri": "https://x"}, "backchannel_logout.uri"),
    ],
)
def test_a_bad_section_names_its_key(section, key):
    with pytest.raises(ConfigError) as error:
        _provider(**section)
    assert key in str(error.value)
