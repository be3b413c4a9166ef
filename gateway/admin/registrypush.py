"""What the admin operations tell the Registry, and the answers they tell it.

Admin operations queue Registry writes through a :class:`RegistryChanges` (the gateway's
:class:`gateway.registry.push.RegistryPush`; this package may not import ``registry``, so it
names only the methods it calls) inside the transaction of their change. :class:`Answers`
is the one place that says what a user's Registry answer is outside a login, and which
answers a change altered: the shared hook for anything that changes the mapping of known users.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gateway.admin.people import People, Person
from gateway.login.answer import build_answer
from gateway.mapping import Policy
from gateway.storage.db import Database

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


class Answers:
    """Registry answers of the users the Registry knows, computed as a login would."""

    def __init__(self, people: People, push: RegistryChanges, database: Database):
        self._people = people
        self._push = push
        self._database = database

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
        """The answer (None: denied) of every enabled user who has logged in (the Registry
        knows no one else), or of those of them named in ``only``. Empty when no Registry is
        configured, so callers pay nothing then."""
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

    @contextmanager
    def pushed_after(self, usernames: Iterable[str]) -> Iterator[None]:
        """Around a change of ``usernames`` committed by a store that offers no hook into its
        transaction (the local user store in providers/ commits on its own): their answers
        before the block, and right after it the ones that changed queued in a transaction of
        their own. Nothing is queued when the block raises."""
        names = list(usernames)
        before = self.known(only=names)
        yield
        self.push_changed(before, self.known(only=names))

    def seen(self, username: str) -> bool:
        """Whether ``username`` has logged in (so the Registry has an account for them)."""
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

    def push_changed(self, before: dict[str, Answer | None], after: dict[str, Answer | None]) -> list[str]:
        """:meth:`queue_changed` in a transaction of its own, for a change committed by a
        store that offers no hook into its transaction."""
        if not self.enabled:
            return []
        with self._database.session() as session:
            return self.queue_changed(session, before, after)

    def _answer(self, person: Person, policy: Policy | None) -> Answer | None:
        evaluation = self._people.evaluation(person, policy)
        if evaluation is None or evaluation.denied:
            return None
        return build_answer(person.username, evaluation)


def _seen(person: Person) -> bool:
    return person.owner is not None and person.owner.last_login_at is not None
