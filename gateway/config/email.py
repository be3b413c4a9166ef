"""The ``email:`` section (outgoing mail through SMTP) and ``self_service:`` (password reset
by e-mail, self-registration).

``email.smtp.password`` is best given as ``password_env: NAME`` (read from the environment at
start-up, like ``registry.service_account``) or ``password: ${NAME}``; it is never shown by the
admin pages. Without an ``email:`` section the gateway sends nothing, and the self-service
features that need mail refuse to start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import fields, validate

from providers.schema import ConfigError, StrictSchema, load_section, load_section_or_defaults, raise_all

SECURITY = ("none", "starttls", "tls")
ADDRESS_PATTERN = re.compile(r"[^@\s<>\"(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{1,63}")
ADDRESS = validate.Regexp(ADDRESS_PATTERN, error="must be an e-mail address")
DOMAIN = validate.Regexp(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}$", error="must be a domain")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # CA certificates to trust instead of the system's

    def __repr__(self) -> str:  # never the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r})"


@dataclass(frozen=True)
class EmailSettings:
    """Where and how mail goes out. ``timeout_seconds`` bounds each SMTP operation;
    ``max_attempts`` sends of a message are tried (with backoff from ``retry_base_seconds``)
    before it is marked failed."""

    smtp: SmtpSettings
    sender: str
    brand: str | None = None  # defaults to sso.brand.name
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    retry_base_seconds: float = 30.0

    def public(self) -> dict[str, Any]:
        """The settings in force as the admin pages show them: everything but the password."""
        return {
            "host": self.smtp.host,
            "port": self.smtp.port,
            "security": self.smtp.security,
            "username": self.smtp.username,
            "passwordSet": self.smtp.password is not None,
            "sender": self.sender,
            "brand": self.brand,
            "timeoutSeconds": self.timeout_seconds,
            "maxAttempts": self.max_attempts,
        }


@dataclass(frozen=True)
class RegistrationSettings:
    enabled: bool = False
    allowed_email_domains: tuple[str, ...] = ()  # empty: any domain
    require_email_verification: bool = True
    require_admin_approval: bool = True
    default_groups: tuple[str, ...] = ()
    verification_link_minutes: int = 24 * 60


@dataclass(frozen=True)
class SelfServiceSettings:
    password_reset: bool = False
    reset_link_minutes: int = 30
    # Requests per address (or username) and per client address in ``throttle_window_seconds``.
    max_requests_per_address: int = 3
    max_requests_per_client: int = 20
    throttle_window_seconds: int = 3600
    registration: RegistrationSettings = RegistrationSettings()


class _Smtp(StrictSchema):
    host = fields.String(required=True, validate=validate.Length(1, 255))
    port = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 65535))
    security = fields.String(load_default="starttls", validate=validate.OneOf(SECURITY))
    username = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 255))
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 1024))
    password_env = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")
    )
    ca_file = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 4096))


class _Email(StrictSchema):
    smtp = fields.Dict(required=True)
    sender = fields.String(required=True, validate=ADDRESS)
    brand = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(0.5, 60))
    max_attempts = fields.Integer(load_default=8, validate=validate.Range(1, 50))
    retry_base_seconds = fields.Float(load_default=30.0, validate=validate.Range(1, 3600))


class _Registration(StrictSchema):
    enabled = fields.Boolean(load_default=False)
    allowed_email_domains = fields.List(fields.String(validate=DOMAIN), load_default=list)
    require_email_verification = fields.Boolean(load_default=True)
    require_admin_approval = fields.Boolean(load_default=True)
    default_groups = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list)
    verification_link_minutes = fields.Integer(load_default=24 * 60, validate=validate.Range(5, 7 * 24 * 60))


class _SelfService(StrictSchema):
    password_reset = fields.Boolean(load_default=False)
    reset_link_minutes = fields.Integer(load_default=30, validate=validate.Range(5, 24 * 60))
    max_requests_per_address = fields.Integer(load_default=3, validate=validate.Range(1, 1000))
    max_requests_per_client = fields.Integer(load_default=20, validate=validate.Range(1, 100_000))
    throttle_window_seconds = fields.Integer(load_default=3600, validate=validate.Range(60, 7 * 86400))
    registration = fields.Dict(load_default=dict)


DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def parse_email(data: Any, source: str, environ: Mapping[str, str]) -> EmailSettings | None:
    """The ``email:`` section, None when it is absent. Raises ConfigError."""
    if data is None:
        return None
    top = load_section(_Email, data, source, "email")
    smtp = load_section(_Smtp, top["smtp"], source, "email.smtp")
    password = smtp["password"]
    if password is not None and smtp["password_env"] is not None:
        raise ConfigError(source, "email.smtp", "needs at most one of password_env or password")
    if smtp["password_env"] is not None:
        password = environ.get(smtp["password_env"])
        if not password:
            raise ConfigError(
                source, "email.smtp.password_env", f"environment variable {smtp['password_env']} is not set"
            )
    if (smtp["username"] is None) != (password is None):
        raise ConfigError(source, "email.smtp", "username and password go together")
    if password is not None and smtp["security"] == "none":
        raise ConfigError(source, "email.smtp.security", "must be starttls or tls when a password is sent")
    return EmailSettings(
        smtp=SmtpSettings(
            host=smtp["host"],
            port=smtp["port"] or DEFAULT_PORTS[smtp["security"]],
            security=smtp["security"],
            username=smtp["username"],
            password=password,
            ca_file=smtp["ca_file"],
        ),
        sender=top["sender"],
        brand=top["brand"],
        timeout_seconds=top["timeout_seconds"],
        max_attempts=top["max_attempts"],
        retry_base_seconds=top["retry_base_seconds"],
    )


def parse_self_service(data: Any, source: str, email: EmailSettings | None) -> SelfServiceSettings:
    """The ``self_service:`` section (all off when absent). Raises ConfigError; a feature
    that sends mail needs the ``email:`` section."""
    found: list[ConfigError] = []
    top = load_section_or_defaults(_SelfService, data or {}, source, "self_service", found)
    if top is None:
        top = _SelfService().load({})
    given = data.get("registration") if isinstance(data, dict) else None
    if not isinstance(given, dict):
        given = {}  # absent, or refused above as not a mapping
    top.pop("registration")
    # The registration part is checked even when a key above it is faulty.
    registration = load_section_or_defaults(
        _Registration, given, source, "self_service.registration", found
    ) or _Registration().load({})
    settings = SelfServiceSettings(
        **top,
        registration=RegistrationSettings(
            enabled=registration["enabled"],
            allowed_email_domains=tuple(d.lower() for d in registration["allowed_email_domains"]),
            require_email_verification=registration["require_email_verification"],
            require_admin_approval=registration["require_admin_approval"],
            default_groups=tuple(registration["default_groups"]),
            verification_link_minutes=registration["verification_link_minutes"],
        ),
    )
    if email is None and settings.password_reset:
        found.append(
            ConfigError(source, "self_service.password_reset", "needs an email: section to send the link")
        )
    if email is None and settings.registration.enabled and settings.registration.require_email_verification:
        found.append(
            ConfigError(
                source, "self_service.registration.require_email_verification", "needs an email: section"
            )
        )
    raise_all(found)
    return settings
