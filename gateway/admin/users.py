"""User administration with the rules an admin expects to hold whatever the client.

* an admin cannot delete or disable themselves;
* no change may leave the gateway without an enabled admin (delete, disable, a roles or groups
  change, a metadata change);
* disabling or deleting a user revokes their sessions, tokens, app passwords and API keys at
  once (through :class:`gateway.admin.useroperations.UserService`);
* directory and IdP users are read-only here, except that they can be disabled at the gateway;
* a per-user quota that would fall below the storage the user already uses at the Registry
  needs ``confirm_quota_shrink`` (:mod:`gateway.admin.quotashrink`);
* every change is audited with the acting admin;
* with a ``registry:`` section, a change of a user's roles, groups or metadata queues their
  new answer when it changed (an enable or disable pushes through ``UserService``; a password
  change alters no answer and pushes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from gateway.admin.errors import AdminError
from gateway.admin.people import People, Person
from gateway.admin.quotashrink import check_quota_shrink
from gateway.admin.registrypush import Answers
from gateway.admin.roles import AdminRoles
from gateway.admin.useroperations import NotAdmitted, UserService
from gateway.login.throttle import AccountThrottle, Throttled
from gateway.mapping import validate_overrides
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.registrystate import RegistryStorage, storage_by_user
from providers.local.policy import PasswordRejected
from providers.local.users import LocalUsers, UserError, UserView

UNSET: Any = ...


class AdminUsers:
    def __init__(
        self,
        *,
        people: People,
        operations: UserService,
        roles: AdminRoles,
        local_users: LocalUsers | None,
        throttle: AccountThrottle,
        audit: AuditLog,
        database: Database | None = None,
        answers: Answers,
    ):
        """``database``: where the Registry storage figures are kept (None: none are shown
        and quota shrinks are not checked)."""
        self._answers = answers
        self.people = people
        self._database = database
        self._users = operations
        self._roles = roles
        self._local_users = local_users
        self._throttle = throttle
        self._audit_log = audit

    @property
    def _local_store(self) -> LocalUsers:
        """The local user store; only local users are changed through it, and they exist only
        when there is one."""
        if self._local_users is None:
            raise RuntimeError("a local user is being changed, yet no local user store was given")
        return self._local_users

    def require(self, username: str) -> Person:
        person = self.people.get(username)
        if person is None:
            raise AdminError(404, f"no user {username!r}")
        return person

    def create(
        self,
        actor: str,
        username: str,
        password: str,
        *,
        email: str | None = None,
        display_name: str | None = None,
        roles: Iterable[str] | None = None,
        groups: Iterable[str] = (),
        metadata: dict[str, Any] | None = None,
        temporary: bool = False,
    ) -> Person:
        """Create a local user (audited ``user_created``); ``temporary``: their password must
        be changed at the first sign-in in a browser, and every other way in refuses it until
        then."""
        overrides = self._overrides(
            {**(metadata or {}), **({"roles": list(roles)} if roles is not None else {})}
        )
        try:
            self._users.create(
                username,
                password,
                email=email,
                display_name=display_name,
                groups=groups,
                overrides=overrides,
                actor=actor,
                temporary=temporary,
            )
        except PasswordRejected as rejected:
            raise AdminError(400, str(rejected), "password") from None
        except UserError as error:
            raise _user_error(error, "userName") from None
        self._roles.ensure(overrides.get("roles", ()))
        return self.require(username)

    def update(
        self,
        actor: str,
        username: str,
        *,
        email: Any = UNSET,
        display_name: Any = UNSET,
        roles: Any = UNSET,
        groups: Any = UNSET,
        enabled: Any = UNSET,
    ) -> Person:
        """Change what is given. Directory users accept only ``enabled``."""
        person = self.require(username)
        if groups is None:  # null clears the membership, as an empty list does
            groups = []
        local_change = any(v is not UNSET for v in (email, display_name, roles, groups))
        if local_change and person.read_only:
            raise AdminError(
                409,
                f"{username!r} is managed by provider {person.provider!r}; only enabled can be changed here",
            )
        if enabled is False:
            self._not_self(actor, username, "disable")
        if enabled is True and not person.enabled:
            try:
                self._users.check_enable(username)  # before any part of the change is made
            except NotAdmitted as refused:
                raise AdminError(409, str(refused), "enabled") from None
        overrides = UNSET
        if roles is not UNSET:
            overrides = self._overrides({**_local_view(person).overrides, "roles": list(roles or [])})
        after = self._simulate(person, groups=groups, overrides=overrides, enabled=enabled)
        self._keep_an_admin(person, after)
        try:
            # One transaction of the local store, the new answer queued in it; before an enable
            # or disable (which queues its own write).
            if local_change:
                self._local_store.update(
                    username,
                    email=email,
                    display_name=display_name,
                    groups=groups,
                    overrides=overrides,
                    also=self._answers.in_step([username]),
                )
            if overrides is not UNSET:
                self._roles.ensure(overrides.get("roles", ()))
            if enabled is not UNSET and enabled != person.enabled:
                self._users.set_enabled(username, bool(enabled), actor=actor)
        except UserError as error:
            raise _user_error(error, "groups") from None
        # Enabling or disabling is audited by its own operation (user_enabled/user_disabled):
        # one change, one row.
        changed = [
            name
            for name, value in (
                ("email", email),
                ("displayName", display_name),
                ("roles", roles),
                ("groups", groups),
            )
            if value is not UNSET
        ]
        if changed:
            self._audit("user_updated", actor, username, fields=",".join(changed))
        return self.require(username)

    def delete(self, actor: str, username: str) -> None:
        person = self.require(username)
        self._not_self(actor, username, "delete")
        self._keep_an_admin(person, None)
        self._users.delete(username, actor=actor)  # revokes first, audits user_deleted

    def reset_password(self, actor: str, username: str, password: str, *, temporary: bool = False) -> None:
        """Set another local user's password, end all their sessions and revoke their app
        passwords and API keys (a reset is often done because the account may be in someone
        else's hands)."""
        person = self.require(username)
        if person.read_only:
            raise AdminError(409, f"{username!r} is managed by provider {person.provider!r}")
        if actor == username:
            raise AdminError(
                409,
                "change your own password with your current one "
                "(POST /users/changepwd, or your account page)",
            )
        self._set_password(username, password, actor=actor, event="password_reset", temporary=temporary)

    def change_own_password(
        self, username: str, current: str, new: str, *, keep_session: str | None = None
    ) -> None:
        """Change one's own password (the current one must be right; throttled like a login)
        with the consequences of any password change (:meth:`UserService.set_password`), except
        that ``keep_session`` (the one making the change) stays."""
        person = self.require(username)
        if person.read_only:
            raise AdminError(409, "your password is managed by your identity provider")
        try:
            with self._throttle.attempt(username) as attempt:
                if not self._local_store.verify_password(username, current):
                    attempt.failed()
                    raise AdminError(400, "the current password is not correct", "currentPassword")
                attempt.succeeded()
        except Throttled:
            raise AdminError(429, "too many attempts; try again later") from None
        self._set_password(username, new, actor=username, event="password_changed", keep_session=keep_session)

    def metadata(self, username: str) -> dict[str, Any]:
        """The user's per-user answer values (e.g. a ``maxStorageMB`` override); roles are
        not metadata (they are the user's ``roles``)."""
        person = self.require(username)
        overrides = person.local.overrides if person.local is not None else {}
        return {key: value for key, value in overrides.items() if key != "roles"}

    def username_problem(self, username: str) -> str | None:
        """Why ``username`` cannot name a new local user because of its spelling (None when it
        can), so that a form reports it with its other problems, before :meth:`create`."""
        try:
            self._users.canonical(username)
        except UserError as error:
            return str(error)
        return None

    def has_registry_account(self, username: str) -> bool:
        """Whether disabling ``username`` also deactivates an account at the Registry."""
        return self._users.has_registry_account(username)

    def storage(self, usernames: Iterable[str]) -> dict[str, RegistryStorage]:
        """The Registry's last known storage figures of these users (users without any are
        left out)."""
        if self._database is None:
            return {}
        with self._database.session() as session:
            return storage_by_user(session, usernames)

    def set_metadata(
        self, actor: str, username: str, metadata: Any, *, confirm_quota_shrink: bool = False
    ) -> dict[str, Any]:
        """Replace the user's per-user answer values; their directly granted roles stay.
        AdminError 409 when the new quota is below the storage the user uses, unless
        ``confirm_quota_shrink``."""
        person = self.require(username)
        if person.read_only:
            raise AdminError(409, f"{username!r} is managed by provider {person.provider!r}")
        if isinstance(metadata, dict) and "roles" in metadata:
            raise AdminError(400, "roles are not metadata: change them with PUT /users/{name}", "roles")
        current = _local_view(person).overrides
        kept = {"roles": current["roles"]} if "roles" in current else {}
        overrides = self._overrides(
            {**(metadata if isinstance(metadata, dict) else {}), **kept}
            if metadata is None or isinstance(metadata, dict)
            else metadata
        )
        after = self._simulate(person, overrides=overrides)
        self._keep_an_admin(person, after)
        check_quota_shrink(
            self._database,
            [(username, self.people.evaluation(person), self.people.evaluation(after))],
            confirmed=confirm_quota_shrink,
        )
        # The new answer is queued in the local store's transaction.
        self._local_store.set_overrides(username, overrides, also=self._answers.in_step([username]))
        self._audit("metadata_changed", actor, username, keys=",".join(sorted(overrides)))
        return self.metadata(username)

    # -- rules -------------------------------------------------------------------------------

    @staticmethod
    def _not_self(actor: str, username: str, what: str) -> None:
        if actor == username:
            raise AdminError(409, f"you cannot {what} yourself")

    def _keep_an_admin(self, person: Person, after: Person | None) -> None:
        """Refuse a change that would leave no enabled admin."""
        if not self.people.is_admin(self.people.evaluation(person)) or not person.enabled:
            return  # the person is not an admin now: the change cannot remove the last one
        if not self.people.admins(replaced={person.username: after}):
            raise AdminError(409, f"{person.username!r} is the last admin; make someone else an admin first")

    @staticmethod
    def _simulate(
        person: Person, *, groups: Any = UNSET, overrides: Any = UNSET, enabled: Any = UNSET
    ) -> Person:
        """The person as they would be after a change."""
        local, identity = person.local, person.identity
        if local is not None and identity is not None:
            if groups is not UNSET:
                local = replace(local, groups=tuple(groups or ()))
                identity = replace(identity, groups=tuple(groups or ()))
            if overrides is not UNSET:
                local = replace(local, overrides=overrides)
                identity = replace(identity, overrides=overrides)
            if enabled is not UNSET:
                local = replace(local, enabled=bool(enabled))
        owner = person.owner
        if enabled is not UNSET and owner is not None:
            owner = replace(owner, disabled=not enabled)
        return replace(person, local=local, identity=identity, owner=owner)

    @staticmethod
    def _overrides(data: Any) -> dict[str, Any]:
        try:
            return validate_overrides(data)
        except ValueError as error:
            field = str(error).split(":", 1)[0] if ":" in str(error) else "metadata"
            raise AdminError(400, str(error), field) from None

    def _set_password(
        self,
        username: str,
        password: str,
        *,
        actor: str,
        event: str,
        keep_session: str | None = None,
        temporary: bool = False,
    ) -> None:
        try:
            self._users.set_password(
                username, password, actor=actor, event=event, keep_session=keep_session, temporary=temporary
            )
        except PasswordRejected as rejected:
            raise AdminError(400, str(rejected), "newPassword") from None

    def _audit(self, event: str, actor: str, username: str, **detail: Any) -> None:
        self._audit_log.record(event, "ok", username=username, actor=actor, **detail)


def _local_view(person: Person) -> UserView:
    """The person's local record; callers refuse read-only (directory and IdP) users first."""
    if person.local is None:
        raise RuntimeError(f"{person.username!r} is read-only here and should have been refused first")
    return person.local


def _user_error(error: UserError, field: str) -> AdminError:
    message = str(error)
    if "already" in message or isinstance(error, NotAdmitted):
        return AdminError(409, message, field)
    if message.startswith("no group"):
        return AdminError(400, message, "groups")
    return AdminError(400, message, field)
