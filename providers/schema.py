"""What every provider type's configuration section shares: the error type, a strict schema
base, the provider id rule, and loading a section so that errors name the dotted key.

The gateway's own configuration sections use the same pieces (``gateway.config`` re-exports
:class:`ConfigError`), so every configuration error reads alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate

PROVIDER_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
V = TypeVar("V")


class ConfigError(Exception):
    """A configuration value is missing, unknown or invalid.

    ``source`` is the file (or ``environment``), ``key`` a dotted path such as
    ``mapping.rules[2].maxStorageMB``.
    """

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key
        self.message = message


class StrictSchema(Schema):
    """A configuration section: an unknown key is an error, never silently ignored."""

    class Meta:
        unknown = RAISE


class ProviderSection(StrictSchema):
    """``providers[n]``: every type has an ``id`` and a ``type``; a type's schema narrows
    ``type`` to its own name (see :func:`type_field`)."""

    id = fields.String(required=True, validate=validate.Regexp(PROVIDER_ID))
    type = fields.String(required=True)


def type_field(name: str) -> fields.String:
    """The ``type`` field of the provider type ``name``."""
    return fields.String(required=True, validate=validate.Equal(name))


def https_image_url(value: str) -> None:
    """An image the pages may show: their Content-Security-Policy loads https images only."""
    if urlsplit(value).scheme != "https":
        raise ValidationError("must be an https:// URL: the gateway's pages load images over https only")


def load_section(schema: type[Schema], data: Any, source: str, where: str) -> dict[str, Any]:
    """``data`` validated by ``schema``; the first problem raises ConfigError naming
    ``source`` and the dotted key below ``where`` ("" for the top level)."""
    if not isinstance(data, dict):
        raise ConfigError(source, where or "(top level)", "must be a mapping")
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as error:
        key, message = _first_error(error.messages)
        raise ConfigError(source, f"{where}.{key}" if where else key, message) from None
    return loaded


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        if key == "_schema":  # marshmallow's key for the section itself (e.g. not a mapping)
            return _first_error(value, prefix)
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if prefix else str(key))
        return _first_error(value, prefix + step)
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _first_error(first, prefix)
        text = str(first)
        return prefix or "(value)", "unknown key" if text == "Unknown field." else text
    return prefix or "(value)", str(messages)


def settings_value(cls: type[V], options: dict[str, Any], **given: Any) -> V:
    """The frozen dataclass ``cls`` built from a validated section: each field is the value
    ``given`` for it, else the option of the same name (a list becomes a tuple). A field with
    neither is a KeyError, so a renamed option is never silently left at its default."""
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = given[field.name] if field.name in given else options[field.name]
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
