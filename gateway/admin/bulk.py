"""Bulk actions on users (the users list's checkboxes, ``POST /admin/api/users/bulk``):
disable, enable, delete or add to a group several users at once.

A bulk action is nothing but the one-user operations, one after another, each with its own
checks, consequences and single audit row (:class:`gateway.admin.users.AdminUsers`,
:class:`gateway.admin.groups.AdminGroups`). It is **not atomic**: every user's change is its
own transaction with its own Registry write, and one refusal (the last admin, a directory user
who cannot join a local group) must not undo or block the others. So it answers a result per
user, and the caller (a page, a script) shows which were done and which refused, and why.
Nobody acts on themselves in bulk: the caller's own name is refused, whatever the action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.admin.errors import AdminError
from gateway.admin.groups import AdminGroups
from gateway.admin.people import Person
from gateway.admin.users import AdminUsers

MAX_USERS = 200
ACTIONS: dict[str, str] = {
    "disable": "Disable",
    "enable": "Enable",
    "delete": "Delete",
    "add_to_group": "Add to group",
}
CONSEQUENCES: dict[str, str] = {
    "disable": "They are signed out everywhere at once: their gateway sessions and Registry tokens "
    "end, their app passwords and API keys are revoked, and their Registry account is "
    "deactivated. They cannot sign in until enabled again.",
    "enable": "They can sign in again and the Registry gets their answer back. App passwords and "
    "API keys revoked when they were disabled stay revoked.",
    "delete": "Local users are deleted; directory and IdP users lose their username here (they are "
    "a new account at their next sign-in). Sessions, tokens, app passwords and API keys are "
    "revoked and the Registry account is deleted or deactivated. This cannot be undone.",
    "add_to_group": "They join the group; the rules for that group apply to their next answer "
    "(roles, quota), and the Registry is told.",
}
_VERBS = {"disable": "disable", "enable": "enable", "delete": "delete", "add_to_group": "add to a group"}


@dataclass(frozen=True)
class BulkPlan:
    """What a bulk action would do: ``affected`` (acted on), ``refused`` (username, why),
    and the consequences in words."""

    action: str
    group: str | None
    affected: list[Person]
    refused: list[tuple[str, str]]

    @property
    def label(self) -> str:
        return ACTIONS[self.action] + (f" {self.group!r}" if self.group else "")

    @property
    def consequences(self) -> str:
        return CONSEQUENCES[self.action]


@dataclass(frozen=True)
class BulkResult:
    """One user's outcome: ``status`` 200 when done, else the one-user operation's refusal."""

    username: str
    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status == 200

    def record(self) -> dict[str, object]:
        return {"userName": self.username, "ok": self.ok, "status": self.status, "message": self.message}


class BulkUsers:
    def __init__(self, users: AdminUsers, groups: AdminGroups):
        self._users = users
        self._groups = groups

    def plan(self, actor: str, action: str, usernames: Iterable[str], group: str | None = None) -> BulkPlan:
        """Check the request's shape (AdminError 400/404: unknown action, no or too many users,
        a missing or unknown group) and sort the users into those it would act on and those
        refused up front (yourself, unknown)."""
        names = self._names(action, usernames)
        if action == "add_to_group":
            if not group:
                raise AdminError(400, "choose the group to add them to", "group")
            self._groups.get(group)  # 404 for an unknown group
        else:
            group = None
        affected: list[Person] = []
        refused: list[tuple[str, str]] = []
        for name in names:
            person = self._users.people.get(name)
            if name == actor:
                refused.append((name, f"you cannot {_VERBS[action]} yourself"))
            elif person is None:
                refused.append((name, "no such user"))
            else:
                affected.append(person)
        return BulkPlan(action, group, affected, refused)

    def apply(
        self, actor: str, action: str, usernames: Iterable[str], group: str | None = None
    ) -> list[BulkResult]:
        """Do ``action`` to each user through the one-user operation; a result per user, in
        the order given (duplicates once)."""
        plan = self.plan(actor, action, usernames, group)
        results = {
            name: BulkResult(name, 409 if "yourself" in why else 404, why) for name, why in plan.refused
        }
        for person in plan.affected:
            results[person.username] = self._one(actor, plan, person.username)
        return [results[name] for name in self._names(action, usernames)]

    def _one(self, actor: str, plan: BulkPlan, username: str) -> BulkResult:
        try:
            if plan.action == "disable":
                self._users.update(actor, username, enabled=False)
                done = "disabled"
            elif plan.action == "enable":
                self._users.update(actor, username, enabled=True)
                done = "enabled"
            elif plan.action == "delete":
                self._users.delete(actor, username)
                done = "deleted"
            else:
                assert plan.group is not None
                self._groups.add_member(actor, plan.group, username)
                done = f"added to {plan.group}"
        except AdminError as refused:
            return BulkResult(username, refused.status, refused.message)
        return BulkResult(username, 200, done)

    @staticmethod
    def _names(action: str, usernames: Iterable[str]) -> list[str]:
        if action not in ACTIONS:
            raise AdminError(400, f"action must be one of {', '.join(ACTIONS)}", "action")
        names = list(dict.fromkeys(name for name in usernames if isinstance(name, str) and name))
        if not names:
            raise AdminError(400, "select at least one user", "userNames")
        if len(names) > MAX_USERS:
            raise AdminError(400, f"at most {MAX_USERS} users at once", "userNames")
        if any(len(name) > 127 or "\x00" in name for name in names):
            raise AdminError(400, "a username is at most 127 characters, without NUL", "userNames")
        return names
