"""``gateway import-registry``: a DroneDB Registry's own users become local users, keeping their
password hashes.

One job: read the Registry's identity database (:mod:`gateway.registry.source`), plan what each
of its users becomes at the gateway (:mod:`gateway.registry.users` says what a Registry user
becomes, and which ones are not imported for what they are), and apply that plan (unless it
is a dry run).

Who else is not imported
------------------------
* A username owned by another provider (a directory or IdP user who logged in): skipped, as
  one username has one owner (:mod:`gateway.login.accounts`).
* A Registry user whose canonical name another Registry user already took: skipped.

Re-running (idempotence) and what is never overwritten
------------------------------------------------------
An existing local user is **updated** from the Registry only while it is exactly as an import
left it: its stored hash is still an ASP.NET Identity hash (only an import writes one; a login
upgrades it to argon2id, a password change replaces it) and nothing changed it since (the
importer writes ``updated_at`` and ``password_changed_at`` with the same instant; any later
change through the gateway moves ``updated_at``). Otherwise it is **kept** as it is: a user
created at the gateway, or one who has since logged in, changed password or been edited by an
admin. No extra provenance column is needed. Equal data is **unchanged** (no write). Group
memberships are never touched, and users deleted from the Registry are not deleted here.

Each user is written in one transaction (the local user and the ownership of its username
together), so a failure never leaves half a user. A user that changed (or whose name was
taken) between planning and writing is reported as kept or skipped and the import goes on, as
is a user whose values the gateway's database refuses (a DataError: skipped, with the reason);
any other database error stops it, and running it again continues where it stopped (the users
written so far are unchanged the second time). Each created or updated user is audited
(``user_created`` / ``user_updated`` with ``source=registry-import``). A dry run reads both
databases and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from gateway.admin.roles import AdminRoles
from gateway.login.accounts import AccountRegistry
from gateway.login.credchanges import record_change
from gateway.login.usernames import UsernamePolicy
from gateway.observe.audit import AuditLog
from gateway.registry.importreport import ImportReport, Outcome
from gateway.registry.source import RegistryUser, driver_reason, read_registry_users, resolve_source
from gateway.registry.users import UNREADABLE_ROW, Target, interpret, registry_name, shown
from gateway.storage.db import Database
from gateway.storage.models import Account
from providers.local.aspnet import parse_aspnet_identity_hash
from providers.local.models import LocalUser
from providers.local.provider import local_subject
from providers.local.users import UserError
from providers.sql import utcnow

AUDIT_SOURCE = "registry-import"
_CHUNK = 500
# Declarative models type ``__table__`` as any FromClause; these are plain tables.
_USERS = cast(Table, LocalUser.__table__)
_OWNERS = cast(Table, Account.__table__)


@dataclass(frozen=True)
class _Current:
    """The gateway's present state for one username."""

    user_id: int | None
    email: str | None = None
    enabled: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    password_hash: str = ""
    updated_at: datetime | None = None
    password_changed_at: datetime | None = None
    owner_provider: str | None = None


class RegistryImport:
    """Plans and applies an import into the gateway's database (its local provider
    ``local_provider_id``, None when there is none)."""

    def __init__(
        self,
        *,
        database: Database,
        accounts: AccountRegistry,
        audit: AuditLog,
        roles: AdminRoles,
        usernames: UsernamePolicy,
        admin_username: str,
        local_provider_id: str | None,
    ):
        self._database = database
        self._accounts = accounts
        self._audit = audit
        self._roles = roles
        self._usernames = usernames
        self._admin_username = admin_username
        self._now = utcnow()
        self._provider_id = local_provider_id
        if self._provider_id is None:
            raise UserError("no local provider is configured: add one (type: local) to import Registry users")

    def run(self, source: str, *, dry_run: bool, password: str | None = None) -> ImportReport:
        """Read ``source``, plan, and (unless ``dry_run``) apply. ``password`` is the database
        password when a MySQL URL names a user but no password. Raises
        :class:`gateway.registry.source.SourceError` when the source cannot be read."""
        resolved = resolve_source(source, password)
        outcomes = self.plan(read_registry_users(resolved))
        if not dry_run:
            outcomes = [self.apply(outcome) for outcome in outcomes]
        return ImportReport(resolved.label, dry_run, outcomes)

    # -- planning ------------------------------------------------------------------------

    def plan(self, users: Iterable[RegistryUser]) -> list[Outcome]:
        """What each Registry user would become, in the order given; writes nothing."""
        interpreted = [self._interpret(user) for user in users]
        names = [o.target.username for o in interpreted if o.target is not None]
        current = self._current(names)
        seen: dict[str, str] = {}
        planned = []
        for outcome in interpreted:
            if outcome.target is not None:
                name = outcome.target.username
                if name in seen:
                    outcome = _skip(outcome, f"same username as Registry user {seen[name]!r}")
                else:
                    seen[name] = outcome.registry_username
                    outcome = self._decide(outcome, current.get(name, _Current(None)))
            planned.append(outcome)
        return planned

    def _interpret(self, user: RegistryUser) -> Outcome:
        name = registry_name(user)
        try:
            result = interpret(user, self._usernames, self._admin_username, self._now)
        except Exception:
            return Outcome(name, "skipped", reason=UNREADABLE_ROW)
        if result.target is None:
            return Outcome(name, "skipped", reason=result.skip_reason, notes=result.notes)
        return Outcome(name, "create", result.target, notes=result.notes)

    def _decide(self, outcome: Outcome, current: _Current) -> Outcome:
        target = outcome.planned_target
        if current.owner_provider is not None and current.owner_provider != self._provider_id:
            return _skip(outcome, f"the username belongs to provider {current.owner_provider!r}")
        if current.user_id is None:
            if current.owner_provider is not None:
                return _skip(
                    outcome,
                    "the username is still recorded as taken; delete it with `gateway users delete` first",
                )
            return replace(outcome, action="create")
        changes = _changes(current, target)
        if not changes:
            return replace(outcome, action="unchanged")
        if parse_aspnet_identity_hash(current.password_hash) is None:
            return replace(
                outcome,
                action="kept",
                reason=(
                    "a gateway user whose password is the gateway's own (created here, or logged in "
                    "or changed password since the import): not overwritten"
                ),
            )
        if current.updated_at != current.password_changed_at:
            return replace(
                outcome, action="kept", reason="changed in the gateway since the import: not overwritten"
            )
        return replace(outcome, action="update", changes=changes)

    def _current(self, names: list[str]) -> dict[str, _Current]:
        users, owners = _USERS, _OWNERS
        found: dict[str, _Current] = {}
        with self._database.engine.connect() as connection:
            for start in range(0, len(names), _CHUNK):
                chunk = names[start : start + _CHUNK]
                for row in connection.execute(
                    select(owners.c.username, owners.c.provider).where(owners.c.username.in_(chunk))
                ):
                    found[row.username] = _Current(None, owner_provider=row.provider)
                for row in connection.execute(select(users).where(users.c.username.in_(chunk))):
                    owner = found.get(row.username, _Current(None))
                    found[row.username] = _Current(
                        row.id,
                        row.email,
                        row.enabled,
                        dict(row.overrides or {}),
                        row.password_hash,
                        row.updated_at,
                        row.password_changed_at,
                        owner.owner_provider,
                    )
        return found

    # -- applying ------------------------------------------------------------------------

    def apply(self, outcome: Outcome) -> Outcome:
        """Carry out one planned create or update (other outcomes are returned as they are).
        A create or update that lost a race with another change is reported as skipped or
        kept instead."""
        if outcome.action == "create":
            outcome = self._create(outcome)
        elif outcome.action == "update":
            outcome = self._update(outcome)
        else:
            return outcome
        if outcome.action in ("create", "update"):
            self._after_write(outcome)
        return outcome

    def _create(self, outcome: Outcome) -> Outcome:
        target, now = outcome.planned_target, utcnow()
        try:
            with self._database.session() as session:
                user = LocalUser(
                    username=target.username,
                    email=target.email,
                    password_hash=target.password_hash,
                    enabled=target.enabled,
                    overrides=dict(target.overrides),
                    created_at=now,
                    updated_at=now,
                    password_changed_at=now,
                )
                session.add(user)
                session.flush()
                session.add(
                    Account(
                        username=target.username,
                        provider=self._provider_id,
                        subject=local_subject(user.id),
                        disabled=not target.enabled,
                        last_groups=[],
                        registry_account_at=now,  # read from the Registry: it has the account
                    )
                )
        except IntegrityError:
            return _skip(outcome, "the username was taken while importing; run the import again")
        except DataError as error:
            return _skip(outcome, _refused(error, target))
        return outcome

    def _update(self, outcome: Outcome) -> Outcome:
        target, now = outcome.planned_target, utcnow()
        current = self._current([target.username]).get(target.username, _Current(None))
        raced = replace(
            outcome,
            action="kept",
            changes=(),
            reason="changed in the gateway while importing: not overwritten",
        )
        if current.user_id is None or parse_aspnet_identity_hash(current.password_hash) is None:
            return raced
        try:
            with self._database.session() as session:
                # Only the row as planned: a login, a password change or an edit since wins.
                # Session.execute is typed as returning Result; a DML statement gives the
                # CursorResult that carries rowcount.
                result = cast(
                    "CursorResult[Any]",
                    session.execute(
                        update(_USERS)
                        .where(
                            _USERS.c.id == current.user_id,
                            _USERS.c.password_hash == current.password_hash,
                            _USERS.c.updated_at == _USERS.c.password_changed_at,
                        )
                        .values(
                            email=target.email,
                            enabled=target.enabled,
                            overrides=dict(target.overrides),
                            password_hash=target.password_hash,
                            updated_at=now,
                            password_changed_at=now,
                        )
                    ),
                )
                if result.rowcount != 1:
                    raise _Raced
                session.execute(
                    update(_OWNERS)
                    .where(_OWNERS.c.username == target.username, _OWNERS.c.provider == self._provider_id)
                    .values(
                        disabled=not target.enabled,
                        registry_account_at=func.coalesce(_OWNERS.c.registry_account_at, now),
                    )
                )
                record_change(session, target.username)
        except _Raced:
            return raced
        except DataError as error:
            return _skip(outcome, _refused(error, target))
        return outcome

    def _after_write(self, outcome: Outcome) -> None:
        """Revocations, the role catalogue and the audit trail, once the user is written."""
        target = outcome.planned_target
        if not target.enabled:
            self._accounts.set_disabled(target.username, True)  # ends any sessions
        self._roles.ensure(target.overrides.get("roles", ()))
        if outcome.action == "create":
            self._audit.record(
                "user_created",
                "ok",
                username=target.username,
                provider=self._provider_id,
                source=AUDIT_SOURCE,
            )
        else:
            self._audit.record(
                "user_updated",
                "ok",
                username=target.username,
                provider=self._provider_id,
                source=AUDIT_SOURCE,
                fields=",".join(outcome.changes),
            )


class _Raced(Exception):
    """The user changed between planning and writing; the transaction rolls back."""


def _refused(error: DataError, target: Target) -> str:
    """Why the gateway's database refused a user's values, in one short line: the driver's
    first line, without the password hash should the driver quote it."""
    reason = driver_reason(error)
    if target.password_hash and target.password_hash in reason:
        reason = reason.replace(target.password_hash, "***")
    return f"the gateway's database refused a value: {shown(reason, 160)}"


def _skip(outcome: Outcome, reason: str) -> Outcome:
    return replace(outcome, action="skipped", reason=reason, changes=())


def _changes(current: _Current, target: Target) -> tuple[str, ...]:
    """The fields where the gateway differs from the target, by name."""
    changed = []
    if current.email != target.email:
        changed.append("email")
    if current.enabled != target.enabled:
        changed.append("enabled")
    if current.overrides.get("roles") != target.overrides.get("roles"):
        changed.append("roles")
    if current.overrides.get("maxStorageMB") != target.overrides.get("maxStorageMB"):
        changed.append("maxStorageMB")
    others = ("roles", "maxStorageMB")
    if {k: v for k, v in current.overrides.items() if k not in others} != {
        k: v for k, v in target.overrides.items() if k not in others
    }:
        changed.append("metadata")
    if current.password_hash != target.password_hash:
        changed.append("password")
    return tuple(changed)
