"""The directory sync's tables: its run history and the lease that keeps one run at a time.

``directory_sync_runs`` keeps the last few runs (results for the admin UI and API, and when the
last real run started, which the periodic schedule of every replica reads).
``directory_sync_lease`` holds one row per lease name: whoever holds it until ``held_until``
runs; a holder that died frees it when that time passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from providers.sql import Base, UTCDateTime, utcnow


class DirectorySyncRun(Base):
    """One sync run: who asked, when, and what it found (``result``, see SyncResult.to_dict)."""

    __tablename__ = "directory_sync_runs"
    __table_args__ = (Index("ix_directory_sync_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(127), nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # "running", "done" (every directory read), "partial" (some read failed) or "failed".
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DirectorySyncLease(Base):
    """A named lease across replicas (``directory-sync``)."""

    __tablename__ = "directory_sync_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
