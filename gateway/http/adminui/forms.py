"""Reading the admin pages' form fields into what the admin services take, and turning every
refusal (a field's validation, an :class:`AdminError`) into a message for one field of the
form, so the page can show it next to that input."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from marshmallow import ValidationError

from gateway.admin.errors import AdminError
from gateway.mapping import QuotaError, format_quota, parse_quota_text

GENERAL = "_general"  # errors.get(GENERAL): a message for the whole form
MAX_METADATA_LINES = 50
_SEPARATORS = re.compile(r"[\s,]+")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


class FormProblem(Exception):
    """One input of a form that cannot be used; ``field`` is the input's name."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def names(text: str | None) -> list[str]:
    """The names in a text of names separated by commas, spaces or new lines (first
    occurrence kept, order kept)."""
    return list(dict.fromkeys(name for name in _SEPARATORS.split(text or "") if name))


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
        if "at most" in reason:
            raise FormProblem("maxStorageMB", "That is too large. " + QUOTA_ADVICE) from None
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
    """The first message for each field of a marshmallow ValidationError."""
    messages = error.normalized_messages()
    found: dict[str, str] = {}
    for field, message in messages.items() if isinstance(messages, dict) else ():
        while isinstance(message, (list, dict)) and message:
            message = message[0] if isinstance(message, list) else next(iter(message.values()))
        found[GENERAL if field == "_schema" else field] = sentence(str(message))
    return found or {GENERAL: sentence(str(messages))}


def admin_errors(error: AdminError, fields: Iterable[str], fallback: str | None = None) -> dict[str, str]:
    """An AdminError as a message for the field it names, when that field is on the form;
    else for ``fallback`` (a field that stands for the rest), else for the whole form."""
    fields = set(fields)
    if error.field in fields:
        return {error.field: sentence(error.message)}
    if error.field and fallback:
        return {fallback: sentence(error.message)}
    return {GENERAL: sentence(error.message)}


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
