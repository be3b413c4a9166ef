"""Local groups ("teams"): the groups the local provider hands to the mapping rules.

* names follow the local provider's rule (1-64 of letters, digits and ``_ . @ + -``);
* only local users can be members (directory and IdP users get their groups from there);
* deleting a group or removing a member must leave at least one enabled admin, whatever rule
  turns that group into admins;
* every change is audited with the acting admin;
* with a ``registry:`` section, a membership change (adding, removing, deleting the group)
  queues the new answer of every known member whose answer it changed.

All of it needs a local provider: without one every operation is refused with 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gateway.admin.errors import AdminError
from gateway.admin.mappingdoc import outcome
from gateway.admin.people import People, Person
from gateway.admin.registrypush import Answers
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from providers.local.models import LocalGroup
from providers.local.users import GROUP_NAME, LocalUsers, UserError

NO_LOCAL_PROVIDER = (
    "groups here are the local provider's, and this gateway has no local "
    "provider configured; directory and IdP groups are managed there"
)


@dataclass(frozen=True)
class GroupView:
    name: str
    description: str | None
    members: tuple[str, ...]
    created_at: datetime


class AdminGroups:
    def __init__(
        self,
        *,
        database: Database,
        audit: AuditLog,
        local_users: LocalUsers | None,
        people: People,
        answers: Answers,
    ):
        self._answers = answers
        self._database = database
        self._audit_log = audit
        self._local_users = local_users
        self.people = people

    def list(self) -> list[GroupView]:
        """Every local group with its members, sorted by name."""
        self._local()
        with self._database.session() as session:
            groups = session.scalars(
                select(LocalGroup).options(selectinload(LocalGroup.members)).order_by(LocalGroup.name)
            )
            return [_view(group) for group in groups]

    def get(self, name: str) -> GroupView:
        """The group called ``name`` (404 when there is none)."""
        self._local()
        if not GROUP_NAME.fullmatch(name):
            raise AdminError(404, f"no group {name!r}")
        with self._database.session() as session:
            group = session.scalars(
                select(LocalGroup).options(selectinload(LocalGroup.members)).where(LocalGroup.name == name)
            ).one_or_none()
            if group is None:
                raise AdminError(404, f"no group {name!r}")
            return _view(group)

    def create(self, actor: str, name: str, description: str | None = None) -> GroupView:
        """Create an empty group: 400 (field ``name``) for an invalid name, 409 if it exists."""
        users = self._local()
        if not GROUP_NAME.fullmatch(name):
            raise AdminError(
                400,
                "name: 1-64 characters: letters, digits and _ . @ + - (starting with a letter or digit)",
                "name",
            )
        try:
            users.create_group(name, description or None)
        except UserError as error:
            raise AdminError(409, str(error), "name") from None
        self._audit("group_created", actor, name)
        return self.get(name)

    def delete(self, actor: str, name: str) -> None:
        """Delete the group (its members stay, without it), unless that leaves no admin."""
        users = self._local()
        group = self.get(name)
        self._keep_an_admin(
            {member: self._without(member, name) for member in group.members}, f"deleting group {name!r}"
        )
        # The members' new answers are queued in the local store's transaction.
        _gone_is_404(users.delete_group, name, also=self._answers.in_step(group.members))
        self._audit("group_deleted", actor, name, members=len(group.members))

    def add_member(self, actor: str, name: str, username: str) -> GroupView:
        """Put a local user in the group (nothing changes when they already are)."""
        users = self._local()
        group = self.get(name)
        self._local_person(username)
        if username not in group.members:
            _gone_is_404(users.add_member, name, username, also=self._answers.in_step([username]))
            self._audit("group_member_added", actor, name, username=username)
        return self.get(name)

    def remove_member(self, actor: str, name: str, username: str) -> GroupView:
        """Take a user out of the group (404 when they are not in it), unless that leaves no
        admin."""
        users = self._local()
        group = self.get(name)
        if username not in group.members:
            raise AdminError(404, f"{username!r} is not a member of {name!r}")
        self._keep_an_admin({username: self._without(username, name)}, f"removing {username!r} from {name!r}")
        _gone_is_404(users.remove_member, name, username, also=self._answers.in_step([username]))
        self._audit("group_member_removed", actor, name, username=username)
        return self.get(name)

    def removal_impact(self, name: str, username: str) -> dict[str, Any]:
        """What taking ``username`` out of ``name`` would change, before it is done:
        ``before`` and ``after`` as :func:`gateway.admin.mappingdoc.outcome` gives them (roles,
        quota, allowed), and ``refusal``, the reason :meth:`remove_member` would refuse (None
        when it would not). 404 when the user is not a member."""
        group = self.get(name)
        if username not in group.members:
            raise AdminError(404, f"{username!r} is not a member of {name!r}")
        person = self.people.get(username)
        after = self._without(username, name)
        enabled = person.enabled if person is not None else False
        refusal = None
        try:
            self._keep_an_admin({username: after}, f"removing {username!r} from {name!r}")
        except AdminError as refused:
            refusal = refused.message
        return {
            "before": outcome(self.people.evaluation(person) if person else None, enabled),
            "after": outcome(self.people.evaluation(after) if after else None, enabled),
            "refusal": refusal,
        }

    # -- rules -------------------------------------------------------------------------------

    def _local(self) -> LocalUsers:
        if self._local_users is None:
            raise AdminError(409, NO_LOCAL_PROVIDER)
        return self._local_users

    def _local_person(self, username: str) -> Person:
        person = self.people.get(username) if "\x00" not in username else None
        if person is None:
            raise AdminError(404, f"no user {username!r}")
        if person.local is None:
            raise AdminError(
                409,
                f"{username!r} is managed by provider {person.provider!r}; "
                "only local users can be in local groups",
            )
        return person

    def _without(self, username: str, group: str) -> Person | None:
        """The member as they would be outside ``group``."""
        person = self.people.get(username)
        if person is None or person.local is None or person.identity is None:
            return person
        groups = tuple(g for g in person.local.groups if g != group)
        return replace(
            person,
            local=replace(person.local, groups=groups),
            identity=replace(person.identity, groups=groups),
        )

    def _keep_an_admin(self, replaced: Mapping[str, Person | None], change: str) -> None:
        """Refuse a change after which no enabled user holds the admin role (when one does
        now: a gateway that already has none is not made worse)."""
        if self.people.admins() and not self.people.admins(replaced=replaced):
            raise AdminError(409, f"{change} would leave no enabled admin; make someone else an admin first")

    def _audit(self, event: str, actor: str, group: str, *, username: str | None = None, **detail) -> None:
        self._audit_log.record(event, "ok", username=username, actor=actor, group=group, **detail)


def _gone_is_404(change, *args, **kwargs) -> None:
    """Run a local-store change; the group or user vanishing meanwhile is a 404."""
    try:
        change(*args, **kwargs)
    except UserError as error:
        raise AdminError(404, str(error)) from None


def _view(group: LocalGroup) -> GroupView:
    return GroupView(
        group.name,
        group.description,
        tuple(sorted(member.username for member in group.members)),
        group.created_at,
    )
