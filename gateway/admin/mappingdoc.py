"""Pure helpers of mapping administration: rule-level edits of a policy document, the YAML
form of a document, what an evaluation means for a user, and the explanation shape.

No I/O, no clock: :mod:`gateway.admin.mapping` reads, checks and saves; these only compute.
Documents are the ``mapping:`` section as plain data (what :func:`parse_policy` reads); the
edits never validate a rule's grammar, they leave that to :func:`parse_policy`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from gateway.admin.errors import AdminError
from gateway.login.answer import build_answer
from gateway.mapping import UNLIMITED, Evaluation, Policy, format_explanation, permission_name
from providers.base import Identity

_ROOT = "mapping"


# -- where an error is ------------------------------------------------------------------------


def field_of(key: str, rule_index: int | None = None) -> str:
    """The request field a :class:`ConfigError` key names: the dotted key without the leading
    ``mapping.`` (``document`` for the root). With ``rule_index``, keys inside that rule are
    named from the ``rule`` of a rule-level request: ``rules[3].roles`` becomes ``rule.roles``."""
    if key == _ROOT:
        return "document"
    field = key[len(_ROOT) + 1 :] if key.startswith(_ROOT + ".") else key
    if rule_index is not None:
        own = f"rules[{rule_index}]"
        if field == own or field.startswith(own + ".") or field.startswith(own + "["):
            return "rule" + field[len(own) :]
    return field


# -- rule-level edits ---------------------------------------------------------------------------


def rule_names(document: Mapping[str, Any]) -> list[Any]:
    """The ``name`` of each rule of a valid document, in order."""
    return [rule.get("name") for rule in _rules(document)]


def insert_rule(document: Mapping[str, Any], rule: Any, position: int | None) -> tuple[dict[str, Any], int]:
    """A copy of ``document`` with ``rule`` at ``position`` (None: last), and its index.

    Raises AdminError 400 for a rule that is not an object, a name another rule has, or a
    position outside ``0..len(rules)``."""
    rules = _rules(document)
    _check_rule(rule)
    _check_unique(rule, rules, skip=None)
    index = len(rules) if position is None else position
    _check_position(index, len(rules))
    rules.insert(index, dict(rule))
    return {**document, "rules": rules}, index


def replace_rule(document: Mapping[str, Any], name: str, rule: Any) -> tuple[dict[str, Any], int]:
    """A copy of ``document`` with the rule called ``name`` replaced by ``rule`` (which keeps
    the name when it has none, or renames it), and its index. AdminError 404 for no such rule,
    400 as :func:`insert_rule`."""
    rules = _rules(document)
    index = _index_of(rules, name)
    _check_rule(rule)
    rule = {"name": name, **rule}
    _check_unique(rule, rules, skip=index)
    rules[index] = rule
    return {**document, "rules": rules}, index


def remove_rule(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A copy of ``document`` without the rule called ``name`` (AdminError 404 if none)."""
    rules = _rules(document)
    del rules[_index_of(rules, name)]
    return {**document, "rules": rules}


def move_rule(document: Mapping[str, Any], name: str, position: int) -> tuple[dict[str, Any], int]:
    """A copy of ``document`` with the rule called ``name`` at index ``position`` of the new
    order (AdminError 404 for no such rule, 400 for a position outside ``0..len(rules)-1``)."""
    rules = _rules(document)
    rule = rules.pop(_index_of(rules, name))
    _check_position(position, len(rules))
    rules.insert(position, rule)
    return {**document, "rules": rules}, position


def with_megabyte_quotas(document: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """A copy of ``document`` whose quotas are written as ``policy`` (parsed from it) reads
    them: ``"5 GB"`` becomes ``5120``, so the stored document holds the integer MB the
    Registry is sent. Everything else is kept as written."""
    copy = dict(document)
    if "default_maxStorageMB" in copy:
        copy["default_maxStorageMB"] = policy.default_max_storage_mb
    if "rules" in copy:
        copy["rules"] = [
            {**raw, "maxStorageMB": rule.max_storage_mb} if "maxStorageMB" in raw else raw
            for raw, rule in zip(copy["rules"], policy.rules, strict=True)
        ]
    return copy


def _rules(document: Mapping[str, Any]) -> list[Any]:
    return list(document.get("rules") or [])


def _index_of(rules: list[Any], name: str) -> int:
    for index, rule in enumerate(rules):
        if isinstance(rule, Mapping) and rule.get("name") == name:
            return index
    raise AdminError(404, f"no rule {name!r}")


def _check_rule(rule: Any) -> None:
    if not isinstance(rule, Mapping):
        raise AdminError(400, "rule: must be an object", "rule")


def _check_unique(rule: Mapping[str, Any], rules: list[Any], skip: int | None) -> None:
    name = rule.get("name")
    taken = any(
        i != skip and isinstance(other, Mapping) and other.get("name") == name
        for i, other in enumerate(rules)
    )
    if taken:
        raise AdminError(
            400, f"rule.name: there is already a rule {name!r}; rule names are unique", "rule.name"
        )


def _check_position(position: int, count: int) -> None:
    if not 0 <= position <= count:
        raise AdminError(400, f"position: must be from 0 to {count}", "position")


# -- YAML ---------------------------------------------------------------------------------------


def policy_yaml(document: Mapping[str, Any], comment: str = "") -> str:
    """``document`` as YAML that :func:`read_policy_yaml` turns back into an equal document:
    key order kept, strings that look like other types quoted. ``comment`` lines lead it."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + yaml.safe_dump(
        dict(document), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def read_policy_yaml(text: str) -> dict[str, Any]:
    """The policy document in ``text``: the section itself, or a file whose only key is
    ``mapping:`` (a config excerpt). Raises ValueError (one line) for what is neither; the
    document's content is checked by :func:`parse_policy`, not here."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError("not valid YAML: " + " ".join(str(error).split())) from None
    if data is None:
        raise ValueError("the file is empty; an empty policy is written {}")
    if isinstance(data, dict) and list(data) == [_ROOT]:
        data = data[_ROOT]
    if not isinstance(data, dict):
        raise ValueError("must hold a mapping policy (a YAML mapping of default_roles, rules, ...)")
    return data


# -- what a user gets ---------------------------------------------------------------------------


def outcome(evaluation: Evaluation | None, enabled: bool = True) -> dict[str, Any]:
    """What a login gets: ``allowed`` (enabled and not denied), the ``roles`` and the quota
    (``maxStorageMB`` None for unlimited) of the answer. No evaluation: nothing allowed."""
    if evaluation is None:
        return {"roles": [], "maxStorageMB": None, "allowed": False}
    allowed = enabled and not evaluation.denied
    return {
        "roles": list(evaluation.roles) if allowed else [],
        "maxStorageMB": evaluation.max_storage_mb if allowed else None,
        "allowed": allowed,
    }


def compare(rows: Iterable[tuple[str, dict[str, Any], dict[str, Any]]]) -> tuple[list[dict[str, Any]], int]:
    """From ``(userName, before, after)`` outcomes, the changed users (in the given order) as
    ``{userName, before, after}`` and how many did not change."""
    changes, unchanged = [], 0
    for username, before, after in rows:
        if before == after:
            unchanged += 1
        else:
            changes.append({"userName": username, "before": before, "after": after})
    return changes, unchanged


def granted_roles(policy: Policy) -> list[str]:
    """Every role name the policy can hand out (defaults, then rules), without duplicates."""
    names = dict.fromkeys(policy.default_roles)
    for rule in policy.rules:
        names.update(dict.fromkeys(rule.roles))
    return list(names)


# -- explanations -------------------------------------------------------------------------------


def explanation(
    identity: Identity, source: str, evaluation: Evaluation, policy: Policy, enabled: bool | None
) -> dict[str, Any]:
    """Why ``identity`` gets what it gets under ``policy``: every rule in order, the defaults,
    each per-user override, the outcome, the exact answer the Registry receives (None when the
    login is refused: denied by a require rule, or ``enabled`` is False) and the CLI's text.

    ``source`` says where the identity came from: ``current``, ``last login``, ``hypothetical``.
    """
    allowed = enabled is not False and not evaluation.denied
    answer = build_answer(identity.username, evaluation) if allowed else None
    deny_reason = evaluation.deny_reason
    if enabled is False:
        deny_reason = "the user is disabled at the gateway"
    trace = evaluation.trace
    quota_why = next((step.why for step in trace if step.kind == "quota"), "")
    return {
        "identity": {
            "provider": identity.provider,
            "userName": identity.username,
            "email": identity.email,
            "displayName": identity.display_name,
            "groups": list(identity.groups),
            "attributes": {str(k): _plain(v) for k, v in identity.attributes.items()},
        },
        "identitySource": source,
        "enabled": enabled,
        "allowed": allowed,
        "denyReason": deny_reason,
        "rules": [
            {
                "name": step.name,
                "kind": step.kind,
                "matched": step.matched,
                "why": step.why,
                "grants": step.grants,
            }
            for step in trace
            if step.kind in ("grant", "require")
        ],
        "defaults": {
            "roles": list(policy.default_roles),
            "maxStorageMB": None
            if policy.default_max_storage_mb == UNLIMITED
            else policy.default_max_storage_mb,
            "expose": list(policy.expose),
        },
        "overrides": [
            {"key": step.name, "applied": step.matched, "why": step.why}
            for step in trace
            if step.kind == "override"
        ],
        "roles": list(evaluation.roles),
        "maxStorageMB": evaluation.max_storage_mb,
        "maxStorageMBWhy": quota_why,
        "metadata": dict(evaluation.metadata),
        "organizations": [
            {"slug": slug, "permissions": permission_name(level)}
            for slug, level in evaluation.organizations.items()
        ],
        "answer": answer,
        "text": _disabled_note(enabled) + format_explanation(evaluation, answer),
    }


def _disabled_note(enabled: bool | None) -> str:
    if enabled is False:
        return "Note: the user is disabled at the gateway; the Registry's login gets 403\n"
    return ""


def _plain(value: Any) -> Any:
    """A JSON-safe copy of an attribute value (providers may hand over sets, bytes, ...)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_plain(item) for item in items]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
