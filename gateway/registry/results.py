"""Typed answers of the Registry's admin API (``Registry.Web/Models/DTO/``), read leniently:
an unexpected field is ignored, a missing one takes its empty value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal


class OrgPermission(IntEnum):
    """``Registry.Common/OrganizationPermissions.cs``."""

    READ_ONLY = 0
    READ_WRITE = 1
    READ_WRITE_DELETE = 2
    ADMIN = 3


@dataclass(frozen=True)
class StorageInfo:
    """``UserStorageInfo``: ``total`` bytes (None: unlimited) and ``used`` bytes."""

    total: int | None
    used: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> StorageInfo:
        return cls(total=_int_or_none(body.get("total")), used=_int_or_none(body.get("used")) or 0)


@dataclass(frozen=True)
class RegistryUserDetail:
    """One entry of ``GET /users/detailed`` (``UserDetailDto``)."""

    username: str
    email: str | None
    roles: tuple[str, ...]
    organizations: tuple[str, ...]
    storage_quota: int | None
    storage_used: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> RegistryUserDetail:
        return cls(
            username=str(body.get("userName") or ""),
            email=body.get("email"),
            roles=tuple(str(r) for r in body.get("roles") or ()),
            organizations=tuple(str(o) for o in body.get("organizations") or ()),
            storage_quota=_int_or_none(body.get("storageQuota")),
            storage_used=_int_or_none(body.get("storageUsed")) or 0,
        )


@dataclass(frozen=True)
class Membership:
    """One entry of ``GET /users/{name}/orgs`` (``UserOrganizationMembershipDto``);
    ``permissions`` is None for the organization's owner."""

    slug: str
    name: str
    is_owner: bool
    permissions: OrgPermission | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Membership:
        level = body.get("permissions")
        permissions = None
        if isinstance(level, int) and level in {p.value for p in OrgPermission}:
            permissions = OrgPermission(level)
        return cls(
            slug=str(body.get("slug") or ""),
            name=str(body.get("name") or ""),
            is_owner=bool(body.get("isOwner")),
            permissions=permissions,
        )


@dataclass(frozen=True)
class Organization:
    """One entry of ``GET /orgs`` (``OrganizationDto``)."""

    slug: str
    name: str
    description: str
    owner: str | None
    is_public: bool

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Organization:
        return cls(
            slug=str(body.get("slug") or ""),
            name=str(body.get("name") or ""),
            description=str(body.get("description") or ""),
            owner=body.get("owner"),
            is_public=bool(body.get("isPublic")),
        )


@dataclass(frozen=True)
class RegistryHealth:
    """What :meth:`RegistryClient.health` found: ``ok``, or ``degraded`` with a reason fit to
    show in ``/readyz`` (the gateway keeps answering logins either way)."""

    status: Literal["ok", "degraded"]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
