"""The guided provider forms' fields, for every type that declares one
(``ProviderType.admin_form``, ``providers/adminform.py``): reading a form into a provider
section (the YAML ``providers:`` entry without ``id`` and ``type``), showing a stored section in
the form, and putting each validation problem next to the input it is about. Nothing here
names a provider type: the inputs, labels and checks are the type's.

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
from providers.adminform import CHOICE, CHOICES, FLAG, LINES, SECRET, WORDS, AdminForm, FormField
from providers.catalog import CATALOG

MAX_YAML_CHARS = 20_000
SET = "(set)"
_MISSING = "Missing data for required field."
# The diagnostics a form can offer, as its buttons say them.
CHECK_BUTTONS = {
    "connection": "Test connection",
    "search": "Try a user search",
    "groups": "Show groups and the mapping",
    "discovery": "Check discovery",
}


def admin_form(kind: str) -> AdminForm:
    """The guided form of type ``kind``; KeyError for a type without one."""
    form = CATALOG[kind].admin_form if kind in CATALOG else None
    if form is None:
        raise KeyError(kind)
    return form


def input_names(kind: str) -> tuple[str, ...]:
    """Every input of the form, in page order (for ordering error summaries)."""
    return ("id", *(item.name for item in admin_form(kind).fields), "extra", "enabled")


def new_values(kind: str) -> dict[str, Any]:
    """What a new form of type ``kind`` starts with (a preset fills in the rest when checked)."""
    return dict(admin_form(kind).new_values)


def grouped(kind: str) -> list[tuple[str, list[FormField]]]:
    """The form's inputs by heading, headings in the order they first appear."""
    groups: dict[str, list[FormField]] = {}
    for item in admin_form(kind).fields:
        groups.setdefault(item.group, []).append(item)
    return list(groups.items())


def options_of(kind: str) -> dict[str, list[str]]:
    """The values each choice input offers, read from the type's schema."""
    return {
        item.name: choices(kind, item.key)
        for item in admin_form(kind).fields
        if item.kind in (CHOICE, CHOICES)
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
    a YAML mapping. Empty optional inputs are left out (the type's defaults or the preset's); an
    empty secret input stands for the stored secret (``"(set)"``), unless nothing else of its
    subsection is given or the form says the secret is not used."""
    section = _extra(form.get("extra", ""))
    fields = admin_form(kind).fields
    keys = {item.name: item.key for item in fields}
    for item in fields:
        value = _read(item, form, getlist)
        if value is not None:
            _put(section, item.key, value)
    for item in fields:
        if item.kind != SECRET or _get(section, item.key) != SET:
            continue
        *parents, _ = item.key.split(".")
        unused = (
            item.unused_when is not None and _get(section, keys[item.unused_when[0]]) == item.unused_when[1]
        )
        alone = bool(parents) and _get(section, ".".join(parents)) == {item.key.split(".")[-1]: SET}
        if unused or alone:  # an anonymous bind, no client authentication: no secret asked for
            _pop(section, ".".join(parents) if alone else item.key)
    return section


def _read(item: FormField, form: Mapping[str, Any], getlist) -> Any:
    """An input's value for the section; None: leave the key out."""
    if item.kind == FLAG:
        return form.get(item.name) == "on"
    if item.kind == CHOICES:
        return [value for value in getlist(item.name) if value]
    text = form.get(item.name, "")
    if item.kind == LINES:
        return [line.strip() for line in text.splitlines() if line.strip()] or None
    if item.kind == WORDS:
        return text.split() or None
    text = text.strip()
    if item.kind == SECRET and not text:
        return SET  # left empty: keep the stored secret (none for a new provider)
    return text or None


def values_from_section(kind: str, section: Mapping[str, Any], *, enabled: bool) -> dict[str, Any]:
    """The form's values for a stored (masked) section; what the form has no input for goes
    to "Other settings" as YAML. Secrets are never put back in an input."""
    rest = _copy(section)
    values: dict[str, Any] = {"enabled": enabled}
    for item in admin_form(kind).fields:
        value = _pop(rest, item.key)
        if item.kind == SECRET:
            values[f"{item.name}_set"] = value == SET
            continue
        if value is None:
            continue
        if item.kind == LINES and isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        elif item.kind == WORDS and isinstance(value, list):
            value = " ".join(str(v) for v in value)
        values[item.name] = value
    values["extra"] = yaml.safe_dump(rest, sort_keys=False) if rest else ""
    return values


def values_from_form(kind: str, form: Mapping[str, Any], getlist) -> dict[str, Any]:
    """The form as posted, to show it back (secrets never shown)."""
    values: dict[str, Any] = {
        "id": form.get("id", ""),
        "extra": form.get("extra", ""),
        "enabled": form.get("enabled") == "on",
    }
    for item in admin_form(kind).fields:
        if item.kind == FLAG:
            values[item.name] = form.get(item.name) == "on"
        elif item.kind == CHOICES:
            values[item.name] = getlist(item.name)
        elif item.kind != SECRET:
            values[item.name] = form.get(item.name, "")
    values["probe_username"] = form.get("probe_username", "")
    return values


def field_errors(kind: str, problems: Mapping[str, str]) -> dict[str, str]:
    """Validation problems keyed by dotted key (``settings.user.base``) as messages for the
    form's inputs; a key the form has no input for goes to "Other settings", named."""
    fields = admin_form(kind).fields
    by_key = {item.key: item for item in fields}
    by_key.update({covered: item for item in fields for covered in item.covers})
    errors: dict[str, str] = {}
    for key, message in problems.items():
        plain = re.sub(r"\[\d+\]", "", key.removeprefix("settings").lstrip("."))
        if key in ("id", "type", "settings", GENERAL):
            target = {"settings": "extra"}.get(key, key)
            errors.setdefault(target, sentence(message))
            continue
        item = by_key.get(plain)
        if item is not None:
            missing = message == _MISSING and item.missing
            errors.setdefault(item.name, item.missing if missing else sentence(message))
        else:
            # The key as written in YAML (never capitalised), then the problem.
            text = f"{plain}: {message[:1].lower()}{message[1:]}".rstrip(".") + "."
            errors["extra"] = f"{errors['extra']} {text}" if "extra" in errors else text
    return errors


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


def _get(section: Mapping[str, Any], dotted: str) -> Any:
    node: Any = section
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


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
