"""Mapping rules in the admin pages: a rule from the simple rule form (one kind of check, the
roles and quota it grants), a rule from YAML, where a refusal of :class:`MappingAdmin` belongs
on those forms, and a rule of a policy document summed up for the rules table.

The simple form covers the everyday rule ("members of group X get roles Y and quota Z, and
must use a second factor", or "only members of X may sign in"); anything richer is written in
YAML.
"""

from __future__ import annotations

import re
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
RULE_FIELDS = ("name", "kind", "who", "values", "roles", "maxStorageMB", "require_mfa")
CHECKED = "1"  # the value the form posts for a ticked checkbox
RULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # as the policy parser's rule names
# What the values of each check are, for the "name at least one" message.
VALUE_WORDS = {
    "group": "one group, one per line",
    "group_glob": "one pattern such as survey-*, one per line",
    "username": "one username, one per line",
    "username_glob": "one pattern such as pilot-*, one per line",
    "provider": "one provider id, one per line",
}
MAX_YAML_CHARS = 12_000  # the form's body limit is 20 KiB


def read_rule_form(form: Mapping[str, str]) -> tuple[dict[str, Any], forms.Errors]:
    """The rule the simple form describes and every problem of its fields at once (the rule
    is meaningless when there are problems). Names and roles are one per line: a space is
    part of a value, never a separator."""
    errors = forms.Errors()
    name = form.get("name", "").strip()
    kind = form.get("kind", "grant")
    who = form.get("who", "group")
    if not name:
        errors.add("name", "Give the rule a name.")
    elif not RULE_NAME.fullmatch(name):
        errors.add(
            "name", "A rule name can only use letters, digits and _ . - (no spaces, at most 64 characters)."
        )
    if kind not in KINDS:
        errors.add("kind", "Choose what the rule does.")
    if who not in CHECKS:
        errors.add("who", "Choose who the rule is about.")
    values = errors.check(forms.lines, form.get("values", ""), "values", default=[])
    if who != "all" and not values and "values" not in errors:
        errors.add("values", f"Name at least {VALUE_WORDS.get(who, 'one, one per line')}.")
    condition: dict[str, Any] = (
        {"all": True} if who == "all" else {who: values[0] if len(values) == 1 else values}
    )
    rule: dict[str, Any] = {"name": name, "match" if kind == "grant" else "require": condition}
    require_mfa = bool(form.get("require_mfa", ""))
    if kind == "grant":
        roles = errors.check(forms.role_names, form.get("roles", ""), default=[])
        quota = errors.check(forms.quota, form.get("maxStorageMB", ""))
        if roles:
            rule["roles"] = roles
        if quota is not None:
            rule["maxStorageMB"] = quota
        if require_mfa:
            rule["require_mfa"] = True
        if not roles and quota is None and not require_mfa and not {"roles", "maxStorageMB"} & set(errors):
            errors.add(
                "roles",
                "A granting rule gives roles, a quota or a second factor at sign-in: fill in at least one.",
            )
    elif require_mfa and kind == "require":
        errors.add(
            "require_mfa",
            "A rule that refuses everyone else grants nothing, so it cannot ask for a second factor: "
            "choose \u201cGrants roles and a quota\u201d, or untick the box.",
        )
    return rule, errors


def form_values(rule: Mapping[str, Any]) -> dict[str, str] | None:
    """The simple form's fields for a stored rule, or None when the rule says more than the
    simple form can (several checks, attributes, metadata ...): that one is edited as YAML."""
    kind = "require" if "require" in rule else "grant"
    condition = rule.get("require" if kind == "require" else "match")
    allowed = (
        {"name", "require"}
        if kind == "require"
        else {"name", "match", "roles", "maxStorageMB", "require_mfa"}
    )
    if set(rule) - allowed or not isinstance(condition, Mapping) or len(condition) != 1:
        return None
    if not isinstance(rule.get("require_mfa", False), bool):
        return None
    ((who, wanted),) = condition.items()
    if who == "all":
        if wanted is not True:
            return None
        values: list[Any] = []
    elif who in CHECKS:
        values = list(wanted) if isinstance(wanted, (list, tuple)) else [wanted]
        if not all(isinstance(value, str) for value in values):
            return None
    else:
        return None
    roles = rule.get("roles") or []
    if not isinstance(roles, list):
        return None
    return {
        "name": str(rule.get("name", "")),
        "kind": kind,
        "who": who,
        "values": forms.lines_text(values),
        "roles": forms.lines_text(roles),
        "maxStorageMB": forms.quota_text(rule.get("maxStorageMB")),
        "require_mfa": CHECKED if rule.get("require_mfa") is True else "",
    }


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
    """A MappingAdmin refusal of a rule-level change, on the simple form's field it is about,
    in plain words."""
    field = error.field or ""
    target = {
        "rule.name": "name",
        "rule.roles": "roles",
        "rule.maxStorageMB": "maxStorageMB",
        "rule.require_mfa": "require_mfa",
    }.get(field)
    if target is None and field.startswith(("rule.match", "rule.require")):
        target = "values"
    if target is None and field.startswith(("rule.roles[",)):
        target = "roles"
    return {target or forms.GENERAL: forms.plain(error.message)}


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
