"""Role names: the catalogue of roles the gateway hands to the Registry.

A role is known when it has a row in the ``roles`` table (created here, or registered when a
mapping policy that grants it is saved), when the policy in force grants it, or when it is the
admin role. The catalogue is descriptive: what a user receives is computed from the policy and
per-user overrides, so deleting a row never changes anyone's answer. That is why deleting is
refused only to keep the catalogue honest:

* the admin role (``admin.role`` in the config) is protected and cannot be deleted;
* a role that a rule of the policy in force (or its ``default_roles``) still grants is refused
  with 409 naming the rules, unless ``force``; it then stays listed while the policy grants it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.admin.errors import AdminError
from gateway.mapping import Policy, is_role_name
from gateway.mapping.memo import EvaluationMemo
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.models import Role
from providers.local.users import LocalUsers

DEFAULT_ROLES = "default_roles"  # how granted_by names the policy's defaults


@dataclass(frozen=True)
class RoleView:
    name: str
    description: str | None
    protected: bool
    granted_by: tuple[str, ...]
    created_at: datetime | None


class AdminRoles:
    def __init__(
        self,
        *,
        database: Database,
        audit: AuditLog,
        mapping: EvaluationMemo,
        local_users: LocalUsers | None,
        admin_role: str,
    ):
        self._database = database
        self._audit = audit
        self._mapping = mapping
        self._local_users = local_users
        self._admin_role = admin_role

    @property
    def admin_role(self) -> str:
        return self._admin_role

    def list(self) -> list[RoleView]:
        """Every known role, sorted by name."""
        rows = self._rows()
        granting = _granting(self._mapping.policy)
        names = sorted(rows.keys() | granting.keys() | {self.admin_role})
        return [self._view(name, rows.get(name), granting.get(name, ())) for name in names]

    def get(self, name: str) -> RoleView:
        """The role called ``name`` (404 when it is not known)."""
        found = next((role for role in self.list() if role.name == name), None)
        if found is None:
            raise AdminError(404, f"no role {name!r}")
        return found

    def create(self, actor: str, name: str, description: str | None = None) -> RoleView:
        """Add a role row: 400 (field ``roleName``) for an invalid name, 409 when the row
        exists. A role the policy names but that has no row yet gets its row (and
        description) here."""
        if not is_role_name(name):
            raise AdminError(400, "roleName: 1-64 of letters, digits and _ . @ + -", "roleName")
        try:
            with self._database.session() as session:
                if session.get(Role, name) is not None:
                    raise AdminError(409, f"role {name!r} already exists", "roleName")
                session.add(Role(name=name, description=description or None))
        except IntegrityError:
            raise AdminError(409, f"role {name!r} already exists", "roleName") from None
        self._audit.record("role_created", "ok", actor=actor, role=name)
        return self.get(name)

    def delete(self, actor: str, name: str, force: bool = False) -> builtins.list[str]:
        """Delete the role's row; return warnings (what still grants it). 404 for an unknown
        role, 409 for the admin role, and 409 naming the rules while the policy grants it
        (unless ``force``)."""
        role = self.get(name)
        if role.protected:
            raise AdminError(
                409, f"{name!r} is the admin role (admin.role in the config); it cannot be deleted"
            )
        rules = ", ".join(role.granted_by)
        if role.granted_by and not force:
            raise AdminError(
                409,
                f"role {name!r} is still granted by: {rules}; change those "
                "rules first, or delete with force=true",
            )
        warnings = self.still_granted(name)
        with self._database.session() as session:
            row = session.get(Role, name)
            if row is not None:
                session.delete(row)
        self._audit.record(
            "role_deleted", "ok", actor=actor, role=name, forced=force, granted_by=rules or None
        )
        return warnings

    def still_granted(self, name: str) -> builtins.list[str]:
        """What grants the role ``name`` outside its catalogue row (the rules, per-user
        roles): the warnings of deleting it, also after the deletion."""
        warnings = []
        rules = ", ".join(_granting(self._mapping.policy).get(name, ()))
        if rules:
            warnings.append(
                f"still granted by: {rules}; it stays listed, and users keep it, until those rules change"
            )
        direct = self._granted_directly(name)
        if direct:
            warnings.append(f"granted directly (per-user roles) to: {', '.join(direct)}")
        return warnings

    def ensure(self, names: Iterable[str]) -> builtins.list[str]:
        """Add a row for each of ``names`` that has none; return the names this call added.
        Safe while another process adds the same name."""
        created = []
        for name in dict.fromkeys(names):
            if not is_role_name(name):
                continue
            try:
                with self._database.session() as session:
                    if session.get(Role, name) is not None:
                        continue
                    session.add(Role(name=name, description=None))
            except IntegrityError:
                continue  # added by another process in between
            created.append(name)
        return created

    # -- helpers -----------------------------------------------------------------------------

    def _rows(self) -> dict[str, Role]:
        with self._database.session() as session:
            return {row.name: row for row in session.scalars(select(Role))}

    def _view(self, name: str, row: Role | None, granted_by: tuple[str, ...]) -> RoleView:
        return RoleView(
            name,
            row.description if row else None,
            name == self.admin_role,
            granted_by,
            row.created_at if row else None,
        )

    def _granted_directly(self, name: str) -> builtins.list[str]:
        users = self._local_users
        if users is None:
            return []
        return [view.username for view in users.list() if name in (view.overrides.get("roles") or ())]


def _granting(policy: Policy) -> dict[str, tuple[str, ...]]:
    """Role name -> the rules of ``policy`` that grant it (``default_roles`` first)."""
    found: dict[str, list[str]] = {}
    for role in policy.default_roles:
        found.setdefault(role, []).append(DEFAULT_ROLES)
    for rule in policy.rules:
        for role in rule.roles:
            if rule.name not in found.setdefault(role, []):
                found[role].append(rule.name)
    return {role: tuple(rules) for role, rules in found.items()}
