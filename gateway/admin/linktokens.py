"""Single-use links (password reset, address verification): a random token in the link, only
its SHA-256 in the database, valid until it expires or is used once."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.storage.db import Database
from gateway.storage.mailqueue import SelfServiceToken
from providers.sql import utcnow

RESET = "reset"
VERIFY = "verify"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what token_urlsafe(32) makes


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkTokens:
    def __init__(self, database: Database):
        self._database = database

    def issue(self, session: Session, purpose: str, username: str, minutes: int) -> str:
        """A new token for ``username`` in ``session``'s transaction; earlier unused tokens of
        the same purpose stop working (only the newest link counts)."""
        self.revoke(session, purpose, username)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        session.add(
            SelfServiceToken(
                digest=digest(token),
                purpose=purpose,
                username=username,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
        )
        return token

    def revoke(self, session: Session, purpose: str, username: str) -> None:
        session.execute(
            update(SelfServiceToken)
            .where(
                SelfServiceToken.username == username,
                SelfServiceToken.purpose == purpose,
                SelfServiceToken.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )

    def peek(self, token: str, purpose: str) -> str | None:
        """The username of a live token, without using it; None for anything else."""
        if not TOKEN.fullmatch(token):
            return None
        with self._database.session() as session:
            return session.scalar(
                select(SelfServiceToken.username).where(
                    SelfServiceToken.digest == digest(token),
                    SelfServiceToken.purpose == purpose,
                    SelfServiceToken.used_at.is_(None),
                    SelfServiceToken.expires_at > utcnow(),
                )
            )

    def consume(self, token: str, purpose: str) -> str | None:
        """Use the token: its username the first time, None ever after (or when it is
        unknown or expired). One conditional UPDATE, so two concurrent uses get one success."""
        username = self.peek(token, purpose)
        if username is None:
            return None
        with self._database.session() as session:
            used = session.execute(
                update(SelfServiceToken)
                .where(
                    SelfServiceToken.digest == digest(token),
                    SelfServiceToken.used_at.is_(None),
                    SelfServiceToken.expires_at > utcnow(),
                )
                .values(used_at=utcnow())
            )
            return username if getattr(used, "rowcount", 0) == 1 else None
