"""What the gateway knows of the Registry between logins: the organization memberships it
granted, the organizations it last asked for, the storage each user uses, and leases for
periodic jobs that must run once across replicas.

* ``registry_org_grants``: one row per membership the gateway made at the Registry. Only
  these are ever removed by the gateway; memberships made by hand in the Registry are not.
* ``registry_org_targets``: per user, the organizations last queued for them, so a sign-in
  queues a push only when what the rules grant has changed.
* ``registry_storage``: per user, the Registry's storage used and quota (bytes) from
  ``GET /users/detailed``, refreshed periodically, never on the login path.
* ``job_leases``: a named lease (holder and expiry) so that one replica runs a periodic job.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from providers.sql import Base, UTCDateTime, utcnow


class RegistryOrgGrant(Base):
    """A membership of ``username`` in organization ``slug`` that the gateway made."""

    __tablename__ = "registry_org_grants"

    username: Mapped[str] = mapped_column(String(127), primary_key=True)
    slug: Mapped[str] = mapped_column(String(128), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryOrgTarget(Base):
    """The organizations (slug → level) last queued for ``username``."""

    __tablename__ = "registry_org_targets"

    username: Mapped[str] = mapped_column(String(127), primary_key=True)
    organizations: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryStorage(Base):
    """The Registry's figures for one user: bytes used, the quota in bytes (None: unlimited)."""

    __tablename__ = "registry_storage"

    username: Mapped[str] = mapped_column(String(127), primary_key=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class JobLease(Base):
    """Who runs the periodic job ``name`` until ``until``; a passed ``until`` frees it."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), nullable=False)
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


def storage_by_user(session: Session, usernames: Iterable[str] | None = None) -> dict[str, RegistryStorage]:
    """The stored Registry storage figures, by username (only ``usernames`` when given)."""
    query = select(RegistryStorage)
    if usernames is not None:
        query = query.where(RegistryStorage.username.in_(list(usernames)))
    return {row.username: row for row in session.scalars(query)}
