"""Queue a user's organizations for the Registry only when they changed.

A sign-in (and every directory sync run) computes what the mapping rules grant; queuing it
each time would send the Registry the same memberships again and again. The organizations
last queued for each user are kept in ``registry_org_targets``, and a push is queued only
when the new grant differs, in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from gateway.mapping import Evaluation
from gateway.registry.push import RegistryPush
from gateway.storage.db import Database
from gateway.storage.registrystate import RegistryOrgTarget
from providers.base import Identity
from providers.sql import utcnow

log = logging.getLogger(__name__)


def granted_organizations(evaluation: Evaluation) -> dict[str, int]:
    """The organizations (slug → level) ``evaluation`` puts its user in: none when the mapping
    refuses them (a refused user is deactivated at the Registry, not made a member)."""
    return {} if evaluation.denied else dict(evaluation.organizations)


def queue_organizations(
    session: Session,
    push: RegistryPush,
    username: str,
    organizations: Mapping[str, int],
    *,
    force: bool = False,
) -> bool:
    """Queue ``organizations`` (slug → level) for ``username`` through ``push`` when they
    differ from what was last queued for the user (always with ``force``). Returns whether
    something was queued. Does nothing when ``push`` is switched off."""
    if not push.enabled:
        return False
    wanted = dict(organizations)
    last = session.get(RegistryOrgTarget, username)
    if last is not None and last.organizations == wanted and not force:
        return False
    if last is None:
        if not wanted and not force:
            return False  # never granted anything: nothing to take away either
        session.add(RegistryOrgTarget(username=username, organizations=wanted))
    else:
        last.organizations = wanted
        last.queued_at = utcnow()
    push.organizations(session, username, wanted)
    return True


class OrganizationsOnSignIn:
    """A sign-in listener (:meth:`gateway.login.service.LoginService.add_sign_in_listener`):
    queues the user's organizations when they differ from the last queued, then calls
    ``wake`` (the deliverer's) so they reach the Registry within moments. Never raises: a
    failure is logged, and the next sign-in or directory sync run queues them again."""

    def __init__(self, database: Database, push: RegistryPush, wake: Callable[[], None] = lambda: None):
        self._database = database
        self._push = push
        self._wake = wake

    def __call__(self, identity: Identity, evaluation: Evaluation) -> None:
        if not self._push.enabled or not identity.username:
            return
        try:
            with self._database.session() as session:
                queued = queue_organizations(
                    session, self._push, identity.username, granted_organizations(evaluation)
                )
            if queued:
                self._wake()
        except Exception:
            log.exception("Could not queue the organizations of %s for the Registry", identity.username)
