"""A sign-in supersedes a Registry write still waiting in the outbox.

A user deactivated at the Registry because their IdP session ended (back-channel logout,
``on_logout: deactivate``) gets their roles back at their next login: the Registry syncs roles
from the login's answer. If the Registry was unreachable meanwhile, the deactivation is still
waiting in the outbox when they sign in again, and would arrive after that login and lock them
out until the next one. So a granted sign-in of a user with a metadata write still pending
queues the sign-in's own answer in its place (the outbox keeps one pending write per user and
kind): the Registry ends up with what the latest login said. A pending write that already says
what the sign-in says is left alone: replacing it would only send the same write twice when a
deliverer has it in hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from gateway.login.answer import build_answer
from gateway.mapping import Evaluation
from gateway.registry.outbox import TABLE
from gateway.registry.outboxwriter import SET_METADATA
from gateway.registry.push import RegistryPush
from gateway.storage.db import Database
from gateway.storage.models import Account
from gateway.storage.outbox import PENDING
from providers.base import Identity

log = logging.getLogger(__name__)


class AnswerOnSignIn:
    """A sign-in listener (:meth:`gateway.login.service.LoginService.add_sign_in_listener`):
    when the signed-in user has a Registry metadata write pending, queue this sign-in's answer
    instead (unless it already says the same), then ``wake`` the deliverer. One indexed read
    per sign-in while a Registry is configured; never raises (a failure is logged)."""

    def __init__(self, database: Database, push: RegistryPush, wake: Callable[[], None] = lambda: None):
        self._database = database
        self._push = push
        self._wake = wake

    def __call__(self, identity: Identity, evaluation: Evaluation) -> None:
        if not self._push.enabled or not identity.username or evaluation.denied:
            return
        username = identity.username
        answer = build_answer(username, evaluation)
        try:
            with self._database.engine.connect() as connection:
                pending = connection.execute(
                    select(TABLE.c.payload)
                    .where(
                        TABLE.c.username == username,
                        TABLE.c.state == PENDING,
                        TABLE.c.kind == SET_METADATA,
                    )
                    .order_by(TABLE.c.id.desc())
                    .limit(1)
                ).first()
            if pending is None or pending.payload == answer:
                return
            with self._database.session() as session:
                # The account row, locked (PostgreSQL; SQLite's single writer refuses a stale
                # snapshot's write): a disable committing meanwhile queues its deactivation
                # after this answer, or this sign-in sees it and queues nothing.
                disabled = session.execute(
                    select(Account.disabled).where(Account.username == username).with_for_update()
                ).scalar()
                if disabled is not False:
                    return
                self._push.answer(session, username, answer)
            self._wake()
        except Exception:
            log.exception("Could not queue the sign-in answer of %s for the Registry", username)
