"""The ``type: oidc`` provider section of the configuration, validated, and its settings value.

Errors name the dotted key. A claim path is a dotted string (``realm_access.roles``) or a
list of keys, for a key holding dots itself (``[resource_access, my.client, roles]``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from providers.oidc.settings import (
    ASYMMETRIC_ALGORITHMS,
    BACKCHANNEL_ACTIONS,
    CLIENT_AUTH_METHODS,
    USERINFO_MODES,
    OidcBackchannelSettings,
    OidcSettings,
    OidcTokenSettings,
)
from providers.schema import ProviderSection, StrictSchema, https_image_url, settings_value, type_field

_DEFAULTS = OidcSettings(issuer="", client_id="")
# Dotted keys of the section that are secrets: encrypted at rest in the database, never shown.
SECRET_FIELDS = ("client_secret",)
# The keys that decide where the client secret is sent (the endpoints come from the issuer's
# discovery document) and which certificates are trusted on the way: a change to any of them
# makes an admin enter the stored secret again.
SECRET_DESTINATION_FIELDS = ("issuer", "discovery_url", "ca_file")
_SCOPE = validate.Regexp(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}\Z", error="not an OAuth scope")
_CLAIM = re.compile(r"[^\s.]{1,128}\Z")
_CLAIM_NAME = validate.Regexp(_CLAIM, error="not a claim name")
_MAX_PATH = 8
_DNS_NAME = validate.Regexp(
    r"(?=[a-z0-9.-]{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z",
    error="not a lower-case DNS name",
)


def _http_url(*, exact: bool) -> Callable[[str], None]:
    """An absolute http(s) URL; ``exact``: also without query or fragment (an issuer)."""

    def check(value: str) -> None:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValidationError("not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("must be an http:// or https:// URL")
        if exact and (parts.query or parts.fragment or "?" in value or "#" in value):
            raise ValidationError("must have no query or fragment")
        if any(char.isspace() for char in value):
            raise ValidationError("must not contain spaces")

    return check


def _printable(value: str) -> None:
    """Text shown on a page: not only spaces, and no control or format characters (newlines,
    tabs, escapes, bidi overrides, ...)."""
    if value and value.isspace():
        raise ValidationError("must not be blank")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value):
        raise ValidationError("must not contain control characters")


def _readable_file(value: str) -> None:
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ValidationError("is not a readable file")


if TYPE_CHECKING:
    _ClaimPathField = fields.Field[str | tuple[str, ...]]
else:  # marshmallow 3's Field is not generic
    _ClaimPathField = fields.Field


class ClaimPath(_ClaimPathField):
    """A claim path: a dotted string, or a list of keys (for keys that contain dots)."""

    default_error_messages = {"invalid": "must be a claim name, a dotted path or a list of keys"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | tuple[str, ...]:
        if isinstance(value, str):
            segments = value.split(".")
            if len(segments) <= _MAX_PATH and all(_CLAIM.fullmatch(s) for s in segments):
                return value
        elif (
            isinstance(value, list)
            and 1 <= len(value) <= _MAX_PATH
            and all(isinstance(s, str) and 0 < len(s) <= 128 and not s.isspace() for s in value)
        ):
            return tuple(value)
        raise self.make_error("invalid")


class _Tokens(StrictSchema):
    accept_id_tokens = fields.Boolean(load_default=False)
    access_token_audiences = fields.List(
        fields.String(validate=validate.Length(1, 512)), load_default=list, validate=validate.Length(max=16)
    )
    introspection = fields.Boolean(load_default=False)


_BACKCHANNEL = OidcBackchannelSettings()


class _BackchannelLogout(StrictSchema):
    enabled = fields.Boolean(load_default=_BACKCHANNEL.enabled)
    on_logout = fields.String(
        load_default=_BACKCHANNEL.on_logout, validate=validate.OneOf(BACKCHANNEL_ACTIONS)
    )
    revoke_app_passwords = fields.Boolean(load_default=_BACKCHANNEL.revoke_app_passwords)
    max_token_age_seconds = fields.Float(
        load_default=_BACKCHANNEL.max_token_age_seconds, validate=validate.Range(10, 3600)
    )


class OidcProviderSchema(ProviderSection):
    """``providers[n]`` with ``type: oidc``."""

    type = type_field("oidc")
    issuer = fields.String(required=True, validate=[validate.Length(1, 1024), _http_url(exact=True)])
    client_id = fields.String(required=True, validate=validate.Length(1, 255))
    # Where this provider's users reset a forgotten password (the gateway cannot): shown on
    # /password/forgot when ``self_service.password_reset`` is on.
    password_reset_url = fields.Url(
        load_default=None, allow_none=True, require_tld=False, schemes={"http", "https"}
    )
    client_secret = fields.String(load_default=None, validate=validate.Length(1, 1024))
    client_auth = fields.String(
        load_default=_DEFAULTS.client_auth, validate=validate.OneOf(CLIENT_AUTH_METHODS)
    )
    discovery_url = fields.String(
        load_default=None, validate=[validate.Length(1, 1024), _http_url(exact=False)]
    )
    scopes = fields.List(
        fields.String(validate=_SCOPE),
        load_default=lambda: list(_DEFAULTS.scopes),
        validate=validate.Length(1, 32),
    )
    username_claim = ClaimPath(load_default=_DEFAULTS.username_claim)
    username_strip_domains = fields.List(
        fields.String(validate=_DNS_NAME), load_default=list, validate=validate.Length(max=32)
    )
    groups_claim = ClaimPath(load_default=_DEFAULTS.groups_claim, allow_none=True)
    userinfo = fields.String(load_default=_DEFAULTS.userinfo, validate=validate.OneOf(USERINFO_MODES))
    require_email_verified = fields.Boolean(load_default=False)
    expose_claims = fields.List(
        fields.String(validate=_CLAIM_NAME), load_default=list, validate=validate.Length(max=32)
    )
    display_name = fields.String(load_default="", validate=[validate.Length(1, 100), _printable])
    label = fields.String(load_default="", validate=[validate.Length(0, 100), _printable])
    logo_url = fields.String(
        load_default=None, validate=[validate.Length(1, 2048), _http_url(exact=False), https_image_url]
    )
    browser_login = fields.Boolean(load_default=True)
    end_session = fields.Boolean(load_default=True)
    timeout_seconds = fields.Float(load_default=_DEFAULTS.timeout_seconds, validate=validate.Range(0.5, 10))
    ca_file = fields.String(load_default=None, validate=_readable_file)
    discovery_ttl_seconds = fields.Float(
        load_default=_DEFAULTS.discovery_ttl_seconds, validate=validate.Range(10, 86400)
    )
    jwks_min_refresh_seconds = fields.Float(
        load_default=_DEFAULTS.jwks_min_refresh_seconds, validate=validate.Range(1, 3600)
    )
    algorithms = fields.List(
        fields.String(
            validate=validate.OneOf(
                ASYMMETRIC_ALGORITHMS, error="must be one of: {choices} (asymmetric only)"
            )
        ),
        load_default=lambda: list(_DEFAULTS.algorithms),
        validate=validate.Length(1, len(ASYMMETRIC_ALGORITHMS)),
    )
    tokens = fields.Nested(_Tokens, load_default=lambda: _Tokens().load({}))
    backchannel_logout = fields.Nested(_BackchannelLogout, load_default=lambda: _BackchannelLogout().load({}))

    @validates_schema
    def _coherent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "openid" not in data["scopes"]:
            raise ValidationError("must contain openid", "scopes")
        confidential = data["client_auth"] != "none"
        if confidential and not data.get("client_secret"):
            raise ValidationError(f"required with client_auth {data['client_auth']}", "client_secret")
        if not confidential and data.get("client_secret"):
            raise ValidationError("not used with client_auth none; remove it", "client_secret")
        tokens = data["tokens"]
        if data["client_id"] in tokens["access_token_audiences"] and not tokens["accept_id_tokens"]:
            # A plain JWT for the client cannot be told from its ID token: saying so is explicit.
            raise ValidationError(
                "contains client_id, so this client's ID tokens pass as access tokens "
                "too; also set tokens.accept_id_tokens: true, or name the API's own "
                "audience",
                "tokens.access_token_audiences",
            )
        if data["tokens"]["introspection"] and not confidential:
            raise ValidationError(
                "needs a confidential client (client_auth with a client_secret)", "tokens.introspection"
            )


def oidc_settings(options: dict[str, Any]) -> OidcSettings:
    """The provider settings for an already validated ``type: oidc`` section (without id/type)."""
    return settings_value(
        OidcSettings,
        options,
        username_strip_domains=tuple(dict.fromkeys(options["username_strip_domains"])),
        algorithms=tuple(dict.fromkeys(options["algorithms"])),
        tokens=settings_value(OidcTokenSettings, options["tokens"]),
        backchannel_logout=settings_value(OidcBackchannelSettings, options["backchannel_logout"]),
    )
