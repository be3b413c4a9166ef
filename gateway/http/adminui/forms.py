"""Reading the admin pages' form fields into what the admin services take, and turning every
refusal (a field's validation, an :class:`AdminError`) into a message for one field of the
form, so the page can show it next to that input."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import ValidationError

from gateway.admin.errors import AdminError
from gateway.mapping import QuotaError, format_quota, is_role_name, parse_quota_text

GENERAL = "_general"  # errors.get(GENERAL): a message for the whole form
MAX_METADATA_LINES = 50
MAX_LIST_ITEMS = 200
_ROLE_SEPARATORS = re.compile(r"[\r\n,]+")  # a role name has neither, so both may separate
_INTEGER = re.compile(r"-?[0-9]{1,18}")
ROLE_NAME_RULE = "Role names can only use letters, digits and _ . @ + - (no spaces, at most 64 characters)"
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


class FormProblem(Exception):
    """One input of a form that cannot be used; ``field`` is the input's name."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class Errors(dict[str, str]):
    """Every problem of one submitted form, by field, so that the form is answered once with
    all of them (never one round per error)."""

    def check(self, read: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """``read(*args)``; a FormProblem it raises is kept (the first per field) and
        ``default`` returned, so the next field is still read."""
        try:
            return read(*args)
        except FormProblem as problem:
            self.setdefault(problem.field, problem.message)
            return default

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, message)


def lines(text: str | None, field: str = "values") -> list[str]:
    """The values of a one-per-line list field: each line trimmed, blank lines and repeats
    dropped, order kept. Spaces inside a line stay: ``senior pilot`` is one value."""
    found = list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))
    if len(found) > MAX_LIST_ITEMS:
        raise FormProblem(field, f"At most {MAX_LIST_ITEMS} lines.")
    return found


def names(text: str | None) -> list[str]:
    """The role names of a roles field: one per line (commas also separate, as no role name
    has one); spaces are never separators. Not checked: see :func:`role_names`."""
    found = list(dict.fromkeys(name.strip() for name in _ROLE_SEPARATORS.split(text or "") if name.strip()))
    return found[: MAX_LIST_ITEMS + 1]


def role_names(text: str | None, field: str = "roles") -> list[str]:
    """The role names of a roles field (see :func:`names`). Raises FormProblem naming, in
    plain words, every value that is not a role name and where it is in the list."""
    found = names(text)
    if len(found) > MAX_LIST_ITEMS:
        raise FormProblem(field, f"At most {MAX_LIST_ITEMS} roles.")
    bad = [(index, name) for index, name in enumerate(found) if not is_role_name(name)]
    if bad:
        raise FormProblem(field, role_problem(bad))
    return found


def role_problem(bad: list[tuple[int, str]]) -> str:
    """``[(position, name)]`` of invalid role names as one sentence for a person."""
    described = [f"“{_shown(name)}” is the {ordinal(index)} role" for index, name in bad]
    listed = "; ".join(described)
    spaces = any(" " in name for _, name in bad)
    rule = ROLE_NAME_RULE.replace("(no spaces", "(no spaces, one role per line") if spaces else ROLE_NAME_RULE
    return f"{rule}: {listed}."


def ordinal(index: int) -> str:
    """``0`` -> ``first``; past the tenth, ``number 11``."""
    return _ORDINALS[index] if index < len(_ORDINALS) else f"number {index + 1}"


def lines_text(values: Iterable[Any] | None) -> str:
    """A stored list shown back in a one-per-line field."""
    return "\n".join(str(value) for value in values or ())


def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def optional(text: str | None) -> str | None:
    """The trimmed text, or None when nothing was typed."""
    text = (text or "").strip()
    return text or None


QUOTA_ADVICE = "Enter a size such as 500 MB, 50 GB or 2 TB, a whole number of MB, or unlimited."


def quota(text: str | None) -> int | str | None:
    """A storage quota field as integer MB or ``unlimited``; None when left empty (no quota).
    Takes what :func:`gateway.mapping.parse_quota_text` takes (``5120``, ``5 GB``, ``unlimited``)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return parse_quota_text(text)
    except QuotaError as problem:
        reason = str(problem)
        if "whole number of MB" in reason:
            raise FormProblem("maxStorageMB", "That is not a whole number of MB. " + QUOTA_ADVICE) from None
        if "must be at most" in reason and "non-negative" not in reason:
            raise FormProblem("maxStorageMB", "That is too large. " + QUOTA_ADVICE) from None
        if "cannot be negative" in reason:
            raise FormProblem("maxStorageMB", "A quota cannot be negative. " + QUOTA_ADVICE) from None
        raise FormProblem("maxStorageMB", QUOTA_ADVICE) from None


def quota_text(value: Any) -> str:
    """A stored quota as the form shows it back, in the largest exact unit (``5 GB``); a value
    that is not a quota is shown as it is, so the admin can see and fix it."""
    try:
        return format_quota(value) if value not in (None, "") else ""
    except TypeError:
        return str(value)


def metadata(text: str | None) -> dict[str, Any]:
    """``key = value`` lines: ``true``/``false`` are booleans, whole numbers are integers,
    anything else is text."""
    values: dict[str, Any] = {}
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_METADATA_LINES:
        raise FormProblem("metadata", f"At most {MAX_METADATA_LINES} values.")
    for number, line in enumerate(lines, 1):
        key, equals, raw = line.partition("=")
        key, raw = key.strip(), raw.strip()
        if not equals or not key:
            raise FormProblem("metadata", f"Line {number}: write key = value.")
        if key in values:
            raise FormProblem("metadata", f"Line {number}: {key} is given twice.")
        values[key] = _scalar(raw)
    return values


def metadata_text(values: dict[str, Any]) -> str:
    """The inverse of :func:`metadata`, for showing stored values in the form."""

    def shown(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return "\n".join(f"{key} = {shown(value)}" for key, value in values.items())


def _scalar(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if _INTEGER.fullmatch(raw):
        return int(raw)
    return raw


def validation_errors(error: ValidationError) -> dict[str, str]:
    """The first message for each field of a marshmallow ValidationError, in plain words."""
    messages = error.normalized_messages()
    found: dict[str, str] = {}
    for field, message in messages.items() if isinstance(messages, dict) else ():
        while isinstance(message, (list, dict)) and message:
            message = message[0] if isinstance(message, list) else next(iter(message.values()))
        found[GENERAL if field == "_schema" else field] = plain(str(message))
    return found or {GENERAL: plain(str(messages))}


# Messages written for API clients and config files, and how a person is told the same thing.
_PLAIN: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"^(?:[\w.]+\.)?roles: ?\[(?P<index>\d+)\] '(?P<name>[^']*)' must be a role name.*$"),
        lambda m: role_problem([(int(m["index"]), m["name"])]),
    ),
    (  # the policy parser's refusals name a key path: rules[2].roles[1], rule.name ...
        re.compile(r"^(?P<key>(?:rules\[\d+\]|rule)(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (?P<message>.+)$"),
        lambda m: _policy_problem(m["key"], m["message"]),
    ),
    (
        re.compile(
            r"^name: 1-64 characters: letters, digits and _ \. @ \+ - \(starting with a letter or digit\)$"
        ),
        lambda m: (
            "A group name can only use letters, digits and _ . @ + - (no spaces, at most 64 "
            "characters) and starts with a letter or digit"
        ),
    ),
    (
        re.compile(r"^Length must be between 1 and (?P<max>\d+)\.$"),
        lambda m: f"Use 1 to {m['max']} characters",
    ),
    (
        re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"),
        lambda m: f"Use at most {m['max']} characters",
    ),
    (
        re.compile(r"^Not a valid email address\.$"),
        lambda m: "Enter an email address such as name@example.org",
    ),
    (re.compile(r"^Not a valid string\.$"), lambda m: "Enter text here"),
    (re.compile(r"^Missing data for required field\.$"), lambda m: "This is needed"),
    # Last: an API message that starts with its field's key ("name: 1-64 characters ...")
    (re.compile(r"^[A-Za-z_][\w.\[\]]*: (?P<rest>.+)$"), lambda m: m["rest"]),
)


# The policy parser's own words for a name or a role, and a person's.
_POLICY_MESSAGES = {
    "must be 1-64 of letters, digits and _ . -": "can only use letters, digits and _ . - "
    "(no spaces, at most 64 characters)",
    "must be a role name: 1-64 of letters, digits and _ . @ + -": "is not a role name: role names "
    "can only use letters, digits and _ . @ + - (no spaces, at most 64 characters)",
}
_KEY_WORDS = {"match": "condition", "require": "condition", "maxStorageMB": "quota"}
_KEY_PART = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:\[(?P<index>\d+)\])?")


def _policy_problem(key: str, message: str) -> str:
    """``rules[2].roles[1]`` + ``must be a role name ...`` -> ``The third rule's second role
    is not a role name ...``."""
    words = []
    for part in key.split("."):
        match = _KEY_PART.fullmatch(part)
        if match is None:
            return f"{key}: {message}"
        name, index = match["name"], match["index"]
        noun = _KEY_WORDS.get(name, name)
        if index is not None:
            noun = f"{ordinal(int(index))} {noun[:-1] if noun.endswith('s') else noun}"
        words.append(noun)
    subject = "the " + "'s ".join(words)
    explained = _POLICY_MESSAGES.get(message.strip())
    return f"{subject} {explained}" if explained else f"{subject}: {message}"


def plain(message: str) -> str:
    """``message`` (from a validator, an admin service or the policy parser) as a sentence a
    person who never read the API documentation understands."""
    text = message.strip()
    for pattern, rewrite in _PLAIN:
        match = pattern.search(text)
        if match:
            return sentence(rewrite(match))
    return sentence(text)


def admin_errors(error: AdminError, fields: Iterable[str], fallback: str | None = None) -> dict[str, str]:
    """An AdminError as a message for the field it names, when that field is on the form;
    else for ``fallback`` (a field that stands for the rest), else for the whole form."""
    fields = set(fields)
    if error.field in fields:
        return {error.field: plain(error.message)}
    if error.field and fallback:
        return {fallback: plain(error.message)}
    return {GENERAL: plain(error.message)}


def ordered(errors: dict[str, str], fields: Iterable[str]) -> dict[str, str]:
    """``errors`` in the order of the form's ``fields`` (the whole-form message first), so the
    summary at the top of the form lists problems as the eye meets them."""
    rank = {name: index for index, name in enumerate((GENERAL, *fields))}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(rank))))


def sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, final full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
