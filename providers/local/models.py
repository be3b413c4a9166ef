"""Tables of the local user database: users, their groups (teams) and group membership."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from providers.sql import Base, UTCDateTime, utcnow


class LocalUser(Base):
    __tablename__ = "local_users"
    # Ids name the user's identity ("local:<id>"): never hand a deleted user's id to a new one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(127), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Per-user answer overrides, e.g. {"maxStorageMB": 10240, "roles": ["admin"]}.
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # A temporary password set by an admin: the user must choose their own at the next sign-in,
    # and the Registry's password path refuses the account until then.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # A self-registered account not yet admitted: "unverified" (waits for the e-mail link) or
    # "pending" (waits for an admin). Such an account is disabled; NULL for every other user.
    registration_state: Mapped[str | None] = mapped_column(String(16))

    groups: Mapped[list[LocalGroup]] = relationship(
        secondary="local_group_members", back_populates="members", order_by="LocalGroup.name"
    )


class LocalGroup(Base):
    __tablename__ = "local_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    members: Mapped[list[LocalUser]] = relationship(
        secondary="local_group_members", back_populates="groups", order_by="LocalUser.username"
    )


class LocalGroupMember(Base):
    __tablename__ = "local_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("local_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("local_users.id", ondelete="CASCADE"), primary_key=True)
