"""What the gateway intends the Registry to become, queued in the caller's transaction.

Every change that alters what a user may do at the Registry calls one of these inside the
transaction that makes the change, so that the change and the intent commit together (or not
at all); the outbox (:mod:`gateway.registry.outbox`) delivers them in order per user, retried,
coalesced, once across replicas. Without a ``registry:`` section nothing is queued: callers
receive a :class:`RegistryPush` that is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.registry.outbox import enqueue
from gateway.registry.outboxwriter import DELETE_USER, SET_METADATA, SET_ORGANIZATIONS

# The Registry's role that refuses every request and every token refresh (contract §2.3, §2.6).
DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class RegistryPush:
    """Queues Registry writes; ``enabled`` is False when no Registry is configured.

    ``delete_accounts``: a user deleted at the gateway is deleted at the Registry too
    (``registry.on_delete: delete``), instead of being deactivated there. Deleting a Registry
    account also deletes the organizations (and datasets) it owns, so it is not the default.
    """

    enabled: bool = False
    delete_accounts: bool = False

    def answer(self, session: Session, username: str, answer: dict[str, Any]) -> None:
        """The Registry should hold ``answer`` (the object a fresh login would return) for
        ``username``: its metadata, roles and quota re-synced as at a login."""
        if self.enabled:
            enqueue(session, username, SET_METADATA, dict(answer))

    def deactivated(self, session: Session, username: str) -> None:
        """``username`` must be refused by the Registry from now on, tokens and refresh included."""
        if self.enabled:
            enqueue(session, username, SET_METADATA, {"roles": [DEACTIVATED]})

    def deleted(self, session: Session, username: str) -> None:
        """``username`` was deleted at the gateway: deactivated at the Registry, or deleted there
        with ``delete_accounts``."""
        if not self.enabled:
            return
        if self.delete_accounts:
            enqueue(session, username, DELETE_USER, {})
        else:
            self.deactivated(session, username)

    def organizations(self, session: Session, username: str, organizations: dict[str, int]) -> None:
        """The user's gateway-granted organization memberships should be exactly
        ``organizations`` (slug → the Registry's permission level, 0-3)."""
        if self.enabled:
            enqueue(session, username, SET_ORGANIZATIONS, {"organizations": dict(organizations)})
