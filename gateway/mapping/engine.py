"""Evaluate the mapping policy for one identity: who may log in, with which roles, quota and metadata.

:func:`evaluate` is pure and deterministic: the same policy, identity and overrides always give
an equal :class:`Evaluation`, and it never raises, whatever the identity holds (groups and
attributes come from directories and IdPs the gateway does not control) and whatever the
overrides hold (they come from a database an admin edits).

Combination rules (the documented behaviour of the product):

1. **Require rules.** Every ``require`` rule must match the identity; otherwise the result is
   denied (``denied=True``) and ``deny_reason`` names the first failing require rule. All rules
   are still evaluated, so an explanation shows every one of them.
2. **Roles.** ``default_roles``, then the roles of each matching ``match`` rule in rule order,
   then the override ``roles``; duplicates dropped, keeping the first occurrence.
3. **Quota.** A valid override ``maxStorageMB`` wins outright. Otherwise, if matching rules
   grant ``maxStorageMB``, the largest wins and ``"unlimited"`` beats any number. Otherwise
   ``default_maxStorageMB``. ``max_storage_mb`` is None for unlimited; the answer then omits
   the key, which the Registry reads as unlimited.
4. **Metadata.** The exposed identity fields and attributes (only str/int/bool values), then
   each matching rule's ``metadata`` in rule order (later rules overwrite earlier keys), then
   the override extra keys. ``username``, ``roles`` and ``maxStorageMB`` never appear in it.
5. **Organizations.** The union of the matching rules' ``organizations``; a slug granted by
   several rules gets the highest permission level. They are not part of the answer: the
   gateway pushes them to the Registry's admin API (:mod:`gateway.mapping.organizations`).
6. **Overrides.** Invalid override values are ignored and noted in the trace, never raised;
   :func:`validate_overrides` is the strict check to run when the overrides are written.

A condition holds when all of its keys hold; a key given a list holds when any element does.
``case_insensitive`` casefolds group, group_glob, username, username_glob and attribute
comparisons (never provider). An attribute condition compares ``str()`` forms, and a
list-valued attribute matches when any element does.

Pure Python: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from providers.base import Identity

from .conditions import Facts, match, safe_repr
from .organizations import OrganizationGrant, describe_organizations, merge_organizations
from .policy import (
    _ROLE_MSG,
    RESERVED_KEYS,
    MetadataValue,
    Policy,
    is_metadata_value,
    is_role_name,
)
from .quota import MAX_QUOTA, QUOTA_HELP, UNLIMITED, Quota, QuotaError, is_quota, parse_quota

TraceKind = Literal["default", "expose", "grant", "require", "override", "quota"]


@dataclass(frozen=True)
class RuleTrace:
    """One step of an evaluation, for explanations.

    ``kind`` is ``grant`` or ``require`` for policy rules (``name`` is the rule name), and
    ``default``, ``expose``, ``override`` (``name`` is the override key) or ``quota`` for the
    other steps. ``matched`` says whether the step applied; ``why`` says why in a short
    phrase such as ``group 'drone-pilots' matched``. ``grants`` describes what a grant rule
    gives when it matches (empty for the other kinds).
    """

    name: str
    kind: TraceKind
    matched: bool
    why: str
    grants: str = ""


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :func:`evaluate`. ``max_storage_mb`` is None for unlimited;
    ``organizations`` maps slug → the Registry's permission level (0-3)."""

    denied: bool
    deny_reason: str | None
    roles: tuple[str, ...]
    max_storage_mb: int | None
    metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: MappingProxyType({}))
    trace: tuple[RuleTrace, ...] = ()
    organizations: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # A matching rule said ``require_mfa: true``: the gateway's pages ask for a second factor.
    require_mfa: bool = False


def evaluate(policy: Policy, identity: Identity, overrides: Mapping[str, Any] | None = None) -> Evaluation:
    """Apply ``policy`` and the per-user ``overrides`` to ``identity``; see the module docstring.

    Never raises. Bad override values are skipped and recorded in the trace.
    """
    facts = Facts(identity)
    trace: list[RuleTrace] = []
    roles: dict[str, None] = dict.fromkeys(policy.default_roles)  # an ordered set
    trace.append(
        RuleTrace(
            "defaults",
            "default",
            True,
            "always applied",
            _describe(policy.default_roles, policy.default_max_storage_mb, {}),
        )
    )

    metadata: dict[str, MetadataValue] = {}
    trace.append(_expose(policy.expose, identity, metadata))

    deny_reason: str | None = None
    granted_quotas: list[tuple[str, Quota]] = []
    granted_organizations: list[OrganizationGrant] = []
    require_mfa = False
    for rule in policy.rules:
        matched, why = match(rule.condition, facts)
        if rule.kind == "require":
            trace.append(RuleTrace(rule.name, "require", matched, why))
            if not matched and deny_reason is None:
                deny_reason = f"require rule {rule.name!r} not satisfied: {why}"
            continue
        trace.append(
            RuleTrace(
                rule.name,
                "grant",
                matched,
                why,
                _describe(
                    rule.roles, rule.max_storage_mb, rule.metadata, rule.organizations, rule.require_mfa
                ),
            )
        )
        if matched:
            require_mfa = require_mfa or rule.require_mfa
            roles.update(dict.fromkeys(rule.roles))
            metadata.update(rule.metadata)
            if rule.max_storage_mb is not None:
                granted_quotas.append((rule.name, rule.max_storage_mb))
            granted_organizations.extend(rule.organizations)

    override_quota = _apply_overrides(overrides, roles, metadata, trace)
    quota, quota_why = _decide_quota(policy.default_max_storage_mb, granted_quotas, override_quota)
    trace.append(RuleTrace("maxStorageMB", "quota", True, quota_why))

    return Evaluation(
        denied=deny_reason is not None,
        deny_reason=deny_reason,
        roles=tuple(roles),
        max_storage_mb=None if quota == UNLIMITED else quota,
        metadata=MappingProxyType(metadata),
        trace=tuple(trace),
        organizations=MappingProxyType(merge_organizations(granted_organizations)),
        require_mfa=require_mfa,
    )


def validate_overrides(data: Any) -> dict[str, Any]:
    """Check per-user overrides before they are stored; return a plain-dict copy.

    Accepts None (no overrides) or a mapping with optional ``maxStorageMB`` (any spelling
    :func:`~gateway.mapping.quota.parse_quota` accepts, stored as its integer MB or
    ``"unlimited"``), optional ``roles`` (a list of role names) and any other non-empty
    string keys with str/int/bool values except ``username``. Raises ValueError naming the
    first bad key.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError("overrides must be a mapping")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and key == "roles":
            good, bad = _split_roles(value)
            if bad:
                raise ValueError(f"roles: {bad[0]}")
            out[key] = list(good)
            continue
        if key == "maxStorageMB":
            try:
                out[key] = parse_quota(value)
            except QuotaError as not_a_quota:
                raise ValueError(f"{key}: {not_a_quota}") from None
            continue
        problem = _override_problem(key, value)
        if problem:
            raise ValueError(f"{key}: {problem}")
        out[key] = value
    return out


# --- exposing, overrides, quota --------------------------------------------------------------


def _expose(names: tuple[str, ...], identity: Identity, metadata: dict[str, MetadataValue]) -> RuleTrace:
    copied, skipped = [], []
    for name in names:
        if name == "email":
            value: Any = identity.email
        elif name == "displayName":
            value = identity.display_name
        elif name in identity.attributes:
            value = identity.attributes[name]
        else:
            skipped.append(f"{name} (missing)")
            continue
        if is_metadata_value(value):
            metadata[name] = value
            copied.append(name)
        else:
            skipped.append(f"{name} ({'missing' if value is None else type(value).__name__})")
    parts = []
    if copied:
        parts.append("copied " + ", ".join(copied))
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    return RuleTrace("expose", "expose", bool(copied), "; ".join(parts) or "nothing to expose")


def _override_problem(key: Any, value: Any) -> str | None:
    """Why an override key/value (other than ``roles``) is invalid, or None if it is fine."""
    if not isinstance(key, str) or not key:
        return "override keys must be non-empty strings"
    if key == "maxStorageMB":
        return None if is_quota(value) else QUOTA_HELP
    if key in RESERVED_KEYS:
        return f"{key} is set by the gateway and cannot be overridden"
    if not is_metadata_value(value):
        return "must be a string, integer or boolean"
    if type(value) is int and not -MAX_QUOTA - 1 <= value <= MAX_QUOTA:
        return "must fit in 64 bits"
    return None


def _split_roles(value: Any) -> tuple[tuple[str, ...], list[str]]:
    """The valid role names of an override ``roles`` value, and what was wrong with the rest."""
    if not isinstance(value, (list, tuple)):
        return (), ["must be a list of role names"]
    good, bad = [], []
    for i, role in enumerate(value):
        if is_role_name(role):
            good.append(role)
        else:
            bad.append(f"[{i}] {safe_repr(role)} {_ROLE_MSG}")
    return tuple(good), bad


def _apply_overrides(
    overrides: Any, roles: dict[str, None], metadata: dict[str, MetadataValue], trace: list[RuleTrace]
) -> Quota | None:
    """Merge valid overrides into ``roles``/``metadata``, trace each key, return the quota override."""
    if overrides is None:
        trace.append(RuleTrace("overrides", "override", False, "no per-user overrides"))
        return None
    try:
        # Overrides come from an admin-edited database: a broken mapping is ignored, not raised.
        items = list(overrides.items()) if isinstance(overrides, Mapping) else None
    except Exception:
        items = None
    if items is None:
        trace.append(RuleTrace("overrides", "override", False, "ignored: overrides are not a mapping"))
        return None

    quota: Quota | None = None
    for key, value in items:
        name = key if isinstance(key, str) else f"<{type(key).__name__} key>"
        if name == "roles":
            good, bad = _split_roles(value)
            roles.update(dict.fromkeys(good))
            why = f"added {list(good)}" if good else "nothing added"
            if bad:
                why += "; ignored " + ", ".join(bad)
            trace.append(RuleTrace(name, "override", bool(good), why))
            continue
        problem = _override_problem(key, value)
        if problem:
            trace.append(RuleTrace(name, "override", False, f"ignored: {problem}"))
        elif key == "maxStorageMB":
            quota = value
            trace.append(RuleTrace(name, "override", True, f"set to {value!r}"))
        else:
            metadata[key] = value
            trace.append(RuleTrace(name, "override", True, f"set to {value!r}"))
    return quota


def _decide_quota(
    default: Quota, granted: list[tuple[str, Quota]], override: Quota | None
) -> tuple[Quota, str]:
    if override is not None:
        return override, f"{_quota_text(override)} from the per-user override (it wins)"
    if granted:
        for rule_name, quota in granted:
            if quota == UNLIMITED:
                return UNLIMITED, f"unlimited from rule {rule_name!r} (unlimited beats any number)"
        rule_name, quota = max(granted, key=lambda item: item[1])  # first of equal maxima
        return quota, f"{quota} from rule {rule_name!r} (largest granted by matching rules)"
    return default, f"{_quota_text(default)} from default_maxStorageMB (no matching rule grants one)"


def _quota_text(quota: Quota) -> str:
    return UNLIMITED if quota == UNLIMITED else str(quota)


def _describe(
    roles: tuple[str, ...],
    quota: Quota | None,
    metadata: Mapping[str, Any],
    organizations: tuple[OrganizationGrant, ...] = (),
    require_mfa: bool = False,
) -> str:
    parts = [f"roles {list(roles)}"] if roles else []
    if require_mfa:
        parts.append("a second factor at sign-in")
    if quota is not None:
        parts.append(f"maxStorageMB {_quota_text(quota)}")
    if metadata:
        parts.append(f"metadata {dict(metadata)}")
    if organizations:
        merged = {grant.slug: grant.level for grant in organizations}
        parts.append(f"organizations {describe_organizations(merged)}")
    return "; ".join(parts) or "nothing"
