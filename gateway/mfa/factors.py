"""Where a person's second factors and recovery codes are kept (``gateway.storage.mfa``).

TOTP secrets are encrypted at rest with :class:`gateway.tokens.KeyCipher` (the key-encryption
mechanism of signing keys); passkeys keep only their public key; recovery codes only an
argon2id hash, and each works once. Every change writes a credential change
(:mod:`gateway.login.credchanges`), so the Registry's password path re-checks the account at
once (an account that just enrolled must not be served from the verified-credentials cache).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, delete, func, select, update

from gateway.login.credchanges import record_change
from gateway.storage.db import Database
from gateway.storage.mfa import MfaFactor, MfaRecoveryCode
from gateway.tokens import KeyCipher
from providers.sql import utcnow

TOTP = "totp"
PASSKEY = "webauthn"
MAX_FACTORS_PER_USER = 10
MAX_NAME_LENGTH = 100
RECOVERY_CODES = 10
# 10 characters of 31 without look-alikes (no i, l, o, 0, 1): 49 bits, shown as xxxxx-xxxxx.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# OWASP's argon2id minimum: a recovery code has 50 random bits and is throttled, so the hash
# need not be as slow as a password's; a sign-in may check all ten.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class FactorError(ValueError):
    """A factor that cannot be added; the message is safe to show."""


@dataclass(frozen=True)
class FactorView:
    """What a person and an admin see of a factor: never its secret."""

    id: str
    kind: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passkey:
    """A stored passkey, as a WebAuthn assertion is checked against it."""

    id: str
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


def clean_name(name: str, default: str) -> str:
    """``name`` with its whitespace folded, or ``default``; FactorError if unprintable or long."""
    name = " ".join((name or "").split()) or default
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise FactorError(f"a name is at most {MAX_NAME_LENGTH} printable characters")
    return name


def normalize_recovery_code(code: str) -> str:
    """A recovery code as typed (any case, spaces or dashes) in its stored form."""
    return "".join(ch for ch in code.lower() if ch.isalnum())[:64]


class FactorStore:
    def __init__(self, database: Database, cipher: KeyCipher):
        self._db = database
        self._cipher = cipher

    def __repr__(self) -> str:
        return "FactorStore(<cipher>)"

    # ---- reading -------------------------------------------------------------------------

    def views(self, username: str) -> list[FactorView]:
        """``username``'s factors, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(MfaFactor).where(MfaFactor.username == username).order_by(MfaFactor.created_at)
            ).all()
            return [
                FactorView(r.id, r.kind, r.name, r.created_at, r.last_used_at, tuple(r.transports or ()))
                for r in rows
            ]

    def has_factors(self, username: str) -> bool:
        """Whether ``username`` has enrolled any second factor."""
        with self._db.session() as session:
            found = session.scalar(select(MfaFactor.id).where(MfaFactor.username == username).limit(1))
            return found is not None

    def totp_secrets(self, username: str) -> list[tuple[str, str]]:
        """``(factor id, base32 secret)`` of each of ``username``'s TOTP factors."""
        with self._db.session() as session:
            rows = session.execute(
                select(MfaFactor.id, MfaFactor.secret).where(
                    MfaFactor.username == username, MfaFactor.kind == TOTP
                )
            ).all()
        return [(row.id, self._cipher.decrypt(row.secret).decode("ascii")) for row in rows if row.secret]

    def passkeys(self, username: str) -> list[Passkey]:
        with self._db.session() as session:
            rows = session.scalars(
                select(MfaFactor).where(MfaFactor.username == username, MfaFactor.kind == PASSKEY)
            ).all()
            return [
                Passkey(r.id, r.credential_id or "", r.public_key or b"", r.sign_count, tuple(r.transports))
                for r in rows
            ]

    # ---- enrolling and removing ------------------------------------------------------------

    def add_totp(self, username: str, name: str, secret: str) -> FactorView:
        return self._add(username, TOTP, clean_name(name, "Authenticator app"), secret=secret)

    def add_passkey(
        self,
        username: str,
        name: str,
        credential_id: str,
        public_key: bytes,
        sign_count: int,
        transports: tuple[str, ...],
    ) -> FactorView:
        return self._add(
            username,
            PASSKEY,
            clean_name(name, "Passkey"),
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            transports=transports,
        )

    def _add(self, username: str, kind: str, name: str, **fields) -> FactorView:
        secret = fields.pop("secret", None)
        row = MfaFactor(
            id=secrets.token_hex(8),
            username=username,
            kind=kind,
            name=name,
            secret=None if secret is None else self._cipher.encrypt(secret.encode("ascii")),
            credential_id=fields.get("credential_id"),
            public_key=fields.get("public_key"),
            sign_count=fields.get("sign_count", 0),
            transports=list(fields.get("transports", ())),
            created_at=utcnow(),
        )
        with self._db.session() as session:
            count = session.scalar(
                select(func.count()).select_from(MfaFactor).where(MfaFactor.username == username)
            )
            if (count or 0) >= MAX_FACTORS_PER_USER:
                raise FactorError(f"at most {MAX_FACTORS_PER_USER} second factors per person")
            if row.credential_id is not None and session.scalar(
                select(MfaFactor.id).where(MfaFactor.credential_id == row.credential_id)
            ):
                raise FactorError("this passkey is already registered")
            session.add(row)
            record_change(session, username)
        return FactorView(row.id, kind, name, row.created_at, None, tuple(row.transports))

    def remove(self, username: str, factor_id: str) -> FactorView | None:
        """Remove one of ``username``'s factors; with the last one go the recovery codes."""
        with self._db.session() as session:
            row = session.scalar(
                select(MfaFactor).where(MfaFactor.username == username, MfaFactor.id == factor_id[:32])
            )
            if row is None:
                return None
            view = FactorView(row.id, row.kind, row.name, row.created_at, row.last_used_at)
            session.delete(row)
            session.flush()
            if session.scalar(select(MfaFactor.id).where(MfaFactor.username == username).limit(1)) is None:
                session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.username == username))
            record_change(session, username)
        return view

    def reset(self, username: str) -> int:
        """Remove every factor and recovery code of ``username``; how many factors went."""
        with self._db.session() as session:
            removed = cast(
                CursorResult, session.execute(delete(MfaFactor).where(MfaFactor.username == username))
            ).rowcount
            session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.username == username))
            record_change(session, username)
        return int(removed or 0)

    def touch(self, factor_id: str, sign_count: int | None = None) -> None:
        """Record a use of a factor (and a passkey's new signature counter)."""
        values: dict[str, object] = {"last_used_at": utcnow()}
        if sign_count is not None:
            values["sign_count"] = sign_count
        with self._db.session() as session:
            session.execute(update(MfaFactor).where(MfaFactor.id == factor_id).values(**values))

    # ---- recovery codes ------------------------------------------------------------------

    def new_recovery_codes(self, username: str) -> list[str]:
        """Replace ``username``'s recovery codes with RECOVERY_CODES fresh ones, returned only
        here (shown once), stored hashed."""
        codes = [
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)
        ]
        now = utcnow()
        with self._db.session() as session:
            session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.username == username))
            for code in codes:
                session.add(MfaRecoveryCode(username=username, code_hash=_HASHER.hash(code), created_at=now))
        return [f"{code[:5]}-{code[5:]}" for code in codes]

    def recovery_codes_left(self, username: str) -> int:
        with self._db.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(MfaRecoveryCode)
                    .where(MfaRecoveryCode.username == username, MfaRecoveryCode.used_at.is_(None))
                )
                or 0
            )

    def use_recovery_code(self, username: str, code: str) -> bool:
        """Whether ``code`` is one of ``username``'s unused recovery codes; if so it is spent
        (once: a concurrent second use of the same code finds it used)."""
        typed = normalize_recovery_code(code)
        if len(typed) != 10:
            return False
        with self._db.session() as session:
            rows = session.execute(
                select(MfaRecoveryCode.id, MfaRecoveryCode.code_hash).where(
                    MfaRecoveryCode.username == username, MfaRecoveryCode.used_at.is_(None)
                )
            ).all()
        for row in rows:
            try:
                _HASHER.verify(row.code_hash, typed)
            except (VerificationError, InvalidHashError):
                continue
            with self._db.session() as session:
                spent = cast(
                    CursorResult,
                    session.execute(
                        update(MfaRecoveryCode)
                        .where(MfaRecoveryCode.id == row.id, MfaRecoveryCode.used_at.is_(None))
                        .values(used_at=utcnow())
                    ),
                ).rowcount
            return bool(spent)
        return False
