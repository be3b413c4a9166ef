"""Administration of the mapping policy: read it, save it whole or one rule at a time, see what
a candidate would change for every user, and explain what one user gets and why.

What an admin can rely on whatever the client (API, UI, CLI):

* the config file's policy (``mapping_source: file``) is read-only here (409);
* an invalid document is refused naming the offending key (400, field like ``rules[2].roles``);
* a save based on an older version is refused (409), so two editors never overwrite each other;
* no save may leave the gateway without an enabled user holding the admin role (409);
* a save that lowers some user's quota below the storage they use at the Registry is refused
  (409 naming them) unless confirmed (``confirm_quota_shrink``; :mod:`gateway.admin.quotashrink`);
* the role names a saved policy grants are registered, and every save is audited
  (``mapping_changed``: actor, version, rule count; never the document);
* with a ``registry:`` section, every known user whose answer the save changes gets the new
  one queued for the Registry in the saving transaction (a newly denied user is deactivated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.admin import mappingdoc
from gateway.admin.errors import AdminError
from gateway.admin.groupcheck import GroupCheck
from gateway.admin.people import People, Person
from gateway.admin.quotashrink import check_quota_shrink
from gateway.admin.registrypush import Answers
from gateway.admin.roles import AdminRoles
from gateway.admin.timefmt import iso
from gateway.config.errors import ConfigError
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import Policy, evaluate, parse_policy
from gateway.mapping.store import PolicyConflict, PolicyReadOnly, PolicyStore, PolicyVersion
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.models import Role
from providers.base import Identity

READ_ONLY_MESSAGE = (
    "the mapping policy is managed by the config file (mapping_source: file); "
    "to edit it here, set `mapping_source: database` in the config and restart "
    "(the file's mapping: section then seeds an empty database)"
)


class MappingAdmin:
    def __init__(
        self,
        *,
        database: Database,
        audit: AuditLog,
        policies: PolicyStore,
        people: People,
        roles: AdminRoles,
        usernames: UsernamePolicy,
        admin_role: str,
        answers: Answers,
        groups: GroupCheck | None = None,
    ):
        """``groups`` checks the group names a change brings in (None: no warnings)."""
        self._answers = answers
        self._groups = groups
        self._database = database
        self._audit = audit
        self._store = policies
        self.people = people
        self._roles = roles
        self._usernames = usernames
        self._admin_role = admin_role

    # -- reading -------------------------------------------------------------------------------

    def current(self) -> dict[str, Any]:
        """The policy in force: ``{source, editable, version, updatedAt, updatedBy, document}``
        (``version`` 0 and no author for a config file's policy)."""
        return self._state(self._latest())

    # -- saving --------------------------------------------------------------------------------

    def save(
        self,
        actor: str,
        document: Any,
        expected_version: int | None = None,
        *,
        change: str = "document",
        confirm_quota_shrink: bool = False,
    ) -> dict[str, Any]:
        """Replace the whole policy with ``document``; return the new :meth:`current`.

        AdminError 409 in file mode, for a stale ``expected_version`` or a policy under which no
        enabled user holds the admin role; 400 naming the field of an invalid document."""
        latest = self._editable(expected_version)
        # Without an expected version the caller asked for last-writer-wins: pass None on, so
        # that a save can also replace a stored document the gateway could not read.
        return self._commit(
            actor, document, expected_version, None, confirm_quota_shrink, latest.policy, change=change
        )

    def add_rule(
        self,
        actor: str,
        rule: Any,
        position: int | None = None,
        expected_version: int | None = None,
        *,
        confirm_quota_shrink: bool = False,
    ) -> dict[str, Any]:
        """Insert ``rule`` at ``position`` (None: last); as :meth:`save`, and 400 for a name
        another rule has or a position outside the list."""
        latest = self._editable(expected_version)
        document, index = mappingdoc.insert_rule(latest.document, rule, position)
        return self._commit_edit(
            actor, latest, document, index, confirm_quota_shrink, change="rule_added", rule=_name(rule)
        )

    def replace_rule(
        self,
        actor: str,
        name: str,
        rule: Any,
        expected_version: int | None = None,
        *,
        confirm_quota_shrink: bool = False,
    ) -> dict[str, Any]:
        """Replace the rule called ``name`` (404 if none); a rule without a name keeps it."""
        latest = self._editable(expected_version)
        document, index = mappingdoc.replace_rule(latest.document, name, rule)
        return self._commit_edit(
            actor, latest, document, index, confirm_quota_shrink, change="rule_replaced", rule=name
        )

    def delete_rule(
        self,
        actor: str,
        name: str,
        expected_version: int | None = None,
        *,
        confirm_quota_shrink: bool = False,
    ) -> dict[str, Any]:
        """Remove the rule called ``name`` (404 if none)."""
        latest = self._editable(expected_version)
        document = mappingdoc.remove_rule(latest.document, name)
        return self._commit_edit(
            actor, latest, document, None, confirm_quota_shrink, change="rule_deleted", rule=name
        )

    def move_rule(
        self,
        actor: str,
        name: str,
        position: int,
        expected_version: int | None = None,
        *,
        confirm_quota_shrink: bool = False,
    ) -> dict[str, Any]:
        """Put the rule called ``name`` at index ``position`` of the new order."""
        latest = self._editable(expected_version)
        document, index = mappingdoc.move_rule(latest.document, name, position)
        return self._commit_edit(
            actor,
            latest,
            document,
            index,
            confirm_quota_shrink,
            change="rule_moved",
            rule=name,
            position=position,
        )

    # -- previewing and explaining -------------------------------------------------------------

    def dry_run(self, document: Any, *, rule_index: int | None = None) -> dict[str, Any]:
        """What saving ``document`` would change for every known user; nothing is saved.

        ``{valid, error, field, basedOnVersion, changes: [{userName, before, after}], unchanged,
        adminsBefore, adminsAfter, wouldLockOutAdmins, newRoles, warnings}``; an invalid document
        gives ``valid: false`` with the error and its field, and no changes. ``warnings`` name the
        doubtful group names of the rule at ``rule_index`` (the one being edited), else those the
        document brings in."""
        latest = self._latest()
        result: dict[str, Any] = {
            "valid": True,
            "error": None,
            "field": None,
            "basedOnVersion": latest.version,
            "changes": [],
            "unchanged": 0,
            "adminsBefore": [],
            "adminsAfter": [],
            "wouldLockOutAdmins": False,
            "newRoles": [],
            "warnings": [],
        }
        try:
            candidate = self._parse(document)
        except AdminError as invalid:
            return {**result, "valid": False, "error": invalid.message, "field": invalid.field}
        rows, admins_before, admins_after = [], [], []
        for person in self.people.all():
            before = self._evaluate(person, latest.policy)
            after = self._evaluate(person, candidate)
            rows.append(
                (
                    person.username,
                    mappingdoc.outcome(before, person.enabled),
                    mappingdoc.outcome(after, person.enabled),
                )
            )
            if person.enabled and self.people.is_admin(before):
                admins_before.append(person.username)
            if person.enabled and self.people.is_admin(after):
                admins_after.append(person.username)
        changes, unchanged = mappingdoc.compare(rows)
        known = self._known_roles()
        return {
            **result,
            "changes": changes,
            "unchanged": unchanged,
            "adminsBefore": admins_before,
            "adminsAfter": admins_after,
            "wouldLockOutAdmins": not admins_after,
            "newRoles": [r for r in mappingdoc.granted_roles(candidate) if r not in known],
            "warnings": (
                self._group_warnings(candidate, index=rule_index)
                if rule_index is not None
                else self._group_warnings(candidate, beyond=latest.policy)
            ),
        }

    def explain_user(self, username: str) -> dict[str, Any]:
        """Why a known user gets what they get under the policy in force (404 if unknown). A
        local user's identity is current; a directory or IdP user's is the last one seen."""
        canonical = self._usernames.canonical(username) or username
        person = self.people.get(canonical)
        if person is None or person.identity is None:
            raise AdminError(404, f"no user {username!r}")
        source = "current" if person.local is not None else "last login"
        return self._explain(person.identity, source, person.enabled)

    def explain_identity(
        self,
        provider: str,
        username: str,
        groups: Iterable[str],
        attributes: Mapping[str, Any] | None = None,
        email: str | None = None,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        """Why a hypothetical identity would get what it gets under the policy in force (no
        per-user overrides). 400 for a username the Registry could not hold."""
        canonical = self._usernames.canonical(username)
        if canonical is None:
            raise AdminError(400, "userName: not a username the Registry can hold", "userName")
        identity = Identity(
            provider=provider,
            subject="hypothetical",
            username=canonical,
            email=email,
            display_name=display_name,
            groups=tuple(groups),
            attributes=dict(attributes or {}),
        )
        return self._explain(identity, "hypothetical", None)

    def rule_warnings(self, index: int | None = None) -> list[str]:
        """Warnings for the group names of the policy in force (of the rule at ``index`` only,
        when given) that nobody has and no directory knows."""
        return self._group_warnings(self._latest().policy, index=index)

    # -- internals -----------------------------------------------------------------------------

    def _latest(self) -> PolicyVersion:
        """The newest version, never a stale per-process copy (:meth:`PolicyStore.newest`)."""
        return self._store.newest()

    def _editable(self, expected_version: int | None) -> PolicyVersion:
        if not self._store.editable:
            raise AdminError(409, READ_ONLY_MESSAGE)
        latest = self._latest()
        if expected_version is not None and expected_version != latest.version:
            raise _conflict(expected_version, latest.version)
        return latest

    def _parse(self, document: Any, rule_index: int | None = None) -> Policy:
        try:
            return parse_policy(document, "mapping")
        except ConfigError as error:
            field = mappingdoc.field_of(error.key, rule_index)
            raise AdminError(400, f"{field}: {error.message}", field) from None

    def _commit_edit(
        self,
        actor: str,
        latest: PolicyVersion,
        document: Any,
        rule_index: int | None,
        confirm_quota_shrink: bool,
        **detail: Any,
    ) -> dict[str, Any]:
        """:meth:`_commit` of a rule edit: ``document`` is ``latest``'s document edited, saved
        only if ``latest`` is still the newest version."""
        return self._commit(
            actor, document, latest.version, rule_index, confirm_quota_shrink, latest.policy, **detail
        )

    def _commit(
        self,
        actor: str,
        document: Any,
        version: int | None,
        rule_index: int | None,
        confirm_quota_shrink: bool,
        previous: Policy,
        **detail: Any,
    ) -> dict[str, Any]:
        """Save ``document`` in place of ``previous`` (the policy the change was based on),
        queueing the Registry answers it changes in the same transaction."""
        policy = self._parse(document, rule_index)
        document = mappingdoc.with_megabyte_quotas(document, policy)
        if not self.people.admins(policy=policy):
            raise AdminError(
                409,
                f"no enabled user would hold the {self._admin_role!r} "
                "role under this policy, so nobody could administer the "
                "gateway; keep at least one admin",
            )
        people = [p for p in self.people.all() if p.enabled]
        check_quota_shrink(
            self._database,
            ((p.username, self.people.evaluation(p), self._evaluate(p, policy)) for p in people),
            confirmed=confirm_quota_shrink,
        )
        answers = self._answers
        before, after = answers.known(policy=previous), answers.known(policy=policy)
        try:
            saved = self._store.save(
                document,
                by=actor,
                expected_version=version,
                also=lambda session: _in_step(answers, session, before, after, policy),
            )
        except PolicyConflict as conflict:
            raise _conflict(version, conflict.current_version) from None
        except PolicyReadOnly:
            raise AdminError(409, READ_ONLY_MESSAGE) from None
        created = self._roles.ensure(mappingdoc.granted_roles(policy))
        self._audit.record(
            "mapping_changed",
            "ok",
            actor=actor,
            version=saved.version,
            rules=len(policy.rules),
            roles_created=",".join(created),
            **detail,
        )
        warnings = (
            self._group_warnings(policy, index=rule_index)
            if rule_index is not None
            else self._group_warnings(policy, beyond=previous)
        )
        return {**self._state(saved), "warnings": warnings}

    def _group_warnings(
        self, policy: Policy, *, index: int | None = None, beyond: Policy | None = None
    ) -> list[str]:
        """Warnings for the group names the change brings in that nobody has and no directory
        knows (:mod:`gateway.admin.groupcheck`); they never stop a save."""
        if self._groups is None:
            return []
        return self._groups.policy_warnings(policy, index=index, beyond=beyond)

    def _evaluate(self, person: Person, policy: Policy):
        return (
            None if person.identity is None else evaluate(policy, person.identity, person.identity.overrides)
        )

    def _explain(self, identity: Identity, source: str, enabled: bool | None) -> dict[str, Any]:
        policy = self._latest().policy
        evaluation = evaluate(policy, identity, identity.overrides)
        return mappingdoc.explanation(identity, source, evaluation, policy, enabled)

    def _known_roles(self) -> set[str]:
        with self._database.session() as session:
            return set(session.scalars(select(Role.name)))

    def _state(self, version: PolicyVersion) -> dict[str, Any]:
        return {
            "source": self._store.source,
            "editable": self._store.editable,
            "version": version.version,
            "updatedAt": iso(version.updated_at),
            "updatedBy": version.updated_by,
            "document": dict(version.document),
        }


def _conflict(expected: int | None, current: int) -> AdminError:
    since = "while saving" if expected is None else f"since version {expected}"
    return AdminError(
        409,
        f"the mapping policy changed {since} (now version {current}); reload it and apply your change again",
        "expectedVersion",
    )


def _name(rule: Any) -> Any:
    return rule.get("name") if isinstance(rule, Mapping) else None


def _in_step(
    answers: Answers, session: Session, before: dict[str, Any], after: dict[str, Any], policy: Policy
) -> None:
    """What a saved policy queues for the Registry in its own transaction: the answers it
    changed, and the organizations it now grants where they changed."""
    answers.queue_changed(session, before, after)
    answers.queue_organizations(session, policy)
