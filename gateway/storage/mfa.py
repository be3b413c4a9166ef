"""Tables of multi-factor sign-in: each person's second factors (TOTP secrets, encrypted at
rest; WebAuthn passkeys, public keys only) and their one-time recovery codes (argon2 hashes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from providers.sql import Base, UTCDateTime, utcnow


class MfaFactor(Base):
    """A second factor of ``username``. ``kind`` ``totp``: ``secret`` is the RFC 6238 secret
    encrypted with the key-encryption key (as signing keys are). ``kind`` ``webauthn``: a
    passkey's ``credential_id`` (base64url), COSE ``public_key``, ``sign_count`` and
    ``transports``; nothing secret is stored for it."""

    __tablename__ = "mfa_factors"
    __table_args__ = (
        Index("ix_mfa_factors_username", "username"),
        UniqueConstraint("credential_id", name="uq_mfa_factors_credential_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_id: Mapped[str | None] = mapped_column(String(1400))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MfaRecoveryCode(Base):
    """One one-time recovery code of ``username``: only its argon2id hash; ``used_at`` once used."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (Index("ix_mfa_recovery_codes_username", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
