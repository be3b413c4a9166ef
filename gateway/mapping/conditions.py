"""Whether a rule's condition (``match:`` or ``require:``) holds for one identity, and why.

A condition holds when all of its checks hold; a check given a list holds when any element
does. ``case_insensitive`` casefolds group, group_glob, username, username_glob and attribute
comparisons (never provider). An attribute check compares ``str()`` forms, and a list-valued
attribute matches when any element does. A new condition kind is parsed in
:mod:`gateway.mapping.policy` and checked here in :func:`run_check`.

Pure Python: no I/O, no clock, no logging; never raises, whatever the identity holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from providers.base import Identity

from .policy import Check, Condition


class Facts:
    """The identity's values in comparable form; casefolded forms are computed on first use."""

    def __init__(self, identity: Identity):
        self.provider = identity.provider if isinstance(identity.provider, str) else None
        self.username = identity.username if isinstance(identity.username, str) else None
        self.groups = tuple(g for g in identity.groups if isinstance(g, str))
        self.attributes = identity.attributes

    @cached_property
    def folded_groups(self) -> tuple[str, ...]:
        return tuple(g.casefold() for g in self.groups)

    @cached_property
    def folded_username(self) -> str | None:
        return None if self.username is None else self.username.casefold()

    def attribute_texts(self, name: str) -> tuple[str, ...] | None:
        """The ``str()`` forms of an attribute's value (each element if it is a collection)."""
        if name not in self.attributes:
            return None
        value = self.attributes[name]
        if isinstance(value, (set, frozenset)):
            items: Iterable[Any] = sorted(value, key=safe_str)  # sets have no stable order
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            items = (value,)
        return tuple(safe_str(v) for v in items)


def safe_str(value: Any) -> str:
    # Attribute values are arbitrary provider objects; a broken __str__ must not fail a login.
    try:
        text = str(value)
    except Exception:
        return ""
    return text if isinstance(text, str) else ""


def safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def match(condition: Condition, facts: Facts) -> tuple[bool, str]:
    """Whether every check of ``condition`` holds, and why (the first failing check if not)."""
    if condition.everyone:
        return True, "matches everyone (all: true)"
    reasons = []
    for check in condition.checks:
        ok, why = run_check(check, facts)
        if not ok:
            return False, why
        reasons.append(why)
    return True, "; ".join(reasons)


def run_check(check: Check, facts: Facts) -> tuple[bool, str]:
    """Whether any identity value satisfies any value of ``check``, and why."""
    kind, ci = check.kind, check.case_insensitive
    suffix = " (case-insensitive)" if ci else ""
    globbing = kind.endswith("_glob")
    values: tuple[str | None, ...]
    forms: tuple[str | None, ...]
    if kind == "provider":
        label, values, forms = "provider", (facts.provider,), (facts.provider,)
    elif kind.startswith("username"):
        label, values = "username", (facts.username,)
        forms = (facts.folded_username,) if ci else values
    elif kind.startswith("group"):
        label, values = "group", facts.groups
        forms = facts.folded_groups if ci else values
    else:
        label = f"attribute {check.attribute}"
        texts = facts.attribute_texts(check.attribute or "")
        if texts is None:
            return False, f"attribute {check.attribute!r} missing"
        values = texts
        forms = tuple(t.casefold() for t in texts) if ci else texts

    for value, form in zip(values, forms, strict=True):
        if form is None:
            continue
        if not globbing:
            if form in check.exact:
                return True, f"{label} {value!r} matched{suffix}"
            continue
        for text, pattern in zip(check.values, check.patterns, strict=True):
            if pattern.match(form):
                return True, f"{label} {value!r} matched glob {text!r}{suffix}"

    wanted = f"{'glob ' if globbing else ''}{list(check.values)}{suffix}"
    if kind == "provider" or label == "username":
        return False, f"{label} {values[0]!r} not matched by {wanted}"
    if kind == "attribute":
        return False, f"attribute {check.attribute!r}: no value matched {wanted}"
    return False, f"no group matched {wanted}"
