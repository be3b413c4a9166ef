"""First-start work: schema, a signing key, and the local admin on an empty database."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable

from gateway.admin.useroperations import UserService
from gateway.config.adminpassword import check_admin_password
from gateway.config.settingsobjects import AdminSettings
from gateway.login.accounts import AccountRegistry
from gateway.mapping.store import PolicyStore
from gateway.storage.db import PREPARE_LOCK_KEY, Database
from gateway.tokens import KeyRing
from providers.local.users import LocalUsers, UserError

log = logging.getLogger(__name__)


def prepare(
    database: Database,
    keyring: KeyRing,
    policies: PolicyStore,
    ensure_admin: Callable[[], object],
    *,
    migrate: bool,
    apply_policy: Callable[[], object] = lambda: None,
) -> None:
    """Make the database ready to serve: migrate it (when ``migrate``), make sure there is a
    signing key, seed the mapping policy, call ``ensure_admin``, then ``apply_policy`` (a
    changed mapping file's Registry writes: gateway.admin.filepolicy). Safe to run on every
    start, and from several replicas starting at once (on PostgreSQL they take turns)."""
    with database.exclusive(PREPARE_LOCK_KEY):
        if migrate:
            database.upgrade()
        keyring.ensure_signing_key()
        policies.seed()
        ensure_admin()
        apply_policy()


def ensure_admin(
    local_users: LocalUsers | None,
    accounts: AccountRegistry,
    operations: UserService,
    admin: AdminSettings,
    password: str | None,
    announce=None,
) -> str | None:
    """Create the local admin on a database with no users at all; return its username if made.

    Its password is ``password`` (GATEWAY_ADMIN_PASSWORD), or generated and shown exactly once: there is never
    a fixed default. The admin's answer carries the configured admin roles through a per-user
    override, so it keeps ``admin`` whatever the mapping rules say.
    """
    if local_users is None or local_users.count() or accounts.any():
        return None
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(18)
    check_admin_password(password, local_users.policy, admin.username)
    try:
        operations.create(
            admin.username, password, overrides={"roles": list(admin.roles)}, enforce_policy=False
        )
    except UserError:
        if local_users.get(admin.username) is None:
            raise
        return None  # another replica starting at the same moment made it first
    if generated:
        (announce or _announce)(
            f"Created the local admin user {admin.username!r} with password: {password}\n"
            "This password is shown only now. Change it with: gateway users set-password "
            f"{admin.username}"
        )
    else:
        log.info("created the local admin user %r from GATEWAY_ADMIN_PASSWORD", admin.username)
    return admin.username


def _announce(message: str) -> None:
    bar = "=" * 72
    print(f"\n{bar}\n{message}\n{bar}\n", file=sys.stderr, flush=True)
