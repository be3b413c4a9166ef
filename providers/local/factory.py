"""The ``local`` provider type: users and argon2id hashes in the gateway's own database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Closable, HealthCheck, IdentityLookup, PasswordProvider
from providers.local.config import LocalProviderSchema, hashing_defaults
from providers.local.hashing import CappedHasher
from providers.local.provider import LocalProvider
from providers.local.users import LocalUsers
from providers.providertype import BuildContext, BuiltProvider, ProviderType


def build(provider_id: str, options: Mapping[str, Any], context: BuildContext) -> BuiltProvider:
    """A local provider and the user store it reads, sharing one capped hasher."""
    hashing = {**hashing_defaults(), **options.get("hashing", {})}
    hasher = CappedHasher(
        provider_id,
        slots=hashing["slots"],
        wait_seconds=hashing["wait_seconds"],
        time_cost=hashing["time_cost"],
        memory_cost=hashing["memory_cost_kib"],
        parallelism=hashing["parallelism"],
    )
    return BuiltProvider(
        LocalProvider(provider_id, context.engine, hasher),
        users=LocalUsers(context.sessions, hasher, context.password_policy, on_change=context.on_change),
    )


PROVIDER_TYPE = ProviderType(
    "local",
    LocalProviderSchema,
    build,
    capabilities=(PasswordProvider, IdentityLookup, HealthCheck, Closable),
)
