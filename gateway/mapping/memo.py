"""Remembering evaluations: ``evaluate`` is pure and a process's policy never changes, so the
result for identical inputs can be reused exactly. Identities whose data cannot be hashed are
simply evaluated each time."""

from __future__ import annotations

from typing import Any

from .engine import Evaluation, evaluate
from .policy import Policy


class EvaluationMemo:
    """``evaluate(policy, identity, identity.overrides)``, remembered per distinct identity."""

    def __init__(self, policy: Policy, max_entries: int = 4096):
        self.policy = policy
        self._max_entries = max_entries
        self._entries: dict[Any, Evaluation] = {}

    def evaluate(self, identity) -> Evaluation:
        try:
            key = (identity.provider, identity.subject, _freeze(identity.username),
                   _freeze(identity.email), _freeze(identity.display_name),
                   _freeze(identity.groups), _freeze(identity.attributes),
                   _freeze(identity.overrides))
            found = self._entries.get(key)
        except TypeError:  # an unhashable value somewhere: no memo for this identity
            return evaluate(self.policy, identity, identity.overrides)
        if found is None:
            found = evaluate(self.policy, identity, identity.overrides)
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = found
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
