"""Everyone the gateway knows, whatever their provider, and what the Registry gets for each.

Local users come from the local database (their identity is always current). Directory and IdP
users are known from their first login: their identity is the last one seen (the browser-login
snapshot, else the groups and details recorded at the last login or sync). Nothing here calls a directory, so
listing thousands of users or checking "is anyone else still an admin" is a few queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.login.accounts import AccountRegistry, Owner, with_details
from gateway.mapping import Evaluation, EvaluationMemo, Policy, evaluate
from providers.base import Identity
from providers.local.users import LocalUsers, UserView


@dataclass(frozen=True)
class Person:
    """One user. ``local`` is set for local users (editable); ``owner`` once the username has an
    owner. ``identity`` is what the mapping sees: current for local users, last seen for others."""

    username: str
    provider: str | None
    local: UserView | None
    owner: Owner | None
    identity: Identity | None

    @property
    def enabled(self) -> bool:
        if self.local is not None and not self.local.enabled:
            return False
        return self.owner is None or not self.owner.disabled

    @property
    def read_only(self) -> bool:
        """Directory and IdP users are managed in their directory, not here."""
        return self.local is None

    @property
    def created_at(self) -> datetime | None:
        if self.local is not None:
            return self.local.created_at
        return self.owner.created_at if self.owner is not None else None

    @property
    def last_login_at(self) -> datetime | None:
        return self.owner.last_login_at if self.owner is not None else None


class People:
    def __init__(
        self,
        *,
        local_users: LocalUsers | None,
        accounts: AccountRegistry,
        mapping: EvaluationMemo,
        admin_role: str,
        local_provider_id: str | None,
    ):
        self._local_users = local_users
        self._accounts = accounts
        self._mapping = mapping
        self._admin_role = admin_role
        self._local_id = local_provider_id

    def all(self) -> list[Person]:
        """Every local user and every owner of a username, sorted by username."""
        local = (
            {view.username: view for view in self._local_users.list()}
            if self._local_users is not None
            else {}
        )
        owners = {owner.username: owner for owner in self._accounts.list()}
        return [
            self._person(name, local.get(name), owners.get(name))
            for name in sorted(local.keys() | owners.keys())
        ]

    def get(self, username: str) -> Person | None:
        """The user, or None. A name no user can have (too long, a NUL, which PostgreSQL
        refuses) is None without a query."""
        if not isinstance(username, str) or not username or len(username) > 127 or "\x00" in username:
            return None
        local = self._local_users.get(username) if self._local_users is not None else None
        owner = self._accounts.owner_of(username)
        if local is None and owner is None:
            return None
        return self._person(username, local, owner)

    def evaluation(self, person: Person, policy: Policy | None = None) -> Evaluation | None:
        """What the mapping gives the person under ``policy`` (the one in force by default);
        None when nothing is known of their identity yet."""
        if person.identity is None:
            return None
        if policy is None:
            return self._mapping.evaluate(person.identity)
        return evaluate(policy, person.identity, person.identity.overrides)

    def is_admin(self, evaluation: Evaluation | None) -> bool:
        role = self._admin_role
        return evaluation is not None and not evaluation.denied and role in evaluation.roles

    def admins(
        self, policy: Policy | None = None, replaced: Mapping[str, Person | None] | None = None
    ) -> set[str]:
        """The enabled users who hold the admin role, under ``policy`` and with some people
        ``replaced`` by what they would become (None: removed)."""
        replaced = replaced or {}
        people: Iterable[Person | None] = (replaced.get(person.username, person) for person in self.all())
        extra = (p for name, p in replaced.items() if p is not None and self.get(name) is None)
        return {
            person.username
            for person in (*people, *extra)
            if person is not None and person.enabled and self.is_admin(self.evaluation(person, policy))
        }

    def _person(self, username: str, local: UserView | None, owner: Owner | None) -> Person:
        provider = owner.provider if owner is not None else (self._local_id if local else None)
        return Person(username, provider, local, owner, self._identity(username, local, owner))

    def _identity(self, username: str, local: UserView | None, owner: Owner | None) -> Identity | None:
        if local is not None:
            if self._local_id is None:
                raise RuntimeError("local users exist only with a local provider, yet its id was not given")
            subject = owner.subject if owner is not None and owner.provider == self._local_id else username
            return Identity(
                provider=self._local_id,
                subject=subject,
                username=username,
                email=local.email,
                display_name=local.display_name,
                groups=local.groups,
                overrides=local.overrides,
            )
        if owner is None:
            return None
        snapshot = self._accounts.snapshot(username)
        if snapshot is not None:
            return snapshot[0]
        bare = Identity(provider=owner.provider, subject=owner.subject, username=username)
        return with_details(bare, owner.last_groups or (), owner.last_details)
