"""What the configuration file becomes: the frozen settings objects every part of the gateway
reads (gateway.config.file builds them; nothing here parses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.email import EmailSettings, SelfServiceSettings
from gateway.config.mfa import MfaSettings
from gateway.config.registry import RegistryConfig
from gateway.config.registrysync import SyncSettings
from gateway.login.credcache import CacheSettings
from gateway.login.throttle import ThrottleSettings
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import Policy, parse_policy
from providers.local.policy import PasswordPolicy


@dataclass(frozen=True)
class TokenSettings:
    issuer: str | None = None  # defaults to GATEWAY_PUBLIC_URL
    audience: str = "dronedb-registry"
    algorithm: str = "ES256"
    lifetime_seconds: int = 3600
    leeway_seconds: int = 30
    session_lifetime_seconds: int = 8 * 3600


@dataclass(frozen=True)
class BrandSettings:
    name: str = "DroneDB Registry"
    logo_url: str | None = None


@dataclass(frozen=True)
class SsoSettings:
    """Browser single sign-on: where the browser goes, and the ``xAuthToken`` cookie (contract §3).

    ``registry_login_url`` is the Registry web client's login page; ``None`` means browser
    sign-on is off. ``cookie_domain`` is the parent domain shared by the gateway and the
    Registry (``None``: host-only, for a gateway served on the Registry's own host).
    ``registry_origin`` is the origin allowed to frame the logout page (default: the origin
    of ``registry_login_url``). ``allowed_next`` are further exact URLs a login may return to.
    """

    registry_login_url: str | None = None
    registry_origin: str | None = None
    cookie_domain: str | None = None
    allowed_next: tuple[str, ...] = ()
    token_lifetime_seconds: int | None = None
    session_lifetime_seconds: int | None = None
    post_logout_url: str | None = None
    app_password_relogin_days: int = 30
    brand: BrandSettings = BrandSettings()

    @property
    def enabled(self) -> bool:
        return self.registry_login_url is not None


@dataclass(frozen=True)
class ProviderSettings:
    id: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdminSettings:
    """``username``/``roles``: the bootstrapped admin. ``role``: the role whose holders may use
    the admin API and UI (the Registry's own admin role by default)."""

    username: str = "admin"
    roles: tuple[str, ...] = ("admin",)
    role: str = "admin"


@dataclass(frozen=True)
class GatewayConfig:
    source: str = "defaults"
    usernames: UsernamePolicy = UsernamePolicy()
    providers: tuple[ProviderSettings, ...] = (ProviderSettings("local", "local"),)
    tokens: TokenSettings = TokenSettings()
    throttle: ThrottleSettings = ThrottleSettings()
    password_policy: PasswordPolicy = PasswordPolicy()
    credential_cache: CacheSettings = CacheSettings(provider_seconds=(("local", 600.0),))
    admin: AdminSettings = AdminSettings()
    sso: SsoSettings = SsoSettings()
    mapping: Policy = field(default_factory=lambda: parse_policy(None, "defaults"))
    # "file": the mapping: section is the policy, read-only in the admin UI. "database": the
    # policy lives in the database, edited in the admin API/UI; the section (if any) seeds it.
    mapping_source: str = "database"
    mapping_document: Mapping[str, Any] | None = None
    # "file": the providers: list is every provider, read-only in the admin UI. "database":
    # admins add further providers in the admin API/UI (stored in the database, secrets
    # encrypted); the file's providers (the local one by default) stay, listed first.
    provider_source: str = "database"
    # The ``registry:`` section (gateway.config.registry); None: the gateway never writes to it.
    registry: RegistryConfig | None = None
    # ``registry.sync`` (gateway.config.registrysync): the directory sync; off without a
    # ``registry:`` section. A section holding only ``sync`` runs the sync without a client.
    registry_sync: SyncSettings = SyncSettings(enabled=False)
    # ``mfa:``: multi-factor sign-in (gateway.config.mfa).
    mfa: MfaSettings = MfaSettings()
    # ``email:`` (gateway.config.email); None: the gateway sends no mail.
    email: EmailSettings | None = None
    # ``self_service:``: password reset by e-mail and self-registration (off by default).
    self_service: SelfServiceSettings = SelfServiceSettings()
