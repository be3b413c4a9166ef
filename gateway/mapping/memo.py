"""Remembering evaluations: ``evaluate`` is pure, so the result for identical inputs under the
same policy can be reused exactly. When the policy is replaced (an admin saved a new version)
the memo starts over. Identities whose data cannot be hashed are simply evaluated each time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.base import Identity

from .engine import Evaluation, evaluate
from .policy import Policy


class EvaluationMemo:
    """``evaluate(policy, identity, identity.overrides)``, remembered per distinct identity.

    ``policy`` is a fixed Policy or a function returning the one in force (compared by identity:
    a new Policy object empties the memo)."""

    def __init__(self, policy: Policy | Callable[[], Policy], max_entries: int = 4096):
        self._source = policy if callable(policy) else (lambda: policy)
        self._max_entries = max_entries
        # One attribute, swapped whole: a result computed under an old policy can only ever
        # land in that policy's dictionaries. The second maps id(identity) to (identity,
        # evaluation): Identity is immutable, so the same object (a cached session's, on the
        # token path) skips building the value key.
        self._memo: tuple[Policy | None, dict[Any, Evaluation], dict[int, tuple[Any, Evaluation]]] = (
            None,
            {},
            {},
        )

    @property
    def policy(self) -> Policy:
        """The policy in force now."""
        return self._current()[0]

    def _current(self) -> tuple[Policy, dict[Any, Evaluation], dict[int, tuple[Any, Evaluation]]]:
        current = self._source()
        policy, entries, by_object = self._memo
        if policy is not current:
            entries, by_object = {}, {}
            self._memo = (current, entries, by_object)
        return current, entries, by_object

    def evaluate(self, identity: Identity) -> Evaluation:
        policy, entries, by_object = self._current()
        seen = by_object.get(id(identity))
        if seen is not None and seen[0] is identity:
            return seen[1]
        found = self._evaluate_by_value(policy, entries, identity)
        if len(by_object) >= self._max_entries:
            by_object.clear()
        by_object[id(identity)] = (identity, found)  # holding it keeps its id from being reused
        return found

    def _evaluate_by_value(
        self, policy: Policy, entries: dict[Any, Evaluation], identity: Identity
    ) -> Evaluation:
        try:
            key = (
                identity.provider,
                identity.subject,
                _freeze(identity.username),
                _freeze(identity.email),
                _freeze(identity.display_name),
                _freeze(identity.groups),
                _freeze(identity.attributes),
                _freeze(identity.overrides),
            )
            found = entries.get(key)
        except TypeError:  # an unhashable value somewhere: no memo for this identity
            return evaluate(policy, identity, identity.overrides)
        if found is None:
            found = evaluate(policy, identity, identity.overrides)
            if len(entries) >= self._max_entries:
                entries.clear()
            entries[key] = found
        return found


def _freeze(value: Any) -> Any:
    """A hashable stand-in for JSON-like data. Everything is tagged with its type: ``True``,
    ``1`` and ``1.0`` are equal in Python but the engine treats them differently."""
    if isinstance(value, float):
        return ("float", repr(value))  # -0.0 == 0.0, but the engine compares str() forms
    if isinstance(value, (str, int, bool, type(None))):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(item) for item in value))
    if hasattr(value, "items"):
        return ("map", tuple((key, _freeze(item)) for key, item in value.items()))
    raise TypeError("unhashable")
