"""The schemas of the configuration file's own sections (usernames, tokens, throttle,
password_policy, credential_cache, admin, sso and the top level); each provider type's section
has its schema in ``providers/<type>/config.py``, and mfa, email, registry theirs in this package."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from gateway.config.settingsobjects import BrandSettings, SsoSettings
from gateway.login.usernames import ALPHABETS
from providers.schema import StrictSchema, https_image_url


class Usernames(StrictSchema):
    lowercase = fields.Boolean(load_default=True)
    trim = fields.Boolean(load_default=True)
    alphabet = fields.String(load_default="identity", validate=validate.OneOf(sorted(ALPHABETS)))


class CredentialCache(StrictSchema):
    max_entries = fields.Integer(load_default=10_000, validate=validate.Range(0, 1_000_000))
    app_password_seconds = fields.Float(load_default=600.0, validate=validate.Range(0, 86400))


class Tokens(StrictSchema):
    issuer = fields.Url(load_default=None, require_tld=False, schemes={"http", "https"})
    audience = fields.String(load_default="dronedb-registry", validate=validate.Length(1, 200))
    algorithm = fields.String(load_default="ES256", validate=validate.OneOf(["ES256", "EdDSA", "RS256"]))
    lifetime_seconds = fields.Integer(load_default=3600, validate=validate.Range(30, 7 * 86400))
    leeway_seconds = fields.Integer(load_default=30, validate=validate.Range(0, 300))
    session_lifetime_seconds = fields.Integer(load_default=8 * 3600, validate=validate.Range(60, 90 * 86400))


class Throttle(StrictSchema):
    free_failures = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    base_delay_seconds = fields.Float(load_default=1.0, validate=validate.Range(0.01, 3600))
    max_delay_seconds = fields.Float(load_default=900.0, validate=validate.Range(0.01, 86400))
    window_seconds = fields.Float(load_default=3600.0, validate=validate.Range(1, 7 * 86400))


class PasswordPolicy(StrictSchema):
    """Local passwords (providers.local.policy): lengths in NFKC characters, a list of common
    passwords, and zxcvbn's guessability score."""

    min_length = fields.Integer(load_default=12, validate=validate.Range(8, 128))
    max_length = fields.Integer(load_default=128, validate=validate.Range(64, 4096))
    blocklist = fields.String(load_default="bundled", allow_none=True)
    # zxcvbn's score, refused below it: 0 = off, 1 >= 10^3 guesses, 2 >= 10^6, 3 >= 10^8,
    # 4 >= 10^10. Estimated on the first 64 characters, with dronedb, registry, drone, the
    # username and the email address's name as known words.
    min_score = fields.Integer(
        load_default=3,
        validate=validate.Range(0, 4),
        metadata={"description": "zxcvbn score (0-4) a local password must reach; 0 turns the estimate off"},
    )


class Admin(StrictSchema):
    username = fields.String(load_default="admin")
    roles = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=["admin"])
    role = fields.String(load_default="admin", validate=validate.Length(1, 64))


_HTTP_URL: dict[str, Any] = dict(require_tld=False, schemes={"http", "https"})
_COOKIE_DOMAIN = validate.Regexp(
    r"^\.?[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}$",
    error="must be a domain name such as example.com",
)


def origin_of(url: str) -> str:
    """The origin of ``url`` as a browser serialises it: lower-case scheme and host, no
    default port, no user info."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class Brand(StrictSchema):
    name = fields.String(load_default="DroneDB Registry", validate=validate.Length(1, 100))
    logo_url = fields.Url(load_default=None, allow_none=True, validate=https_image_url, **_HTTP_URL)


class Sso(StrictSchema):
    registry_login_url = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    registry_origin = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    cookie_domain = fields.String(load_default=None, allow_none=True, validate=_COOKIE_DOMAIN)
    allowed_next = fields.List(fields.Url(**_HTTP_URL), load_default=list)
    token_lifetime_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(30, 7 * 86400)
    )
    session_lifetime_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(60, 90 * 86400)
    )
    post_logout_url = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    app_password_relogin_days = fields.Integer(load_default=30, validate=validate.Range(1, 3650))
    brand = fields.Nested(Brand, load_default=lambda: Brand().load({}))

    @validates_schema
    def _origin_is_an_origin(self, data, **_kwargs):
        origin = data.get("registry_origin")
        if origin is not None and origin_of(origin) != origin.rstrip("/").lower():
            raise ValidationError("must be an origin (scheme://host[:port]) with no path", "registry_origin")


def sso_settings(data: dict) -> SsoSettings:
    login_url = data["registry_login_url"]
    origin = data["registry_origin"] or (origin_of(login_url) if login_url else None)
    return SsoSettings(
        registry_login_url=login_url,
        registry_origin=origin_of(origin) if origin else None,
        cookie_domain=data["cookie_domain"].lower().lstrip(".") if data["cookie_domain"] else None,
        allowed_next=tuple(data["allowed_next"]),
        token_lifetime_seconds=data["token_lifetime_seconds"],
        session_lifetime_seconds=data["session_lifetime_seconds"],
        post_logout_url=data["post_logout_url"],
        app_password_relogin_days=data["app_password_relogin_days"],
        brand=BrandSettings(**data["brand"]),
    )


class Top(StrictSchema):
    usernames = fields.Dict(load_default=dict)
    providers = fields.List(fields.Dict(), load_default=None, validate=validate.Length(min=1))
    tokens = fields.Dict(load_default=dict)
    throttle = fields.Dict(load_default=dict)
    password_policy = fields.Dict(load_default=dict)
    credential_cache = fields.Dict(load_default=dict)
    admin = fields.Dict(load_default=dict)
    sso = fields.Dict(load_default=dict)
    mapping = fields.Dict(load_default=None, allow_none=True)
    mapping_source = fields.String(load_default=None, validate=validate.OneOf(["file", "database"]))
    provider_source = fields.String(load_default=None, validate=validate.OneOf(["file", "database"]))
    registry = fields.Raw(load_default=None, allow_none=True)
    mfa = fields.Dict(load_default=dict)
    email = fields.Raw(load_default=None, allow_none=True)
    self_service = fields.Raw(load_default=None, allow_none=True)
