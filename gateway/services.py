"""Builds the gateway's parts from settings and configuration: the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from gateway.config.file import GatewayConfig, ProviderSettings
from gateway.config.settings import Settings
from gateway.login.accounts import AccountRegistry
from gateway.login.apppasswords import AppPasswords
from gateway.login.credcache import VerifiedCredentials
from gateway.login.credchanges import CredentialChanges, change_signal, record_change
from gateway.login.federation import Federation
from gateway.login.idptokens import IdpTokens
from gateway.login.password import PasswordCheck
from gateway.login.service import LoginService
from gateway.login.throttle import AccountThrottle
from gateway.mapping import EvaluationMemo
from gateway.mapping.store import PolicyStore
from gateway.observe.attempts import AttemptRecorder
from gateway.observe.audit import AuditLog
from gateway.sso.service import SsoService, check_cookie_reach
from gateway.sso.sessions import SessionStore
from gateway.storage.db import Database
from gateway.storage.state import StateStore, open_store
from gateway.tokens import KeyCipher, KeyRing, TokenService
from providers.base import Closable
from providers.catalog import build_provider
from providers.local.users import LocalUsers
from providers.providertype import BuildContext, BuiltProvider


@dataclass
class Services:
    settings: Settings
    config: GatewayConfig
    database: Database
    store: StateStore
    throttle: AccountThrottle
    accounts: AccountRegistry
    audit: AuditLog
    federation: Federation
    sessions: SessionStore
    keyring: KeyRing
    tokens: TokenService
    # Tokens for the admin API (POST /api/token): a different audience, so a Registry token
    # (readable by any script on the shared domain as xAuthToken) opens no admin API, and an
    # admin API token is no Registry login.
    admin_tokens: TokenService
    local_users: LocalUsers | None
    mapping: EvaluationMemo
    app_passwords: AppPasswords
    api_keys: AppPasswords
    policies: PolicyStore
    idp_tokens: IdpTokens
    sso: SsoService
    attempts: AttemptRecorder
    # Proven credentials of the Registry's password path (the tile hot path).
    credentials: VerifiedCredentials
    # Every way in (Registry password and token paths, /login, POST /api/token, SSO callback).
    login: LoginService = field(init=False)

    def close(self) -> None:
        self.credentials.stop()
        for provider in self.federation.providers():
            if isinstance(provider, Closable):
                provider.close()  # e.g. an LDAP provider's pooled connections
        self.database.dispose()


def build_services(settings: Settings, config: GatewayConfig) -> Services:
    check_cookie_reach(settings.public_url, config.sso, config.source)
    database = Database(settings.database_url)
    store = open_store(settings.redis_url, settings.instance_dir / "state.db")
    accounts = AccountRegistry(database)
    audit = AuditLog(database)
    providers = []
    local_users = None
    context = BuildContext(
        canonical=config.usernames.canonical,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=config.password_policy,
        on_change=record_change,
    )
    for provider_settings in config.providers:
        built = _build_provider(provider_settings, context)
        providers.append(built.provider)
        local_users = local_users or built.users
    keyring = KeyRing(database, KeyCipher(settings.key_encryption_key), config.tokens.algorithm)
    tokens = TokenService(
        keyring,
        issuer=config.tokens.issuer or settings.public_url,
        audience=config.tokens.audience,
        lifetime=timedelta(seconds=config.tokens.lifetime_seconds),
        leeway=timedelta(seconds=config.tokens.leeway_seconds),
    )
    admin_tokens = TokenService(
        keyring,
        issuer=tokens.issuer,
        audience=f"{config.tokens.audience}/admin-api",
        lifetime=tokens.lifetime,
        leeway=tokens.leeway,
    )
    app_passwords = AppPasswords(database)
    federation = Federation(
        providers,
        accounts,
        audit,
        config.usernames,
        app_passwords,
        reserved=[config.admin.username],
        snapshot_max_age=timedelta(days=config.sso.app_password_relogin_days),
    )
    sessions = SessionStore(database)
    policies = PolicyStore(database, config.mapping_source, config.mapping_document, config.mapping)
    mapping = EvaluationMemo(policies.policy)
    services = Services(
        settings=settings,
        config=config,
        database=database,
        store=store,
        throttle=AccountThrottle(store, config.throttle),
        accounts=accounts,
        audit=audit,
        federation=federation,
        sessions=sessions,
        keyring=keyring,
        tokens=tokens,
        admin_tokens=admin_tokens,
        local_users=local_users,
        mapping=mapping,
        app_passwords=app_passwords,
        api_keys=AppPasswords(database, kind="api"),
        policies=policies,
        idp_tokens=IdpTokens(providers),
        sso=SsoService(
            config,
            settings.public_url,
            store,
            federation,
            accounts,
            sessions,
            tokens,
            audit,
            secret=settings.key_encryption_key,
        ),
        attempts=AttemptRecorder(p.id for p in config.providers),
        credentials=VerifiedCredentials(
            CredentialChanges(database),
            config.credential_cache,
            signal=change_signal(database, settings.instance_dir / "credential-changes.signal"),
        ),
    )
    services.login = _login_service(services)
    return services


def _login_service(services: Services) -> LoginService:
    return LoginService(
        services.federation,
        PasswordCheck(services.federation, services.throttle, services.credentials),
        services.mapping,
        services.tokens,
        services.sessions,
        services.idp_tokens,
        services.sso,
        services.audit,
        services.attempts,
    )


def _build_provider(provider: ProviderSettings, context: BuildContext) -> BuiltProvider:
    """The configured provider, built by its type's factory in the provider catalog."""
    return build_provider(provider.type, provider.id, provider.options, context)
