"""The gateway's parts, built once (gateway.services.build), and the operations built on them,
each given exactly what it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gateway import bootstrap
from gateway.admin.activity import Activity
from gateway.admin.auditlog import AuditQuery
from gateway.admin.backchannel import BackchannelLogouts
from gateway.admin.bulk import BulkUsers
from gateway.admin.emailadmin import EmailAdmin
from gateway.admin.filepolicy import apply_file_policy
from gateway.admin.groupcheck import GroupCheck
from gateway.admin.groups import AdminGroups
from gateway.admin.linktokens import LinkTokens
from gateway.admin.mapping import MappingAdmin
from gateway.admin.passwordreset import PasswordReset, ProviderLink
from gateway.admin.people import People
from gateway.admin.providerconfigs import ProviderConfigs
from gateway.admin.providerdiag import ProviderDiagnostics, Validated
from gateway.admin.providerstatus import ProviderAdmin
from gateway.admin.registration import Registration
from gateway.admin.registrypush import Answers
from gateway.admin.roles import AdminRoles
from gateway.admin.selfservice import APP_PASSWORDS, Kind, OwnSecrets
from gateway.admin.selfservicebase import RequestThrottle, SelfServiceDeps
from gateway.admin.sessionsadmin import AdminSessions
from gateway.admin.triallogin import TrialLogins
from gateway.admin.useroperations import UserService
from gateway.admin.users import AdminUsers
from gateway.config.settings import Settings
from gateway.config.settingsobjects import GatewayConfig
from gateway.login.accounts import AccountRegistry
from gateway.login.apppasswords import AppPasswords
from gateway.login.credcache import VerifiedCredentials
from gateway.login.federation import Federation
from gateway.login.idptokens import IdpTokens
from gateway.login.lastsignin import LastSignIns
from gateway.login.password import PasswordCheck
from gateway.login.providerset import LiveProviders
from gateway.login.service import LoginService
from gateway.login.throttle import AccountThrottle
from gateway.mail.service import Mail
from gateway.mapping import Evaluation, EvaluationMemo
from gateway.mapping.store import PolicyStore
from gateway.mfa.service import MfaService
from gateway.observe.attempts import AttemptRecorder
from gateway.observe.audit import AuditLog
from gateway.observe.health import provider_status
from gateway.registry.importer import RegistryImport
from gateway.registry.link import RegistryLink
from gateway.registry.orgqueue import granted_organizations, queue_organizations
from gateway.registry.sync import DirectorySync
from gateway.registry.syncadmin import SyncAdmin
from gateway.registry.syncruns import SyncRuns
from gateway.registry.syncschedule import SyncRunner, SyncSchedule
from gateway.sso.service import SsoService
from gateway.sso.sessions import SessionStore
from gateway.storage.db import Database
from gateway.storage.providertable import ProviderTable, stored_provider_ids
from gateway.storage.state import StateStore
from gateway.tokens import KeyRing, TokenService
from providers.base import Closable, DirectoryListing, GroupDirectory
from providers.local.users import LocalUsers


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
    # The Registry's admin API, the outbox deliverer and the push (off without ``registry:``).
    registry: RegistryLink
    # Multi-factor sign-in: factors, recovery codes, the checks and the policy.
    mfa: MfaService
    # Each user's last sign-in per path, written in the background (gateway.login.lastsignin).
    last_sign_ins: LastSignIns
    # Outgoing e-mail: the queue and this process's deliverer (sends nothing without ``email:``).
    mail: Mail
    # The providers in force: the file's, then the database's (provider_source: database).
    providers: LiveProviders
    # The database's providers as stored, with the cipher of their secrets (None: file mode).
    provider_table: ProviderTable | None
    # Every way in (Registry password and token paths, /login, POST /api/token, SSO callback).
    login: LoginService = field(init=False)
    _sync_schedule: SyncSchedule | None = field(init=False, default=None)

    # ---- the operations built on these parts, each given exactly what it uses ---------------

    @property
    def local_provider_id(self) -> str | None:
        """The id of the local provider, None when there is none."""
        return next((p.id for p in self.config.providers if p.type == "local"), None)

    def prepare(self, *, migrate: bool | None = None, announce=None) -> None:
        """Make the database ready to serve (:func:`gateway.bootstrap.prepare`); ``migrate``
        defaults to GATEWAY_AUTO_MIGRATE."""
        bootstrap.prepare(
            self.database,
            self.keyring,
            self.policies,
            lambda: bootstrap.ensure_admin(
                self.local_users,
                self.accounts,
                self.user_operations(),
                self.config.admin,
                self.settings.admin_password,
                announce=announce,
            ),
            migrate=self.settings.auto_migrate if migrate is None else migrate,
            apply_policy=lambda: apply_file_policy(
                self.database, self.policies, self.people(), self.registry_answers(), self.audit
            ),
        )
        self.providers.refresh(force=True)  # the database's providers, now that the table is there
        # A changed mapping file's writes go out once a server listens: the Registry logs the
        # service account in through this gateway, which a starting master is not yet.
        self.registry.leave_to_servers()

    def user_operations(self) -> UserService:
        return UserService(
            local_users=self.local_users,
            local_provider_id=self.local_provider_id,
            accounts=self.accounts,
            federation=self.federation,
            sessions=self.sessions,
            app_passwords=self.app_passwords,
            audit=self.audit,
            answers=self.registry_answers(),
            factors=self.mfa.factors,
        )

    def backchannel_logouts(self) -> BackchannelLogouts:
        """The receiver of IdPs' back-channel logout tokens."""
        return BackchannelLogouts(self.federation, self.store, self.user_operations, self.audit)

    def backchannel_logout_uri(self, provider_id: str) -> str:
        """The back-channel logout URI to register at the IdP for ``provider_id``."""
        return f"{self.settings.public_url.rstrip('/')}/oidc/{provider_id}/backchannel-logout"

    def password_check(self) -> PasswordCheck:
        """A full password verification under the account throttle (never the cache)."""
        return PasswordCheck(self.federation, self.throttle, self.credentials)

    def registry_answers(self) -> Answers:
        """Users' Registry answers outside a login, and the push that queues them: the hook
        for every change that alters what known users get at the Registry."""
        push = self.registry.push

        def organizations(session: Session, username: str, evaluation: Evaluation) -> bool:
            return queue_organizations(session, push, username, granted_organizations(evaluation))

        return Answers(self.people(), push, self.database, organizations)

    @property
    def shared_store(self) -> StateStore | None:
        """The state store shared by replicas (Redis), or None when the state is this machine's."""
        return self.store if self.settings.redis_url else None

    def provider_status(self) -> list[dict[str, Any]]:
        """Every configured provider's health, checked now (in configured order), with the
        back-channel logout URI to register at the IdP where that is enabled."""
        statuses = provider_status(self.federation, [(p.id, p.type) for p in self.providers.active()])
        receiving = {provider.id for provider in self.backchannel_logouts().receivers()}
        for status in statuses:
            if status["id"] in receiving:
                status["backchannelLogoutUri"] = self.backchannel_logout_uri(status["id"])
        return statuses

    def trial_logins(self) -> TrialLogins:
        return TrialLogins(
            federation=self.federation,
            provider_ids=[p.id for p in self.providers.active()],
            usernames=self.config.usernames,
            accounts=self.accounts,
            mapping=self.mapping,
        )

    def provider_admin(self) -> ProviderAdmin:
        return ProviderAdmin(
            status=self.provider_status,
            trials=self.trial_logins(),
            throttle=self.throttle,
            audit=self.audit,
        )

    def provider_configs(self) -> ProviderConfigs:
        """The providers admins manage in the database (``provider_source: database``)."""
        return ProviderConfigs(
            table=self.provider_table,
            live=self.providers,
            file_providers=[(p.id, p.type, p.options) for p in self.config.providers],
            browser_sign_on=self.config.sso.enabled,
            audit=self.audit,
            stored_ids=lambda: stored_provider_ids(self.database),
        )

    def people(self) -> People:
        return People(
            local_users=self.local_users,
            accounts=self.accounts,
            mapping=self.mapping,
            admin_role=self.config.admin.role,
            local_provider_id=self.local_provider_id,
        )

    def admin_roles(self) -> AdminRoles:
        return AdminRoles(
            database=self.database,
            audit=self.audit,
            mapping=self.mapping,
            local_users=self.local_users,
            admin_role=self.config.admin.role,
        )

    def admin_users(self) -> AdminUsers:
        return AdminUsers(
            people=self.people(),
            operations=self.user_operations(),
            roles=self.admin_roles(),
            local_users=self.local_users,
            throttle=self.throttle,
            audit=self.audit,
            database=self.database,
            answers=self.registry_answers(),
        )

    def admin_groups(self) -> AdminGroups:
        return AdminGroups(
            database=self.database,
            audit=self.audit,
            local_users=self.local_users,
            people=self.people(),
            answers=self.registry_answers(),
        )

    def mapping_admin(self) -> MappingAdmin:
        return MappingAdmin(
            database=self.database,
            audit=self.audit,
            policies=self.policies,
            people=self.people(),
            roles=self.admin_roles(),
            usernames=self.config.usernames,
            admin_role=self.config.admin.role,
            answers=self.registry_answers(),
            groups=self.group_check(),
        )

    def group_check(self) -> GroupCheck:
        """Warnings for group names nobody has and no directory knows."""
        local = self.local_users
        return GroupCheck(
            people=self.people(),
            local_groups=lambda: [name for name, _members in local.list_groups()] if local else [],
            directories=lambda: [p for p in self.federation.providers() if isinstance(p, GroupDirectory)],
        )

    def saved_provider(self, provider_id: str) -> Validated | None:
        """A provider in force (from the file or the database): its validated section, or None."""
        found = next((p for p in self.providers.active() if p.id == provider_id), None)
        return None if found is None else Validated(found.type, found.id, dict(found.options))

    def provider_diagnostics(self) -> ProviderDiagnostics:
        return ProviderDiagnostics(
            saved=self.saved_provider,
            canonical=self.config.usernames.canonical,
            evaluate=self.mapping.evaluate,
            redirect_uri=self.sso.callback_url,
            backchannel_logout_uri=self.backchannel_logout_uri,
            audit=self.audit,
            store=self.store,
        )

    def admin_sessions(self) -> AdminSessions:
        return AdminSessions(sessions=self.sessions, audit=self.audit)

    def audit_query(self) -> AuditQuery:
        return AuditQuery(self.database)

    def bulk_users(self) -> BulkUsers:
        """Bulk actions on users: the one-user operations, one user after another."""
        return BulkUsers(self.admin_users(), self.admin_groups())

    def activity(self) -> Activity:
        """Who is in: last sign-ins per user and path, and the newest across users."""
        return Activity(self.database)

    def own_secrets(self, kind: Kind) -> OwnSecrets:
        """One person's app passwords (``APP_PASSWORDS``) or API keys (``API_KEYS``)."""
        return OwnSecrets(self.app_passwords if kind is APP_PASSWORDS else self.api_keys, self.audit, kind)

    def registry_import(self) -> RegistryImport:
        return RegistryImport(
            database=self.database,
            accounts=self.accounts,
            audit=self.audit,
            roles=self.admin_roles(),
            usernames=self.federation.usernames,
            admin_username=self.config.admin.username,
            local_provider_id=self.local_provider_id if self.local_users is not None else None,
        )

    def directory_sync(self) -> SyncRunner:
        """Runs of the directory sync over every provider that can list its users."""
        runs = SyncRuns(self.database)
        sync = DirectorySync(
            database=self.database,
            # Asked at each run: directories added in the admin UI join without a restart.
            directories=self.listing_directories,
            operations=self.user_operations(),
            mapping=self.mapping,
            push=self.registry.push,
            audit=self.audit,
            runs=runs,
        )
        return SyncRunner(sync, runs)

    def listing_directories(self) -> list[DirectoryListing]:
        """The providers in force now that can list their users. The provider set is refreshed
        first, as before every web request: the sync's thread serves no request, and must not
        read a directory an admin has since removed, disabled or edited."""
        self.providers.refresh()
        return [p for p in self.federation.providers() if isinstance(p, DirectoryListing)]

    def directory_sync_admin(self) -> SyncAdmin:
        """The directory sync as the admin API and UI show and start it."""
        return SyncAdmin(self.directory_sync(), self.config.registry_sync)

    def sync_schedule(self) -> SyncSchedule:
        """This process's periodic directory sync (one per Services; started by the serving app)."""
        if self._sync_schedule is None:
            self._sync_schedule = SyncSchedule(
                self.directory_sync(),
                self.config.registry_sync,
                directories_may_change=self.providers.editable,
            )
        return self._sync_schedule

    def email_admin(self) -> EmailAdmin:
        return EmailAdmin(self.mail, self.audit)

    def link_tokens(self) -> LinkTokens:
        return LinkTokens(self.database)

    def password_reset(self) -> PasswordReset:
        """Password reset by e-mail (``self_service.password_reset``)."""
        return PasswordReset(
            self._self_service(),
            provider_links=[
                ProviderLink(
                    p.id, str(p.options.get("display_name") or p.id), p.options["password_reset_url"]
                )
                for p in self.providers.active()
                if p.options.get("password_reset_url")
            ],
        )

    def registration(self) -> Registration:
        """Self-registration (``self_service.registration``)."""
        return Registration(self._self_service())

    def _self_service(self) -> SelfServiceDeps:
        return SelfServiceDeps(
            settings=self.config.self_service,
            database=self.database,
            mail=self.mail,
            tokens=self.link_tokens(),
            throttle=RequestThrottle(self.store, self.config.self_service),
            local_users=self.local_users,
            operations=self.user_operations(),
            audit=self.audit,
            public_url=self.settings.public_url,
        )

    def close(self) -> None:
        self.mail.stop()
        self.registry.flush()  # a CLI command's Registry writes go out before it exits
        self.registry.stop()
        if self._sync_schedule is not None:
            self._sync_schedule.stop()
        self.credentials.stop()
        self.last_sign_ins.stop()
        for provider in self.federation.providers():
            if isinstance(provider, Closable):
                provider.close()  # e.g. an LDAP provider's pooled connections
        self.database.dispose()
