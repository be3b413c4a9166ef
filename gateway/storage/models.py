"""Gateway tables: username ownership, signing keys, SSO sessions, app passwords and API keys,
the audit log, the role names and the stored mapping policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage import directorysync as _sync_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import lastsignin as _last_signin_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import mailqueue as _mail_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import mfa as _mfa_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import outbox as _outbox_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import providertable as _provider_model  # noqa: F401  (one metadata for Alembic)
from gateway.storage import registrystate as _registry_state_model  # noqa: F401  (one metadata for Alembic)
from providers.local import models as _local_models  # noqa: F401  (one metadata for Alembic)
from providers.sql import Base, UTCDateTime, utcnow


class Account(Base):
    """One row per username ever handed out: which provider identity owns it."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    username: Mapped[str] = mapped_column(String(127), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the gateway learnt that the Registry has an account of this name though nobody has
    # signed in through the gateway with it (a user imported from the Registry); None otherwise.
    # Such an account is written to (disabled, deleted, re-mapped) as one that signed in is.
    registry_account_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_groups: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # The identity of the last browser (SSO) login: what an app-password login answers with,
    # since an IdP cannot be asked about a user without the user present.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What the mapping read of the identity at the last login or sync besides its groups (e-mail,
    # display name, attributes, overrides: gateway.login.accounts.details_of), so a directory
    # sync can tell the answer that identity gave from the one the directory gives now. NULL
    # until the first login or sync after migration 0014.
    last_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SigningKey(Base):
    """A token-signing key pair. The private half is encrypted with the environment's key."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    private_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Set when a newer key takes over signing; the key still verifies until expires_at.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SsoSession(Base):
    """A login session that tokens are bound to; revoking it revokes all its tokens."""

    __tablename__ = "sso_sessions"
    __table_args__ = (
        Index("ix_sso_sessions_username", "username"),
        Index("ix_sso_sessions_idp_session", "provider", "idp_session"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The ID token of the browser login, sealed (gateway.sso.service.ID_TOKEN_HKDF_INFO), for
    # id_token_hint at the IdP's logout; NULL once the session is revoked. Deferred: only the
    # sign-out path reads it.
    sealed_id_token: Mapped[str | None] = mapped_column(Text, deferred=True)
    # The IdP's session id (the ID token's sid), which its back-channel logout may name.
    idp_session: Mapped[str | None] = mapped_column(String(255))


class AuditEvent(Base):
    """Something worth answering for later: a login outcome or an administrative change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    username: Mapped[str | None] = mapped_column(String(127))
    provider: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class AppPassword(Base):
    """A named password for the command line (``ddb login``), created by a user after a browser
    login. Only a SHA-256 of its random secret is stored: the secret has 256 bits of entropy,
    so a slow hash would add cost without adding protection."""

    __tablename__ = "app_passwords"
    __table_args__ = (Index("ix_app_passwords_username", "username"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    # "app": an app password for the contract's password path; "api": a personal API key for
    # the admin API. Same shape, never interchangeable.
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="app", server_default="app")
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Role(Base):
    """A role name the gateway hands out; rules and per-user overrides grant them."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class MappingPolicyRow(Base):
    """The mapping policy when it is managed in the database: one row, versioned so that every
    worker and replica notices a change and a stale editor cannot overwrite a newer one."""

    __tablename__ = "mapping_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(127))


class MappingApplied(Base):
    """The file's mapping policy (``mapping_source: file``) last applied to the Registry: one
    row, so that the first process to start with an edited file compares the answers under the
    two and queues the changed ones (gateway.admin.filepolicy)."""

    __tablename__ = "mapping_applied"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CredentialChange(Base):
    """A change after which credentials proven earlier must be proven again: a password set,
    a user disabled or deleted, an app password or API key revoked, sessions ended, a local
    user's groups or values changed. Every process's verified-credentials cache reads these
    (``gateway.login.credcache``) and forgets what they name; ``username`` NULL means everyone."""

    __tablename__ = "credential_changes"
    __table_args__ = (Index("ix_credential_changes_changed_at", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str | None] = mapped_column(String(127))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
