"""What a provider type tells the admin UI about its guided form, as plain data: the inputs (each
standing for one dotted key of the type's configuration section), their labels, hints and
groups, what a new form starts with, and which of the type's diagnostics the form offers.

A type that declares an :class:`AdminForm` (``ProviderType.admin_form``) can be kept in the
database (``provider_source: database``) and added and edited from the admin UI and API; the
gateway's form code is the same for every type. Keys a form has no input for are edited as
YAML under "Other settings", so every setting stays reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# What an input is, and how its text becomes the section's value:
TEXT = "text"  # one line; left empty: the key is left out (the type's default)
SECRET = "secret"  # a password input, never shown back; left empty: keep the stored secret
LINES = "lines"  # a textarea, one value a line -> a list
WORDS = "words"  # one line of values separated by spaces -> a list
FLAG = "flag"  # a checkbox -> true/false
CHOICE = "choice"  # a select of the values the schema allows at the key
CHOICES = "choices"  # checkboxes of the values the schema allows in the list at the key
KINDS = (TEXT, SECRET, LINES, WORDS, FLAG, CHOICE, CHOICES)


@dataclass(frozen=True)
class FormField:
    """One input. ``name`` is the input's name (``f-<name>`` in the page), ``key`` the dotted
    key of the section it stands for, ``group`` the heading it is shown under.

    ``missing``: what the form asks for when the key is required and not given; ``covers``:
    the keys of whole subsections whose absence this input is the answer to (the user search
    base stands for a missing ``user:``). ``choice_labels`` name a choice's values; a choice
    with ``other_choice`` offers an empty value with that label. A secret's ``stored_hint`` is
    shown when one is stored; ``unused_when = (input, value)``: the secret is not sent at all
    when that input has that value."""

    name: str
    key: str
    label: str
    kind: str = TEXT
    group: str = ""
    hint: str = ""
    required: bool = False
    missing: str = ""
    covers: tuple[str, ...] = ()
    maxlength: int = 1024
    inputmode: str = ""
    choice_labels: Mapping[str, str] = field(default_factory=dict)
    other_choice: str = ""
    stored_hint: str = ""
    unused_when: tuple[str, str] | None = None


@dataclass(frozen=True)
class AdminForm:
    """A type's guided form. ``label`` names the type (``Add an <label> provider``),
    ``add_label`` is the providers page's button; ``new_values`` are the inputs' values on a
    new form; ``checks`` the type's diagnostics (``Diagnostics`` names: ``connection``,
    ``search``, ``groups``, ``discovery``) the form offers as buttons, in order."""

    label: str
    add_label: str
    fields: tuple[FormField, ...]
    new_values: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [item.name for item in self.fields]
        reserved = {"id", "extra", "enabled", "probe_username", "action", "csrf_token"}
        if len(set(names)) != len(names) or reserved & set(names):
            raise ValueError(f"form inputs must be unique and not one of {sorted(reserved)}")
        unknown = [item.kind for item in self.fields if item.kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown input kinds: {unknown}")
