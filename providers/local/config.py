"""The ``type: local`` provider section of the configuration: how passwords are hashed, and how
long a proven password is remembered."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from providers.schema import ProviderSection, StrictSchema, type_field


class _Hashing(StrictSchema):
    slots = fields.Integer(load_default=2, validate=validate.Range(1, 64))
    wait_seconds = fields.Float(load_default=10.0, validate=validate.Range(0.1, 60))
    time_cost = fields.Integer(load_default=2, validate=validate.Range(1, 20))
    memory_cost_kib = fields.Integer(load_default=19456, validate=validate.Range(8192, 1048576))
    parallelism = fields.Integer(load_default=1, validate=validate.Range(1, 16))


def hashing_defaults() -> dict[str, Any]:
    """The local provider's hashing options when the configuration gives none."""
    loaded: dict[str, Any] = _Hashing().load({})
    return loaded


class LocalProviderSchema(ProviderSection):
    """``providers[n]`` with ``type: local``."""

    type = type_field("local")
    hashing = fields.Nested(_Hashing, load_default=hashing_defaults)
    # Every change to a local user is seen by the cache at once, so the TTL only bounds memory.
    credential_cache_seconds = fields.Float(load_default=600.0, validate=validate.Range(0, 86400))
