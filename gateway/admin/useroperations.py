"""User operations that span the local database, username ownership and sessions.

The CLI, the admin API, the admin UI and self-service go through here, so that each change has
one set of consequences whichever client asks: a local user owns its username from creation;
setting a password, disabling or deleting a user ends their sessions (and the tokens bound to
them) and revokes their app passwords and API keys at once; each change is audited once, with
the actor; and the Registry is told in the same transaction (a disabled or deleted user is
deactivated there at once, an enabled one gets their answer back) when a ``registry:`` section
is configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.admin.registrypush import Answers
from gateway.login.accounts import AccountRegistry, UsernameTaken
from gateway.login.apppasswords import AppPasswords
from gateway.login.federation import Federation
from gateway.mfa.factors import FactorStore, FactorView
from gateway.observe.audit import AuditLog
from gateway.sso.sessions import SessionStore
from providers.base import Identity, IdentityLookup, LogoutPolicy, Rejection
from providers.local.provider import local_subject
from providers.local.users import LocalUsers, UserError, UserView


class NotAdmitted(UserError):
    """An enable of a self-registration that is not admitted yet: approving (or rejecting) it
    is the one way in, so that its address is confirmed and the person is told."""


@dataclass(frozen=True)
class IdpLogoutResult:
    """What an IdP's logout ended: sessions per username, app passwords and API keys revoked,
    and whose Registry accounts were queued for deactivation."""

    sessions_ended: dict[str, int]
    secrets_revoked: int
    deactivated: tuple[str, ...]


class UserService:
    def __init__(
        self,
        *,
        local_users: LocalUsers | None,
        local_provider_id: str | None,
        accounts: AccountRegistry,
        federation: Federation,
        sessions: SessionStore,
        app_passwords: AppPasswords,
        audit: AuditLog,
        answers: Answers | None = None,
        factors: FactorStore | None = None,
    ):
        self._answers = answers
        self._factors = factors
        self._local_users = local_users
        self._provider_id = local_provider_id
        self._accounts = accounts
        self._federation = federation
        self._sessions = sessions
        self._app_passwords = app_passwords
        self._audit = audit

    @property
    def _users(self):
        """The local user store; managing users needs a local provider."""
        if self._local_users is None:
            raise UserError("no local provider is configured")
        return self._local_users

    @property
    def _local_provider(self) -> IdentityLookup:
        """The local provider, to look its users up; it exists whenever local users do."""
        provider = self._federation.provider(self._provider_id) if self._provider_id else None
        if not isinstance(provider, IdentityLookup):
            raise RuntimeError("local users exist only with a local provider, yet the federation lacks it")
        return provider

    def canonical(self, username: str) -> str:
        """The username if it is canonical; UserError otherwise."""
        if not self._federation.usernames.is_canonical(username):
            raise UserError(self._federation.usernames.advice(username))
        return username

    def create(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        display_name: str | None = None,
        groups: Iterable[str] = (),
        overrides: dict[str, Any] | None = None,
        enforce_policy: bool = True,
        actor: str | None = None,
        registration_state: str | None = None,
        temporary: bool = False,
    ) -> UserView:
        """Create a local user who owns their username from the start; with
        ``registration_state`` a self-registered one, disabled until admitted; ``temporary``:
        with a password they must change at the first sign-in (refused everywhere else until
        then, as a temporary password an admin sets later is)."""
        username = self.canonical(username)
        owner = self._accounts.owner_of(username)
        if owner is not None:
            raise UserError(f"username {username!r} already belongs to provider {owner.provider!r}")
        try:
            view = self._users.create(
                username,
                password,
                email=email,
                display_name=display_name,
                groups=groups,
                overrides=overrides,
                enforce_policy=enforce_policy,
                registration_state=registration_state,
                temporary=temporary,
            )
        except UserError:
            # The user and its name's ownership are two commits: a create cut short between
            # them (a killed replica) left a local user nobody owns. Its retry finishes it.
            self._claim_unowned_local(username)
            raise
        if registration_state is not None and view.id is not None and self._provider_id is not None:
            # Disabled until admitted, so the provider would not look it up: its identity as
            # the provider makes it.
            identity: Identity | Rejection = Identity(
                provider=self._provider_id, subject=local_subject(view.id), username=username, email=email
            )
        else:
            identity = self._local_provider.lookup(username)
        if not isinstance(identity, Identity):  # only another request can have removed it since
            raise UserError(f"user {username!r} was deleted or disabled while being created")
        try:
            self._accounts.claim(identity, record_login=False)
        except UsernameTaken as taken:  # lost a race with another provider's first login
            self._users.delete(username)
            raise UserError(
                f"username {username!r} already belongs to provider {taken.owner_provider!r}"
            ) from None
        self._audit.record(
            "user_created",
            "ok",
            username=username,
            provider=self._provider_id,
            actor=actor,
            **({"temporary": "yes"} if temporary else {}),
        )
        return view

    def owner(self, username: str):
        """Which provider identity owns ``username``, None when nobody does."""
        return self._accounts.owner_of(username)

    def _claim_unowned_local(self, username: str) -> None:
        if self._accounts.owner_of(username) is not None or self._users.get(username) is None:
            return
        identity = self._local_provider.lookup(username)
        if isinstance(identity, Identity):
            try:
                self._accounts.claim(identity, record_login=False)
            except UsernameTaken:  # another provider's first login took it meanwhile
                pass

    def set_password(
        self,
        username: str,
        password: str,
        *,
        actor: str | None,
        event: str,
        keep_session: str | None = None,
        temporary: bool = False,
    ) -> tuple[int, int]:
        """Set a local user's password (under the password policy), then end every session of
        theirs but ``keep_session`` (and so every token bound to one) and revoke every app
        password and API key: whoever knew the old password may have made them. Audited as
        ``event`` with ``actor``. The one way to set a password, whichever client asks;
        returns (sessions ended, secrets revoked). ``temporary``: the user must choose their own
        password at the next sign-in, and the Registry's password path refuses them until then."""
        self._users.set_password(username, password, temporary=temporary)
        ended = self._sessions.revoke_user(username, keep=keep_session)
        revoked = self._app_passwords.revoke_all(username)
        self._audit.record(
            event,
            "ok",
            username=username,
            actor=actor,
            sessions_ended=ended,
            secrets_revoked=revoked,
            **({"temporary": "yes"} if temporary else {}),
        )
        return ended, revoked

    def set_enabled(self, username: str, enabled: bool, *, actor: str | None = None) -> None:
        """Enable or disable a user of any provider at the gateway. Disabling ends their
        sessions and revokes their app passwords at once; a directory or IdP user is blocked
        here without touching the directory. A self-registration still waiting (for its
        address or for an admin) is not enabled: NotAdmitted (see :meth:`check_enable`)."""
        if enabled:
            self.check_enable(username)
        local = self._local_users is not None and self._local_users.get(username) is not None
        # Also ends sessions; the Registry write commits with the change.
        registry_write = self._registry_write(username, enabled)
        if local:
            # The local flag, the ended sessions and the Registry write are one transaction.
            def block(session: Session) -> None:
                self._accounts.set_disabled_in(session, username, not enabled, also=registry_write)

            self._users.set_enabled(username, enabled, also=block)
            known = True
        else:
            known = self._accounts.set_disabled(username, not enabled, also=registry_write)
        if not (local or known):
            raise UserError(f"no user {username!r}")
        self._audit.record(
            "user_enabled" if enabled else "user_disabled", "ok", username=username, actor=actor
        )

    def check_enable(self, username: str) -> None:
        """NotAdmitted when ``username`` is a self-registration not yet admitted: enabling it
        would let it in without its confirmed address or an admin's approval."""
        user = self._local_users.get(username) if self._local_users is not None else None
        if user is None or user.registration_state is None:
            return
        if user.registration_state == "pending":
            raise NotAdmitted(
                f"{username!r} is a registration waiting for approval: approve or reject it "
                "under Registrations instead of enabling it"
            )
        raise NotAdmitted(
            f"{username!r} is a registration whose e-mail address is not confirmed yet, so it "
            "cannot be enabled: reject it under Registrations, or approve it once it is confirmed"
        )

    def delete(self, username: str, *, actor: str | None = None) -> None:
        """Delete a local user, or forget a directory/IdP user's ownership of their username
        (they are a new account at their next login). Sessions and app passwords go first."""
        local = self._local_users is not None and self._local_users.get(username) is not None
        if not local and self._accounts.owner_of(username) is None:
            raise UserError(f"no user {username!r}")
        # Revoke first (nothing of theirs works from here on), then release the name, then
        # delete: a failure part-way leaves a state the next call or login repairs.
        # Ends sessions and app passwords, and deactivates (or deletes) the Registry account.
        self._accounts.set_disabled(username, True, also=self._registry_write(username, None))
        self._accounts.release(username)
        if local:
            self._users.delete(username)
        if self._factors is not None:
            self._factors.reset(username)  # a later account of that name starts with none
        self._audit.record("user_deleted", "ok", username=username, actor=actor)

    def has_registry_account(self, username: str) -> bool:
        """Whether a disable or delete of ``username`` would be pushed to a Registry account
        (a Registry is connected and the user has signed in there, or was imported from it)."""
        answers = self._answers
        return answers is not None and answers.enabled and answers.seen(username)

    def factors(self, username: str) -> list[FactorView]:
        """The second factors of ``username`` (type, name, created, last used; no secret)."""
        return [] if self._factors is None else self._factors.views(username)

    def reset_factors(self, username: str, *, actor: str | None = None) -> int:
        """Remove every second factor and recovery code of ``username`` (they lost their
        device): their next sign-in asks for the password alone, or makes them enrol again
        when the policy requires a second factor. Audited; how many factors went."""
        if self._factors is None:
            return 0
        if self._accounts.owner_of(username) is None and (
            self._local_users is None or self._local_users.get(username) is None
        ):
            raise UserError(f"no user {username!r}")
        removed = self._factors.reset(username)
        self._audit.record("mfa_reset", "ok", username=username, actor=actor, factors_removed=removed)
        return removed

    def _registry_write(self, username: str, enabled: bool | None):
        """What to queue for the Registry when ``username`` is enabled (True), disabled
        (False) or deleted (None): nothing without a Registry, or for a user the Registry has
        no account for (never logged in nor imported from it; their first login brings it in
        step)."""
        answers = self._answers
        if answers is None or not answers.enabled or not answers.seen(username):
            return None
        push = answers.push
        if enabled is None:
            return lambda session: push.deleted(session, username)
        answer = answers.of(username) if enabled else None
        if answer is None:  # disabled, or enabled but the mapping denies them
            return lambda session: push.deactivated(session, username)
        return lambda session: push.answer(session, username, answer)

    def end_idp_login(
        self,
        provider: str,
        *,
        subject: str | None,
        idp_session: str | None,
        policy: LogoutPolicy,
        actor: str,
    ) -> IdpLogoutResult:
        """The IdP ``provider`` says a login of its person ``subject`` (their IdP session
        ``idp_session``, or all of them when None) has ended: end the gateway sessions opened
        from it (and so every gateway token bound to them), and, as ``policy`` says, revoke
        the user's app passwords and API keys, and deactivate them at the Registry in the same
        transaction (their next login gives them their answer back). The user stays enabled
        at the gateway: signing out is not being disabled. A ``subject`` nobody here owns
        names no session of ours, so nothing happens. Audited once per user, as
        ``idp_logout`` with ``actor``."""
        username = self._accounts.username_of(provider, subject) if subject is not None else None
        if subject is not None and username is None:
            self._audit.record("idp_logout", "ok", provider=provider, actor=actor, sessions_ended=0)
            return IdpLogoutResult({}, 0, ())
        deactivated: list[str] = []

        def deactivate(session: Session, ended: set[str]) -> None:
            answers = self._answers
            if not policy.deactivate or answers is None or not answers.enabled:
                return
            for name in sorted(ended | ({username} if username else set())):
                if answers.seen(name):
                    answers.push.deactivated(session, name)
                    deactivated.append(name)

        ended = self._sessions.revoke_idp_sessions(
            provider, username=username, idp_session=idp_session, also=deactivate
        )
        users = sorted(set(ended) | ({username} if username else set()))
        revoked = 0
        for name in users:
            secrets = self._app_passwords.revoke_all(name) if policy.revoke_app_passwords else 0
            revoked += secrets
            self._audit.record(
                "idp_logout",
                "ok",
                username=name,
                provider=provider,
                actor=actor,
                sessions_ended=ended.get(name, 0),
                secrets_revoked=secrets,
                **({"registry": "deactivated"} if name in deactivated else {}),
            )
        if not users:
            self._audit.record("idp_logout", "ok", provider=provider, actor=actor, sessions_ended=0)
        return IdpLogoutResult(ended, revoked, tuple(deactivated))

    def identity(self, username: str) -> Identity | None:
        """The current identity of a user of any provider that can look users up: the owner
        of the username, or, for a name nobody has logged in with yet, the first provider (in
        configured order) that knows it."""
        owner = self._accounts.owner_of(username)
        federation = self._federation
        candidates = [federation.provider(owner.provider)] if owner else federation.providers()
        for provider in candidates:
            if not isinstance(provider, IdentityLookup):
                continue
            found = provider.lookup(username)
            if found is not Rejection.NO_SUCH_USER:
                return found if isinstance(found, Identity) else None
        return None
