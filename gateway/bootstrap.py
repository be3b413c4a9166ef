"""First-start work: schema, a signing key, and the local admin on an empty database."""

from __future__ import annotations

import logging
import secrets
import sys

from gateway.admin.useroperations import UserService
from gateway.config.errors import ConfigError
from gateway.services import Services
from gateway.storage.db import PREPARE_LOCK_KEY
from providers.local.policy import PasswordRejected
from providers.local.users import UserError

log = logging.getLogger(__name__)


def prepare(services: Services, *, migrate: bool | None = None, announce=None) -> None:
    """Make the database ready to serve. Safe to run on every start, and from several
    replicas starting at once (on PostgreSQL they take turns)."""
    with services.database.exclusive(PREPARE_LOCK_KEY):
        if migrate if migrate is not None else services.settings.auto_migrate:
            services.database.upgrade()
        services.keyring.ensure_signing_key()
        services.policies.seed()
        ensure_admin(services, announce=announce)


def ensure_admin(services: Services, announce=None) -> str | None:
    """Create the local admin on a database with no users at all; return its username if made.

    Its password is GATEWAY_ADMIN_PASSWORD, or generated and shown exactly once: there is never
    a fixed default. The admin's answer carries the configured admin roles through a per-user
    override, so it keeps ``admin`` whatever the mapping rules say.
    """
    if services.local_users is None or services.local_users.count() or services.accounts.any():
        return None
    admin = services.config.admin
    password = services.settings.admin_password
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    try:
        services.local_users.policy.check(password, admin.username)
    except PasswordRejected as rejected:
        raise ConfigError("environment", "GATEWAY_ADMIN_PASSWORD", str(rejected)) from None
    try:
        UserService(services).create(
            admin.username, password, overrides={"roles": list(admin.roles)}, enforce_policy=False
        )
    except UserError:
        if services.local_users.get(admin.username) is None:
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
