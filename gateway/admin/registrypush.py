"""What the admin operations tell the Registry, and the answers they tell it.

Admin operations queue Registry writes through a :class:`RegistryChanges` (the gateway's
:class:`gateway.registry.push.RegistryPush`; this package may not import ``registry``, so it
names only the methods it calls) inside the transaction of their change. :class:`Answers`
is the one place that says what a user's Registry answer is outside a login, and which
answers a change altered: the shared hook for anything that changes the mapping of known users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gateway.admin.people import People, Person
from gateway.login.answer import build_answer
from gateway.mapping import Evaluation, Policy
from gateway.storage.db import Database
from gateway.storage.registrystate import RegistryOrgTarget
from providers.local.models import LocalUser

Answer = dict[str, Any]


class RegistryChanges(Protocol):
    """Queues Registry writes in the caller's transaction (see gateway.registry.push)."""

    @property
    def enabled(self) -> bool: ...

    def answer(self, session: Session, username: str, answer: Answer) -> None: ...

    def deactivated(self, session: Session, username: str) -> None: ...

    def deleted(self, session: Session, username: str) -> None: ...


class NoRegistry:
    """No ``registry:`` section: nothing is queued."""

    enabled = False

    def answer(self, session: Session, username: str, answer: Answer) -> None:
        pass

    def deactivated(self, session: Session, username: str) -> None:
        pass

    def deleted(self, session: Session, username: str) -> None:
        pass


# Queues, in the caller's transaction, the organizations an evaluation grants a user when they
# differ from those last queued (gateway.registry.orgqueue.queue_organizations, which this
# package may not import: the composition root hands it over).
OrganizationsHook = Callable[[Session, str, Evaluation], object]


class Answers:
    """Registry answers of the users the Registry knows, computed as a login would; with
    ``organizations``, their organizations follow the same changes."""

    def __init__(
        self,
        people: People,
        push: RegistryChanges,
        database: Database,
        organizations: OrganizationsHook | None = None,
    ):
        self._people = people
        self._push = push
        self._database = database
        self._organizations = organizations

    @property
    def enabled(self) -> bool:
        return self._push.enabled

    @property
    def push(self) -> RegistryChanges:
        return self._push

    def of(self, username: str, policy: Policy | None = None) -> Answer | None:
        """What a login of ``username`` would give the Registry now (under ``policy``, the
        one in force by default), from the local store for local users and from the groups
        seen at their last login for the others; None when the mapping denies them or nothing
        is known of them."""
        person = self._people.get(username)
        return None if person is None else self._answer(person, policy)

    def known(
        self, policy: Policy | None = None, only: Iterable[str] | None = None
    ) -> dict[str, Answer | None]:
        """The answer (None: denied) of every enabled user the Registry has an account for
        (who has logged in, or was imported from it), or of those of them named in ``only``.
        Empty when no Registry is configured, so callers pay nothing then."""
        if not self.enabled:
            return {}
        if only is None:
            people = self._people.all()
        else:
            people = [p for p in map(self._people.get, sorted(set(only))) if p is not None]
        return {
            person.username: self._answer(person, policy)
            for person in people
            if _seen(person) and person.enabled
        }

    def in_step(self, usernames: Iterable[str]) -> Callable[[Session], None] | None:
        """For a change of the local users ``usernames`` that the local store (in providers/,
        which commits by itself) is about to make: a callback for that store to run last in the
        change's own transaction. It reads the users as that transaction leaves them (their row
        locked, so concurrent changes of one user queue in commit order) and queues there the
        new answer of each whose answer changed, so that the change and its Registry writes
        commit together or not at all. None without a Registry."""
        if not self.enabled:
            return None
        before = self.known(only=usernames)
        people = {name: person for name in before if (person := self._people.get(name)) is not None}

        def queue(session: Session) -> None:
            after: dict[str, Answer | None] = {}
            current_people: list[Person] = []
            for name, person in people.items():
                current = _as_in(session, person)
                if current is not None and current.enabled:
                    after[name] = self._answer(current, None)
                    current_people.append(current)
            self.queue_changed(session, before, after)
            self._queue_organizations(session, current_people, None)

        return queue

    def queue_organizations(self, session: Session, policy: Policy | None = None) -> None:
        """Queue, in ``session``'s transaction, the organizations ``policy`` (the one in force
        by default) grants each enabled user the Registry knows, where they differ from those
        last queued: a saved rule moves people's organizations as it moves their answers."""
        if self.enabled and self._organizations is not None:
            people = [p for p in self._people.all() if _seen(p) and p.enabled]
            self._queue_organizations(session, people, policy)

    def _queue_organizations(self, session: Session, people: Iterable[Person], policy: Policy | None) -> None:
        if self._organizations is None:
            return
        people = list(people)
        if len(people) > 1:  # what was last queued, read at once (the per-user reads find it loaded)
            session.scalars(select(RegistryOrgTarget)).all()
        for person in people:
            evaluation = self._people.evaluation(person, policy)
            if evaluation is not None:
                self._organizations(session, person.username, evaluation)

    def seen(self, username: str) -> bool:
        """Whether the Registry has an account for ``username`` (they logged in, or were
        imported from it)."""
        person = self._people.get(username)
        return person is not None and _seen(person)

    def queue_changed(
        self, session: Session, before: dict[str, Answer | None], after: dict[str, Answer | None]
    ) -> list[str]:
        """Queue, in ``session``'s transaction, the new answer of every user whose answer
        differs between ``before`` and ``after`` (a newly denied user is deactivated);
        returns their names."""
        changed = sorted(name for name in after if name in before and before[name] != after[name])
        for name in changed:
            answer = after[name]
            if answer is None:
                self._push.deactivated(session, name)
            else:
                self._push.answer(session, name, answer)
        return changed

    def _answer(self, person: Person, policy: Policy | None) -> Answer | None:
        evaluation = self._people.evaluation(person, policy)
        if evaluation is None or evaluation.denied:
            return None
        return build_answer(person.username, evaluation)


def _as_in(session: Session, person: Person) -> Person | None:
    """``person`` (a local user) with the groups, overrides and state ``session``'s transaction
    gives them (their row locked for the rest of it); None when the transaction deleted them."""
    if person.local is None or person.identity is None:
        return person
    session.flush()  # the change's own writes first: the read below replaces what is loaded
    row = session.scalars(
        select(LocalUser)
        .options(selectinload(LocalUser.groups))
        .where(LocalUser.username == person.username)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        return None
    groups = tuple(group.name for group in row.groups)
    overrides = dict(row.overrides or {})
    return replace(
        person,
        local=replace(person.local, groups=groups, overrides=overrides, enabled=row.enabled),
        identity=replace(person.identity, groups=groups, overrides=overrides),
    )


def _seen(person: Person) -> bool:
    return person.owner is not None and person.owner.known_to_registry
