"""What every provider type's configuration section shares: the error type, a strict schema
base, the provider id rule, and loading a section so that errors name the dotted key.

The gateway's own configuration sections use the same pieces (``gateway.config`` re-exports
:class:`ConfigError`), so every configuration error reads alike.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate

PROVIDER_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
V = TypeVar("V")


class ConfigError(Exception):
    """A configuration value is missing, unknown or invalid.

    ``source`` is the file (or ``environment``), ``key`` a dotted path such as
    ``mapping.rules[2].maxStorageMB``. ``errors`` is every problem this error stands for
    (just itself; several for :class:`ConfigErrors`).
    """

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key
        self.message = message
        self.errors: tuple[ConfigError, ...] = (self,)


class ConfigErrors(ConfigError):
    """Several problems found in one pass. ``source``, ``key`` and ``message`` are the first
    one's; the text is one line per problem."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        Exception.__init__(self, "\n".join(str(error) for error in errors))
        self.source = first.source
        self.key = first.key
        self.message = first.message
        self.errors = tuple(errors)


def raise_all(errors: list[ConfigError]) -> None:
    """Raise the problems of ``errors`` (flattened), as one error when there is only one;
    return when there are none."""
    problems = [single for error in errors for single in error.errors]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigErrors(problems)


class StrictSchema(Schema):
    """A configuration section: an unknown key is an error, never silently ignored."""

    class Meta:
        unknown = RAISE


class ProviderSection(StrictSchema):
    """``providers[n]``: every type has an ``id`` and a ``type``; a type's schema narrows
    ``type`` to its own name (see :func:`type_field`)."""

    id = fields.String(
        required=True,
        validate=validate.Regexp(
            PROVIDER_ID,
            error="must be 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit",
        ),
    )
    type = fields.String(required=True)


def type_field(name: str) -> fields.String:
    """The ``type`` field of the provider type ``name``."""
    return fields.String(required=True, validate=validate.Equal(name))


def https_image_url(value: str) -> None:
    """An image the pages may show: their Content-Security-Policy loads https images only."""
    if urlsplit(value).scheme != "https":
        raise ValidationError("must be an https:// URL: the gateway's pages load images over https only")


def load_section(schema: type[Schema], data: Any, source: str, where: str) -> dict[str, Any]:
    """``data`` validated by ``schema``; every problem found raises ConfigError (ConfigErrors
    for several) naming ``source`` and the dotted key below ``where`` ("" for the top level).
    An unknown key's message lists the keys its section allows."""
    if not isinstance(data, dict):
        raise ConfigError(source, where or "(top level)", "must be a mapping")
    instance = schema()
    try:
        loaded: dict[str, Any] = instance.load(data)
    except ValidationError as error:
        raise_all(
            [
                ConfigError(source, f"{where}.{key}" if where else key, message)
                for key, message in _problems(error.messages, instance)
            ]
        )
    return loaded


def load_section_or_defaults(
    schema: type[Schema], data: Any, source: str, where: str, found: list[ConfigError]
) -> dict[str, Any] | None:
    """Like :func:`load_section`, but the problems are appended to ``found`` and the section
    is loaded again without its faulty keys (their defaults instead), so that the sections
    after it can still be checked. None when even that fails (a required key is faulty)."""
    try:
        return load_section(schema, data, source, where)
    except ConfigError as error:
        problems = error.errors
    found.extend(problems)
    instance = schema()
    known = {f.data_key or name for name, f in instance.fields.items()}
    faulty = {error.key.removeprefix(f"{where}.") if where else error.key for error in problems}
    kept = (
        {}
        if not isinstance(data, dict)
        else {
            key: value
            for key, value in data.items()
            if key in known
            and not any(path == key or path.startswith((f"{key}.", f"{key}[")) for path in faulty)
        }
    )
    try:
        reloaded: dict[str, Any] = instance.load(kept)
    except ValidationError:
        return None
    return reloaded


def _problems(messages: Any, node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, message)`` for each key marshmallow's ``messages`` complain about (the
    first message of each); ``node`` is the schema or field those messages belong to."""
    if isinstance(messages, dict):
        problems = []
        for key, value in messages.items():
            if key == "_schema":  # marshmallow's key for the section itself (e.g. not a mapping)
                problems += _problems(value, node, prefix)
                continue
            step = f"[{key}]" if isinstance(key, int) else (f".{key}" if prefix else str(key))
            if value == ["Unknown field."]:
                problems.append((prefix + step, _unknown_key(node)))
            else:
                problems += _problems(value, _child(node, key), prefix + step)
        return problems
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _problems(first, node, prefix)
        return [(prefix or "(value)", str(first))]
    return [(prefix or "(value)", str(messages))]


# marshmallow's messages, as sentences that say what to write instead.
_PLAIN = {
    "Missing data for required field.": "is required: add this key with a value",
    "Field may not be null.": "has no value: write one, or remove the key to use its default",
    "Not a valid list.": "must be a list: one item per line, each starting with '- '",
    "Not a valid string.": "must be text (put it in quotes if it looks like a number or true/false)",
    "Not a valid integer.": "must be a whole number, such as 30",
    "Not a valid number.": "must be a number, such as 30",
    "Not a valid boolean.": "must be true or false",
    "Not a valid mapping type.": "must be a mapping: keys indented below it, one 'key: value' per line",
    "Invalid input type.": "must be a mapping: keys indented below it, one 'key: value' per line",
    "must be a mapping": "must be a mapping: keys indented below it, one 'key: value' per line",
    "Not a valid URL.": "must be a whole URL, such as https://example.org/path",
    "Not a valid email address.": "must be an e-mail address, such as name@example.org",
    "String does not match expected pattern.": "is not written in the form this key takes",
}
_PLAIN_PATTERNS = (
    (
        re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
        r"must be between \1 and \2",
    ),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"), r"must be \1 or more"),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"), r"must be \1 or less"),
    (re.compile(r"^Must be greater than (\S+)\.$"), r"must be more than \1"),
    (re.compile(r"^Must be less than (\S+)\.$"), r"must be less than \1"),
    (re.compile(r"^Must be one of: (.*)\.$"), r"must be one of: \1"),
    (re.compile(r"^Must be equal to (.*)\.$"), r"must be \1"),
    (
        re.compile(r"^Shorter than minimum length (\d+)\.$"),
        r"is too short: at least \1 characters (or items, for a list)",
    ),
    (
        re.compile(r"^Longer than maximum length (\d+)\.$"),
        r"is too long: at most \1 characters (or items, for a list)",
    ),
    (
        re.compile(r"^Length must be between (\d+) and (\d+)\.$"),
        r"must have \1 to \2 characters (or items, for a list)",
    ),
    (re.compile(r"^Length must be (\d+)\.$"), r"must have exactly \1 characters (or items, for a list)"),
)


def plain_words(message: str) -> str:
    """``message`` as a sentence a non-developer can act on: marshmallow's common messages
    ("Not a valid list.") become what to write instead; every other message is kept."""
    if message in _PLAIN:
        return _PLAIN[message]
    for pattern, replacement in _PLAIN_PATTERNS:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message


def _schema_of(node: Any) -> Schema | None:
    if isinstance(node, Schema):
        return node
    if isinstance(node, fields.Nested) and isinstance(node.schema, Schema):
        return node.schema
    return None


def _child(node: Any, key: Any) -> Any:
    """The schema or field that the messages under ``key`` of ``node`` belong to."""
    if isinstance(node, fields.List) and isinstance(key, int):
        return node.inner
    schema = _schema_of(node)
    if schema is None or not isinstance(key, str):
        return None
    return next((f for name, f in schema.fields.items() if (f.data_key or name) == key), None)


def _unknown_key(node: Any) -> str:
    schema = _schema_of(node)
    if schema is None:
        return "unknown key"
    allowed = [f.data_key or name for name, f in schema.fields.items() if not f.dump_only]
    return f"unknown key; allowed: {', '.join(allowed)}"


def settings_value(cls: type[V], options: dict[str, Any], **given: Any) -> V:
    """The frozen dataclass ``cls`` built from a validated section: each field is the value
    ``given`` for it, else the option of the same name (a list becomes a tuple). A field with
    neither is a KeyError, so a renamed option is never silently left at its default."""
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = given[field.name] if field.name in given else options[field.name]
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
