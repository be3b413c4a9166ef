"""Builds the gateway's parts from settings and configuration into :class:`Services`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

from gateway.admin.passwordreset import REQUEST_KIND
from gateway.config.settings import Settings
from gateway.config.settingsobjects import GatewayConfig, ProviderSettings
from gateway.login.accounts import AccountRegistry
from gateway.login.apppasswords import AppPasswords
from gateway.login.credcache import VerifiedCredentials
from gateway.login.credchanges import CredentialChanges, change_signal
from gateway.login.federation import Federation
from gateway.login.idptokens import IdpTokens
from gateway.login.lastsignin import LastSignIns
from gateway.login.password import PasswordCheck
from gateway.login.providerset import FILE, ActiveProvider, LiveProviders
from gateway.login.service import LoginService
from gateway.login.sessionidentity import local_user_changed
from gateway.login.throttle import AccountThrottle
from gateway.mail.service import Mail
from gateway.mapping import EvaluationMemo
from gateway.mapping.store import PolicyStore
from gateway.mfa.factors import FactorStore
from gateway.mfa.passkeys import Passkeys
from gateway.mfa.service import MfaService
from gateway.mfa.totp import TotpCheck
from gateway.observe.attempts import AttemptRecorder
from gateway.observe.audit import AuditLog
from gateway.registry.link import RegistryLink
from gateway.registry.orgqueue import OrganizationsOnSignIn
from gateway.registry.signinanswer import AnswerOnSignIn
from gateway.services.container import Services
from gateway.sso.service import SsoService, check_cookie_reach
from gateway.sso.sessions import SessionStore
from gateway.storage.db import Database
from gateway.storage.providertable import ProviderTable
from gateway.storage.state import StateStore, open_store
from gateway.tokens import KeyCipher, KeyRing, TokenService
from providers.catalog import build_provider
from providers.providertype import BuildContext, BuiltProvider


def build_services(settings: Settings, config: GatewayConfig) -> Services:
    check_cookie_reach(settings.public_url, config.sso, config.source)
    database = Database(settings.database_url)
    store = open_store(settings.redis_url, settings.instance_dir / "state.db")
    accounts = AccountRegistry(database)
    audit = AuditLog(database)
    providers = []
    file_providers = []
    local_users = None
    context = BuildContext(
        canonical=config.usernames.canonical,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=config.password_policy,
        on_change=local_user_changed,
    )
    for provider_settings in config.providers:
        built = _build_provider(provider_settings, context)
        providers.append(built.provider)
        file_providers.append(
            ActiveProvider(
                provider_settings.id, provider_settings.type, provider_settings.options, FILE, built.provider
            )
        )
        local_users = local_users or built.users
    cipher = KeyCipher(settings.key_encryption_key)
    keyring = KeyRing(database, cipher, config.tokens.algorithm)
    # The same key-encryption key as the signing keys: one secret protects every secret at rest.
    table = ProviderTable(database, cipher) if config.provider_source == "database" else None
    live = LiveProviders(file_providers, table, context)
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
        registry=RegistryLink(config.registry, database),
        mfa=_mfa(settings, config, database, store, audit),
        last_sign_ins=LastSignIns(database),
        mail=Mail(config.email, database, settings.key_encryption_key, config.sso.brand.name),
        providers=live,
        provider_table=table,
    )
    live.subscribe(federation.replace_providers)
    live.subscribe(services.idp_tokens.replace_providers)
    live.subscribe(services.sso.replace_providers)
    live.subscribe(lambda _: _providers_changed(services))
    # The database's providers join at prepare() or at the first request (the table may not
    # exist before the migrations run).
    services.login = _login_service(services)
    services.mail.add_expander(
        REQUEST_KIND, lambda session, text: services.password_reset().expand(session, text)
    )
    return services


def _providers_changed(services: Services) -> None:
    """What else follows the provider set: each provider's credential cache TTL, the metrics'
    provider labels. Credentials proven through the old set are forgotten, so a provider
    disabled or changed answers no cached login."""
    active = services.providers.active()
    services.credentials.settings = replace(
        services.credentials.settings,
        provider_seconds=tuple(
            (p.id, p.options["credential_cache_seconds"])
            for p in active
            if "credential_cache_seconds" in p.options
        ),
    )
    services.credentials.clear()
    services.attempts.use_providers(p.id for p in active)


def _login_service(services: Services) -> LoginService:
    login = LoginService(
        services.federation,
        PasswordCheck(
            services.federation,
            services.throttle,
            services.credentials,
            refuses_own_password=lambda identity: services.mfa.registry_password_refusal(
                identity.username, services.mapping.evaluate(identity)
            ),
        ),
        services.mapping,
        services.tokens,
        services.sessions,
        services.idp_tokens,
        services.sso,
        services.audit,
        services.attempts,
        second_factor=services.mfa.need,
        last_sign_ins=services.last_sign_ins,
    )
    # A sign-in queues the user's organizations for the Registry when their grant changed.
    login.add_sign_in_listener(
        OrganizationsOnSignIn(services.database, services.registry.push, services.registry.wake)
    )
    # A sign-in supersedes a metadata write still waiting (a deactivation after an IdP logout).
    login.add_sign_in_listener(
        AnswerOnSignIn(services.database, services.registry.push, services.registry.wake)
    )
    return login


def _mfa(
    settings: Settings, config: GatewayConfig, database: Database, store: StateStore, audit: AuditLog
) -> MfaService:
    """Multi-factor sign-in; the WebAuthn relying party is the public URL's host unless
    ``mfa.rp_id`` names a parent domain."""
    public = urlsplit(settings.public_url)
    origin = f"{public.scheme}://{public.netloc}"
    return MfaService(
        config.mfa,
        FactorStore(database, KeyCipher(settings.key_encryption_key)),
        TotpCheck(store),
        Passkeys(
            store,
            rp_id=config.mfa.rp_id or (public.hostname or "localhost"),
            rp_name=config.sso.brand.name,
            origin=origin,
            user_secret=settings.key_encryption_key,
        ),
        AccountThrottle(store, config.throttle),
        audit,
        admin_role=config.admin.role,
    )


def _build_provider(provider: ProviderSettings, context: BuildContext) -> BuiltProvider:
    """The configured provider, built by its type's factory in the provider catalog."""
    return build_provider(provider.type, provider.id, provider.options, context)
