"""Mapping rules in the admin pages: a rule from the simple rule form (one kind of check, the
roles and quota it grants), a rule from YAML, where a refusal of :class:`MappingAdmin` belongs
on those forms, and a rule of a policy document summed up for the rules table.

The simple form covers the everyday rule ("members of group X get roles Y and quota Z", or
"only members of X may sign in"); anything richer is written in YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms

# The checks the simple form offers: value of its "who" select -> label.
CHECKS = {
    "group": "Members of groups",
    "group_glob": "Groups matching a pattern",
    "username": "Users",
    "username_glob": "Usernames matching a pattern",
    "provider": "Everyone from providers",
    "all": "Everyone",
}
KINDS = {"grant": "Grants roles and a quota", "require": "Refuses everyone else (require)"}
RULE_FIELDS = ("name", "kind", "who", "values", "roles", "maxStorageMB")
MAX_YAML_CHARS = 12_000  # the form's body limit is 20 KiB


def rule_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The rule the simple form describes. Raises FormProblem naming the field."""
    name = form.get("name", "").strip()
    kind = form.get("kind", "grant")
    who = form.get("who", "group")
    if not name:
        raise forms.FormProblem("name", "Give the rule a name.")
    if kind not in KINDS:
        raise forms.FormProblem("kind", "Choose what the rule does.")
    if who not in CHECKS:
        raise forms.FormProblem("who", "Choose who the rule is about.")
    values = forms.names(form.get("values", ""))
    if who != "all" and not values:
        raise forms.FormProblem("values", "Name at least one.")
    condition: dict[str, Any] = (
        {"all": True} if who == "all" else {who: values[0] if len(values) == 1 else values}
    )
    rule: dict[str, Any] = {"name": name, "match" if kind == "grant" else "require": condition}
    if kind == "grant":
        roles = forms.names(form.get("roles", ""))
        quota = forms.quota(form.get("maxStorageMB", ""))
        if roles:
            rule["roles"] = roles
        if quota is not None:
            rule["maxStorageMB"] = quota
        if not roles and quota is None:
            raise forms.FormProblem("roles", "A granting rule gives roles, a quota, or both.")
    return rule


def rule_from_yaml(text: str, field: str = "rule") -> dict[str, Any]:
    """A rule (a YAML mapping) from ``text``. Raises FormProblem on ``field``."""
    if len(text) > MAX_YAML_CHARS:
        raise forms.FormProblem(field, f"At most {MAX_YAML_CHARS} characters.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise forms.FormProblem(field, "Not valid YAML: " + " ".join(str(error).split())) from None
    if not isinstance(data, dict):
        raise forms.FormProblem(field, "Write the rule as a YAML mapping (name:, match:, roles: …).")
    return data


def rule_yaml(rule: Mapping[str, Any]) -> str:
    """A rule of a document as YAML for its edit form."""
    return yaml.safe_dump(dict(rule), sort_keys=False, allow_unicode=True, default_flow_style=False)


def rule_errors(error: AdminError) -> dict[str, str]:
    """A MappingAdmin refusal of a rule-level change, on the simple form's field it is about."""
    field = error.field or ""
    target = {"rule.name": "name", "rule.roles": "roles", "rule.maxStorageMB": "maxStorageMB"}.get(field)
    if target is None and field.startswith(("rule.match", "rule.require")):
        target = "values"
    if target is None and field.startswith(("rule.roles[",)):
        target = "roles"
    return {target or forms.GENERAL: forms.sentence(error.message)}


@dataclass(frozen=True)
class RuleRow:
    """One rule of a policy document as the rules table shows it."""

    position: int
    name: str
    kind: str
    condition: str
    grants: str


def rows(document: Mapping[str, Any]) -> list[RuleRow]:
    """The rules of a (valid) policy document, summed up."""
    found = []
    for index, rule in enumerate(document.get("rules") or []):
        if not isinstance(rule, Mapping):
            continue
        kind = "require" if "require" in rule else "grant"
        found.append(
            RuleRow(
                index,
                str(rule.get("name", "")),
                kind,
                describe_condition(rule.get(kind if kind == "require" else "match")),
                describe_grants(rule),
            )
        )
    return found


def describe_condition(condition: Any) -> str:
    """``group: drone-pilots``; ``everyone``; checks joined with ``and``."""
    if not isinstance(condition, Mapping):
        return "—"
    if condition.get("all") is True:
        return "everyone"
    parts: list[str] = []
    for key, value in condition.items():
        if key == "case_insensitive":
            continue
        if key == "attribute" and isinstance(value, Mapping):
            parts.extend(f"attribute {name} = {_listed(wanted)}" for name, wanted in value.items())
        else:
            parts.append(f"{key}: {_listed(value)}")
    text = " and ".join(parts)
    return text + (" (any case)" if condition.get("case_insensitive") else "")


def describe_grants(rule: Mapping[str, Any]) -> str:
    """``roles pilot, surveyor; 51,200 MB; team = north`` (``—`` for a require rule)."""
    parts = []
    if rule.get("roles"):
        parts.append("roles " + _listed(rule["roles"]))
    if "maxStorageMB" in rule:
        quota = rule["maxStorageMB"]
        parts.append(
            f"{quota:,} MB" if isinstance(quota, int) and not isinstance(quota, bool) else str(quota)
        )
    for key, value in (rule.get("metadata") or {}).items():
        parts.append(f"{key} = {value}")
    if rule.get("require_mfa") is True:
        parts.append("second factor required at sign-in")
    return "; ".join(parts) or "—"


def _listed(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)
