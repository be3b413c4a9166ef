"""What the outbox asks of a Registry client: one method per kind of write, and three ways
for a write to fail.

The real client (built on the Registry's admin API, registry-contract.md §2.6) implements
:class:`RegistryWriter`; tests use a fake. Each method takes the Registry username and the
row's payload, and returns when the Registry has accepted the write. It raises:

* :class:`UnknownRegistryUser` when the Registry has no such user: the write is dropped, not
  retried (the user has never logged in, or was deleted; their next login brings them in step),
  except a ``set_organizations``, which is first tried again a few times within seconds (a
  first login's account appears only after the gateway's answer);
* :class:`PermanentWriteError` when the Registry refused the write for good (its 400
  ``{"error": ...}``): the row is marked failed with the Registry's text;
* anything else (:class:`RetryableWriteError`, a timeout, a refused connection, a 5xx) is
  retried later with backoff.
"""

from __future__ import annotations

from typing import Any, Protocol

# The kinds of write, with the payload each one carries.
SET_METADATA = "set_metadata"  # payload: the login answer object, e.g. {"roles": [...], ...}
DELETE_USER = "delete_user"  # payload: {} (or a note for the operator; never sent)
SET_ORGANIZATIONS = "set_organizations"  # payload: {"organizations": {slug: permissions}}
KINDS = (SET_METADATA, DELETE_USER, SET_ORGANIZATIONS)


class RegistryWriter(Protocol):
    """Makes one Registry write per call, bounded in time."""

    def set_metadata(self, username: str, payload: dict[str, Any]) -> None:
        """``POST /users/{username}/meta`` with ``payload``: metadata replaced, roles and
        quota re-synced as at a login."""

    def delete_user(self, username: str, payload: dict[str, Any]) -> None:
        """``DELETE /users/{username}``."""

    def set_organizations(self, username: str, payload: dict[str, Any]) -> None:
        """Bring the user's organization memberships to ``payload["organizations"]``."""


class RetryableWriteError(Exception):
    """The Registry could not take the write now (down, slow, 5xx): try again later."""


class PermanentWriteError(Exception):
    """The Registry refused the write and would refuse it again; the message is its error."""


class UnknownRegistryUser(Exception):
    """The Registry does not know this user; the message says how that was found."""
