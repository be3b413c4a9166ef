"""The directory sync: every user the gateway has seen from a directory, checked against it.

A login is the only moment the gateway otherwise learns about a directory user; a leaver who
never logs in again would keep their sessions, app passwords and Registry account. A run reads
each directory that can be listed (the :class:`~providers.base.DirectoryListing` capability:
paged searches over all users and groups, not a search per user) and, for every account the
gateway holds for that directory:

* gone from a complete listing, or ``disabled`` there (AD userAccountControl, ppolicy lock,
  ...) → disabled at the gateway through the user operations (sessions ended, app passwords
  revoked, the Registry told), audited with actor ``sync:<provider>`` and the reason;
* present with other groups, or other details the mapping reads (e-mail, display name,
  attributes, a quota attribute's override) → those stored as a login would store them, and,
  when the answer a login gives now differs from the one the stored groups and details gave,
  that answer queued for the Registry in the same transaction (a user the mapping now refuses
  is deactivated there);
* present with details never stored (accounts from before they were kept) → the details
  stored, nothing queued;
* present and unchanged, enabled → the organizations the rules now grant queued for the
  Registry when they differ from those last queued (a rule's ``organizations:`` edited since);
* enabled in the directory again while disabled at the gateway → re-enabled only when the
  sync itself disabled them (the last enable/disable audited for the user was the sync's): a
  user an administrator disabled stays disabled.

A read that fails part-way changes nothing for that directory: only a complete listing says
who left. Entries the gateway cannot read as a login would (no acceptable username, no id) are
left as they are and counted as problems. A dry run decides the same and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select, update

from gateway.admin.useroperations import UserService
from gateway.login.accounts import details_of, with_details
from gateway.login.answer import build_answer
from gateway.login.credchanges import record_change
from gateway.login.sessionidentity import follow_in_open_sessions
from gateway.mapping import EvaluationMemo
from gateway.observe.audit import AuditLog
from gateway.registry.orgqueue import granted_organizations, queue_organizations
from gateway.registry.push import RegistryPush
from gateway.registry.syncmetrics import observe_run
from gateway.registry.syncresult import DISABLED, REENABLED, REMAPPED, DirectoryOutcome, SyncResult
from gateway.registry.syncruns import SyncRuns
from gateway.storage.db import Database
from gateway.storage.models import Account, AuditEvent
from gateway.storage.registrystate import RegistryOrgTarget
from providers.base import DirectoryListing, Identity, ProviderUnavailable

log = logging.getLogger(__name__)

SYNC_EVENT = "directory_sync_change"
# A run under way records how many accounts it has checked every this many (for the admin pages).
PROGRESS_EVERY = 1000


def sync_actor(provider_id: str) -> str:
    """The actor recorded for what the sync does on behalf of a directory."""
    return f"sync:{provider_id}"


@dataclass(frozen=True)
class _Known:
    """An account of the gateway owned by a directory identity."""

    username: str
    subject: str
    disabled: bool
    groups: tuple[str, ...]
    details: dict[str, Any] | None  # what the last login or sync stored (details_of)


@dataclass(frozen=True)
class _Change:
    kind: str
    known: _Known
    reason: str = ""
    identity: Identity | None = None  # the directory's identity, when it is to be stored


class DirectorySync:
    """Runs the sync described in the module doc over ``directories`` (a list, or a callable
    giving the directories in force at each run: an admin may add one without a restart)."""

    def __init__(
        self,
        *,
        database: Database,
        directories: Sequence[DirectoryListing] | Callable[[], Sequence[DirectoryListing]],
        operations: UserService,
        mapping: EvaluationMemo,
        push: RegistryPush,
        audit: AuditLog,
        runs: SyncRuns,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._db = database
        fixed = None if callable(directories) else list(directories)
        self._source = directories if callable(directories) else (lambda: fixed or [])
        self._operations = operations
        self._mapping = mapping
        self._push = push
        self._audit = audit
        self._runs = runs
        self._clock = clock

    @property
    def _directories(self) -> list[DirectoryListing]:
        return list(self._source())

    @property
    def directories(self) -> list[str]:
        """The ids of the directories a run reads."""
        return [directory.id for directory in self._directories]

    def run(self, *, dry_run: bool = False, trigger: str = "manual") -> SyncResult:
        """One run over every directory, recorded in the run history (the caller holds the
        lease for a run that is not dry). Never raises for a directory that cannot be read."""
        started = self._clock()
        result = SyncResult(dry_run=dry_run)
        result.run_id = self._runs.start(trigger, dry_run)
        try:
            for directory in self._directories:
                done = result.total("checked")
                run_id = result.run_id

                def progress(outcome: DirectoryOutcome, done: int = done, run_id: int = run_id) -> None:
                    self._runs.progress(run_id, outcome.provider, done + outcome.checked)

                result.directories.append(self._sync_directory(directory, dry_run, progress))
        finally:
            result.duration_seconds = self._clock() - started
            self._runs.finish(result.run_id, result.state, result.duration_seconds, result.to_dict())
        observe_run(result)
        log.info(
            "directory sync %s%s: %s",
            result.state,
            " (dry run)" if dry_run else "",
            {key: result.total(key) for key in ("checked", DISABLED, REENABLED, REMAPPED, "problems")},
        )
        return result

    # ---- one directory --------------------------------------------------------------------

    def _sync_directory(
        self,
        directory: DirectoryListing,
        dry_run: bool,
        progress: Callable[[DirectoryOutcome], None] = lambda _outcome: None,
    ) -> DirectoryOutcome:
        outcome = DirectoryOutcome(directory.id)
        organizations: dict[str, dict[str, int]] = {}
        baseline: dict[str, dict[str, Any]] = {}
        try:
            changes = self._plan(directory, outcome, organizations, progress, baseline)
        except (ProviderUnavailable, ValueError) as error:
            reason = error.reason if isinstance(error, ProviderUnavailable) else str(error)
            outcome.failed = reason
            outcome.checked = outcome.unchanged = 0
            log.warning("directory sync of %s changed nothing: %s", directory.id, reason)
            return outcome
        for change in changes:
            outcome.changed(change.kind, change.known.username)
            if not dry_run:
                self._apply(directory.id, change)
        if not dry_run:
            self._store_baseline(baseline)
            self._queue_organizations(organizations)
        return outcome

    def _plan(
        self,
        directory: DirectoryListing,
        outcome: DirectoryOutcome,
        organizations: dict[str, dict[str, int]],
        progress: Callable[[DirectoryOutcome], None],
        baseline: dict[str, dict[str, Any]],
    ) -> list[_Change]:
        """The changes one complete listing calls for (nothing is changed here). Raises
        ProviderUnavailable when the listing did not complete. ``organizations`` receives the
        organizations the rules now grant to each enabled user whose groups did not change,
        where they differ from those last queued for them (a rule's ``organizations:`` edited
        since: every run puts users where their rules say, not only those whose groups moved).
        ``baseline`` receives the details of unchanged users who have none stored yet."""
        known = self._known(directory.id)
        targets = self._organization_targets() if self._push.enabled else None
        by_name = {account.username: account for account in known.values()}
        seen: set[str] = set()
        changes: list[_Change] = []
        progress(outcome)
        report_at = PROGRESS_EVERY
        for entry in directory.directory_reader().users():
            if outcome.checked >= report_at:
                progress(outcome)
                report_at = outcome.checked + PROGRESS_EVERY
            identity = entry.identity
            if identity is None:
                account = by_name.get(entry.username or "")
                if account is not None:  # left as it is: neither updated nor a leaver
                    seen.add(account.subject)
                    outcome.checked += 1
                    outcome.problem(f"{account.username}: {entry.problem}")
                continue
            account = known.get(identity.subject)
            if account is None:
                continue  # never seen at the gateway (or under another id): nothing to keep in step
            seen.add(account.subject)
            outcome.checked += 1
            change = self._decide(directory.id, account, entry.disabled, identity)
            if change is None:
                outcome.unchanged += 1
                if account.details is None:
                    baseline[account.username] = details_of(identity)
                if targets is not None and not account.disabled:
                    wanted = granted_organizations(self._mapping.evaluate(identity))
                    last = targets.get(account.username)
                    if (last is None and wanted) or (last is not None and last != wanted):
                        organizations[account.username] = wanted
            else:
                changes.append(change)
        for subject, account in known.items():
            if subject not in seen:
                outcome.checked += 1
                if account.disabled:
                    outcome.unchanged += 1
                else:
                    changes.append(_Change(DISABLED, account, "no longer in the directory"))
        return changes

    def _decide(
        self, provider_id: str, account: _Known, disabled: str | None, identity: Identity
    ) -> _Change | None:
        if disabled is not None:
            if not account.disabled:
                return _Change(DISABLED, account, f"disabled in the directory: {disabled}")
            return None
        if account.disabled and self._disabled_by_sync(account.username, provider_id):
            return _Change(REENABLED, account, "enabled in the directory again", identity)
        reason = _what_changed(account, identity)
        return _Change(REMAPPED, account, reason, identity) if reason else None

    def _known(self, provider_id: str) -> dict[str, _Known]:
        """The gateway's accounts owned by ``provider_id``, by subject."""
        columns = (
            Account.username,
            Account.subject,
            Account.disabled,
            Account.last_groups,
            Account.last_details,
        )
        with self._db.engine.connect() as connection:
            rows = connection.execute(select(*columns).where(Account.provider == provider_id))
            return {
                row.subject: _Known(
                    row.username, row.subject, row.disabled, tuple(row.last_groups or ()), row.last_details
                )
                for row in rows
            }

    def _store_baseline(self, baseline: dict[str, dict[str, Any]]) -> None:
        """Store the details of users who had none (one statement): nothing is queued for them,
        as nothing says what their last answer was."""
        if not baseline:
            return
        statement = (
            update(Account)
            .where(Account.username == bindparam("name"))
            .values(last_details=bindparam("details"))
        )
        with self._db.engine.begin() as connection:
            connection.execute(
                statement, [{"name": name, "details": details} for name, details in baseline.items()]
            )

    def _organization_targets(self) -> dict[str, dict[str, Any]]:
        """The organizations last queued for each user (one read for the whole run)."""
        with self._db.engine.connect() as connection:
            rows = connection.execute(select(RegistryOrgTarget.username, RegistryOrgTarget.organizations))
            return {row.username: dict(row.organizations or {}) for row in rows}

    def _queue_organizations(self, organizations: dict[str, dict[str, int]]) -> None:
        """Queue each user's organizations (see :meth:`_plan`), one transaction per user."""
        for username, wanted in organizations.items():
            with self._db.session() as session:
                queue_organizations(session, self._push, username, wanted)

    def _disabled_by_sync(self, username: str, provider_id: str) -> bool:
        """Whether the last enable or disable audited for ``username`` was this sync's."""
        with self._db.engine.connect() as connection:
            row = connection.execute(
                select(AuditEvent.event, AuditEvent.detail)
                .where(
                    AuditEvent.username == username,
                    AuditEvent.event.in_(("user_disabled", "user_enabled")),
                )
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).first()
        return (
            row is not None
            and row.event == "user_disabled"
            and (row.detail or {}).get("actor") == sync_actor(provider_id)
        )

    # ---- applying a change ----------------------------------------------------------------

    def _apply(self, provider_id: str, change: _Change) -> None:
        actor = sync_actor(provider_id)
        username = change.known.username
        if change.kind == DISABLED:
            self._operations.set_enabled(username, False, actor=actor)
        elif change.kind == REENABLED:
            self._operations.set_enabled(username, True, actor=actor)
        if change.identity is not None:
            # A re-enabled user's Registry account was deactivated: it gets its answer back.
            # A user disabled at the gateway keeps their groups current but no answer is sent.
            reenabled = change.kind == REENABLED
            self._store_identity(
                change.known, change.identity, push=reenabled or not change.known.disabled, always=reenabled
            )
        self._audit.record(
            SYNC_EVENT,
            "ok",
            username=username,
            provider=provider_id,
            actor=actor,
            change=change.kind,
            reason=change.reason,
        )

    def _store_identity(self, account: _Known, identity: Identity, *, push: bool, always: bool) -> None:
        """Store the directory's groups and details as a login would (also in the user's open
        sessions, for the token path) and (with ``push``) queue the answer a login would now
        give when it differs from the one the stored groups and details gave (or ``always``),
        in the same transaction."""
        groups = tuple(identity.groups)
        details = details_of(identity)
        with self._db.session() as session:
            if groups != account.groups or details != account.details:
                session.execute(
                    update(Account)
                    .where(Account.username == account.username)
                    .values(last_groups=list(groups), last_details=details)
                )
                record_change(session, account.username)  # cached logins re-read the directory
                follow_in_open_sessions(
                    session, account.username, account.subject, lambda kept: _following(kept, identity)
                )
            if not push:
                return
            # The organizations the rules grant follow the groups too (only when they changed).
            queue_organizations(
                session,
                self._push,
                account.username,
                granted_organizations(self._mapping.evaluate(identity)),
            )
            after = self._answer(identity)
            if not always and after == self._answer(with_details(identity, account.groups, account.details)):
                return
            if after is None:  # the mapping now refuses this user
                self._push.deactivated(session, account.username)
            else:
                self._push.answer(session, account.username, after)

    def _answer(self, identity: Identity) -> dict | None:
        """The answer a login with ``identity`` gets; None when refused."""
        evaluation = self._mapping.evaluate(identity)
        return None if evaluation.denied else build_answer(identity.username, evaluation)


def _what_changed(account: _Known, identity: Identity) -> str:
    """Why ``account`` is to be stored again from the directory's ``identity`` ("" when it
    is not): details never stored are a baseline, not a change."""
    regrouped = tuple(identity.groups) != account.groups
    redetailed = account.details is not None and details_of(identity) != account.details
    if regrouped and redetailed:
        return "groups and directory attributes changed"
    if regrouped:
        return "groups changed"
    return "directory attributes changed" if redetailed else ""


def _following(kept: Identity, found: Identity) -> Identity:
    """An open session's identity ``kept`` with the groups and details the sync ``found``."""
    return replace(
        kept,
        groups=found.groups,
        email=found.email,
        display_name=found.display_name,
        attributes=found.attributes,
        overrides=found.overrides,
    )
