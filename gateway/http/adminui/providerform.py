"""The guided provider forms' fields: reading an LDAP/AD or OIDC form into a provider section
(the YAML ``providers:`` entry without ``id`` and ``type``), showing a stored section in the
form, and putting each validation problem next to the input it is about.

The fields a form does not show are edited as YAML in "Other settings", so every setting of a
provider type can be set from the UI; the type's own schema checks the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from marshmallow import fields as mfields
from marshmallow import validate

from gateway.http.adminui.forms import GENERAL, FormProblem, sentence
from providers.catalog import CATALOG

MAX_YAML_CHARS = 20_000
SET = "(set)"

# Each form field, and the dotted key of the section it stands for.
LDAP_KEYS = {
    "preset": "preset",
    "servers": "servers",
    "start_tls": "start_tls",
    "bind_dn": "bind.dn",
    "bind_password": "bind.password",
    "user_base": "user.base",
    "user_filter": "user.filter",
    "username_attribute": "user.username_attribute",
    "quota_attribute": "user.quota_attribute",
    "groups_base": "groups.base",
    "group_strategies": "groups.strategies",
    "nested": "groups.nested",
}
OIDC_KEYS = {
    "issuer": "issuer",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "client_auth": "client_auth",
    "scopes": "scopes",
    "username_claim": "username_claim",
    "groups_claim": "groups_claim",
    "display_name": "display_name",
    "browser_login": "browser_login",
}
KEYS = {"ldap": LDAP_KEYS, "oidc": OIDC_KEYS}
# What "missing" asks for, by input: the summary at the top names what to enter.
MISSING = {
    "servers": "Enter at least one server URL.",
    "user_base": "Enter the user search base.",
    "bind_dn": "Enter the bind DN.",
    "bind_password": "Enter the bind password.",
    "issuer": "Enter the issuer URL.",
    "client_id": "Enter the client id.",
    "client_secret": "Enter the client secret.",
}
_MISSING = "Missing data for required field."
BOOLEANS = {"start_tls", "nested", "browser_login", "enabled"}
LISTS = {"group_strategies"}
FIELDS = {kind: ("id", *keys, "extra", "enabled") for kind, keys in KEYS.items()}
# What a new form starts with (a preset fills in the rest when the section is checked).
NEW_VALUES = {
    "ldap": {"preset": "openldap", "group_strategies": ["member"], "nested": True, "enabled": True},
    "oidc": {
        "client_auth": "client_secret_basic",
        "scopes": "openid profile email",
        "browser_login": True,
        "enabled": True,
    },
}


def choices(kind: str, dotted: str) -> list[str]:
    """The values the type's schema allows at ``dotted`` (a OneOf, or a list of OneOf), read
    from the schema itself so the form never drifts from it."""
    node: Any = CATALOG[kind].schema()
    for key in dotted.split("."):
        schema = node.schema if isinstance(node, mfields.Nested) else node
        node = schema.fields[key]
    if isinstance(node, mfields.List):
        node = node.inner
    for validator in node.validators:
        if isinstance(validator, validate.OneOf):
            return [str(choice) for choice in validator.choices]
    return []


def section_from_form(kind: str, form: Mapping[str, Any], getlist) -> dict[str, Any]:
    """The provider section the form describes. FormProblem for "Other settings" that are not
    a YAML mapping. Empty optional inputs are left out (the type's defaults or the preset's)."""
    section = _extra(form.get("extra", ""))
    for name, dotted in KEYS[kind].items():
        if name in BOOLEANS:
            value: Any = form.get(name) == "on"
        elif name in LISTS:
            value = [item for item in getlist(name) if item]
        elif name == "servers":
            value = [line.strip() for line in form.get(name, "").splitlines() if line.strip()]
            if not value:
                continue
        elif name == "scopes":
            value = form.get(name, "").split()
            if not value:
                continue
        else:
            value = form.get(name, "").strip()
            if not value:
                if name in ("bind_password", "client_secret"):
                    value = SET  # left empty: keep the stored secret (none for a new provider)
                else:
                    continue
        _put(section, dotted, value)
    if kind == "ldap":
        bind = section.get("bind")
        if isinstance(bind, dict) and set(bind) == {"password"} and bind["password"] == SET:
            section.pop("bind")  # no bind DN, no stored secret asked for: an anonymous search
    if kind == "oidc" and section.get("client_auth") == "none" and section.get("client_secret") == SET:
        section.pop("client_secret")
    return section


def values_from_section(kind: str, section: Mapping[str, Any], *, enabled: bool) -> dict[str, Any]:
    """The form's values for a stored (masked) section; what the form has no input for goes
    to "Other settings" as YAML. Secrets are never put back in an input."""
    rest = _copy(section)
    values: dict[str, Any] = {"enabled": enabled}
    for name, dotted in KEYS[kind].items():
        value = _pop(rest, dotted)
        if name in ("bind_password", "client_secret"):
            values[f"{name}_set"] = value == SET
            continue
        if value is None:
            continue
        if name == "servers" and isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        elif name == "scopes" and isinstance(value, list):
            value = " ".join(str(v) for v in value)
        values[name] = value
    values["extra"] = yaml.safe_dump(rest, sort_keys=False) if rest else ""
    return values


def values_from_form(kind: str, form: Mapping[str, Any], getlist) -> dict[str, Any]:
    """The form as posted, to show it back (secrets never shown)."""
    values: dict[str, Any] = {}
    for name in FIELDS[kind]:
        if name in BOOLEANS:
            values[name] = form.get(name) == "on"
        elif name in LISTS:
            values[name] = getlist(name)
        elif name not in ("bind_password", "client_secret"):
            values[name] = form.get(name, "")
    values["probe_username"] = form.get("probe_username", "")
    return values


def field_errors(kind: str, problems: Mapping[str, str]) -> dict[str, str]:
    """Validation problems keyed by dotted key (``settings.user.base``) as messages for the
    form's inputs; a key the form has no input for goes to "Other settings", named."""
    by_key = {dotted: name for name, dotted in KEYS[kind].items()}
    errors: dict[str, str] = {}
    for key, message in problems.items():
        plain = re.sub(r"\[\d+\]", "", key.removeprefix("settings").lstrip("."))
        if key in ("id", "type", "settings", GENERAL):
            target = {"settings": "extra"}.get(key, key)
            errors.setdefault(target, sentence(message))
            continue
        name = by_key.get(plain) or _section_input(kind, plain)
        if name is not None:
            errors.setdefault(
                name, MISSING.get(name, sentence(message)) if message == _MISSING else sentence(message)
            )
        else:
            # The key as written in YAML (never capitalised), then the problem.
            text = f"{plain}: {message[:1].lower()}{message[1:]}".rstrip(".") + "."
            errors["extra"] = f"{errors['extra']} {text}" if "extra" in errors else text
    return errors


def _section_input(kind: str, plain: str) -> str | None:
    """The input that stands for a whole section (``user`` required: the user base)."""
    return {"ldap": {"user": "user_base", "bind": "bind_dn", "groups": "groups_base"}}.get(kind, {}).get(
        plain
    )


def _extra(text: str) -> dict[str, Any]:
    if len(text) > MAX_YAML_CHARS:
        raise FormProblem("extra", f"At most {MAX_YAML_CHARS} characters.")
    if not text.strip():
        return {}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        raise FormProblem("extra", "This is not valid YAML.") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise FormProblem("extra", "Write settings as key: value lines (a YAML mapping).")
    return _copy(loaded)


def _put(section: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = section
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[last] = value


def _pop(section: dict[str, Any], dotted: str) -> Any:
    *parents, last = dotted.split(".")
    node: Any = section
    chain = []
    for key in parents:
        chain.append((node, key))
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    value = node.pop(last, None)
    for parent, key in reversed(chain):  # drop sections the form emptied
        if isinstance(parent.get(key), dict) and not parent[key]:
            parent.pop(key)
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value
