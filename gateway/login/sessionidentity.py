"""Open sessions follow the changes made to their user between sign-ins.

The Registry's token path answers with the identity a session kept from its sign-in, mapped
again at every relay. Kept unchanged, a relay after an admin took someone out of a group or
lowered their quota would give the Registry the old answer (the Registry re-syncs roles at
every login) and undo the write that the outbox had just made. So whatever changes what a
fresh sign-in would give a user also rewrites the identity their open sessions keep, in the
change's own transaction: a local user's groups, per-user values, e-mail and name (the local
store's change hook) and the groups a directory sync finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from gateway.login.credchanges import record_change
from gateway.storage.models import SsoSession
from providers.base import MUST_CHANGE_PASSWORD, Identity
from providers.local.models import LocalUser
from providers.local.provider import local_subject
from providers.sql import utcnow


def follow_in_open_sessions(
    session: Session, username: str, subject: str, change: Callable[[Identity], Identity]
) -> int:
    """Apply ``change`` to the identity kept by every open session of ``username`` opened by
    the person ``subject``, in ``session``'s transaction; returns how many changed."""
    now = utcnow()
    rows = session.execute(
        select(SsoSession.id, SsoSession.identity).where(
            SsoSession.username == username, SsoSession.revoked_at.is_(None), SsoSession.expires_at > now
        )
    ).all()
    changed = 0
    for row in rows:
        kept = Identity.from_dict(row.identity)
        if kept.subject != subject:
            continue
        followed = change(kept)
        if followed != kept:
            session.execute(
                update(SsoSession).where(SsoSession.id == row.id).values(identity=followed.to_dict())
            )
            changed += 1
    return changed


def local_user_changed(session: Session, username: str | None) -> None:
    """The local store's change hook (run inside each change's transaction): logins cached for
    ``username`` (everyone's, for None) are proven again, and the open sessions of the local
    users concerned keep the identity the transaction leaves them with."""
    record_change(session, username)
    session.flush()  # the change's own writes first: the reads below see them
    if username is None:
        usernames = session.scalars(
            select(SsoSession.username)
            .where(SsoSession.revoked_at.is_(None), SsoSession.expires_at > utcnow())
            .distinct()
        ).all()
    else:
        usernames = [username]
    for name in usernames:
        user = session.scalars(
            select(LocalUser).options(selectinload(LocalUser.groups)).where(LocalUser.username == name)
        ).one_or_none()
        if user is not None:
            follow_in_open_sessions(session, name, local_subject(user.id), _as_stored(user))


def _as_stored(user: LocalUser) -> Callable[[Identity], Identity]:
    """What the local provider would say of ``user`` now, laid over a kept identity."""
    groups = tuple(sorted(group.name for group in user.groups))

    def change(kept: Identity) -> Identity:
        attributes = {key: value for key, value in kept.attributes.items() if key != MUST_CHANGE_PASSWORD}
        if user.must_change_password:
            attributes[MUST_CHANGE_PASSWORD] = True
        return replace(
            kept,
            email=user.email,
            display_name=user.display_name,
            groups=groups,
            overrides=dict(user.overrides or {}),
            attributes=attributes,
        )

    return change
