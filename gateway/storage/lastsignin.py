"""``user_last_signin``: per user and way in, the last successful sign-in (when, from which
client address, with which user agent). One row per user and path, overwritten in place; the
writer (``gateway.login.lastsignin``) coalesces repeats so the tile hot path does not write
per request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from providers.sql import Base, UTCDateTime


class UserLastSignIn(Base):
    """The last successful sign-in of ``username`` on ``path`` (see PATHS in
    ``gateway.login.lastsignin``)."""

    __tablename__ = "user_last_signin"
    __table_args__ = (Index("ix_user_last_signin_at", "at"),)

    username: Mapped[str] = mapped_column(String(127), primary_key=True)
    path: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Only what the gateway can vouch for: the peer, or the address a trusted proxy forwarded.
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
