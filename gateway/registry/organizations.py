"""The writer side of ``set_organizations``: bring a user's Registry organization memberships
to what the mapping rules grant, touching only memberships the gateway made itself.

:class:`OrganizationReconciler` reads the user's memberships (``GET /users/{name}/orgs``) and
the gateway's own record of what it granted (``registry_org_grants``), then:

* adds a membership the rules grant and the user lacks (``POST /users/{name}/orgs``);
* changes the level of a membership the gateway granted when the rules now say otherwise
  (``PUT /users/{name}/orgs/{slug}``);
* removes a membership the gateway granted that the rules no longer grant
  (``DELETE /users/{name}/orgs/{slug}``).

A membership made by hand in the Registry (or an organization the user owns) is never
changed nor removed, even when a rule names the same organization. A granted organization
that does not exist is created (owned by the service account) when ``create_missing`` is
set, and otherwise fails the write for good with a message naming it.

Each Registry call is recorded in ``registry_org_grants`` as soon as it succeeds, so a write
that fails half-way resumes where it stopped when the outbox retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from gateway.registry.client import RegistryClient
from gateway.registry.errors import RegistryRefused
from gateway.registry.errors import UnknownRegistryUser as ClientUnknownUser
from gateway.registry.outboxwriter import PermanentWriteError, UnknownRegistryUser
from gateway.registry.results import Membership, OrgPermission
from gateway.storage.db import Database
from gateway.storage.registrystate import RegistryOrgGrant

log = logging.getLogger(__name__)


class MissingOrganization(PermanentWriteError):
    """A rule grants an organization the Registry does not have (and creating it is off)."""

    def __init__(self, slug: str):
        self.slug = slug
        super().__init__(
            f"the Registry has no organization {slug!r}; create it in the Registry, "
            "or set registry.organizations.create_missing: true"
        )


class OrganizationReconciler:
    """Implements :meth:`RegistryWriter.set_organizations` over a :class:`RegistryClient`."""

    def __init__(self, client: RegistryClient, database: Database, *, create_missing: bool = False):
        self._client = client
        self._database = database
        self._create_missing = create_missing

    def set_organizations(self, username: str, payload: dict[str, Any]) -> None:
        """Make ``username``'s gateway-granted memberships exactly ``payload["organizations"]``
        (slug → level 0-3). Raises the outbox's error types (see
        :mod:`gateway.registry.outboxwriter`); anything else is retried."""
        target = _target(payload)
        try:
            self._reconcile(username, target)
        except ClientUnknownUser as error:
            raise UnknownRegistryUser(str(error)) from None
        except RegistryRefused as error:
            raise PermanentWriteError(str(error)) from None

    def _reconcile(self, username: str, target: dict[str, int]) -> None:
        current = {m.slug: m for m in self._client.user_organizations(username)}
        granted = self._granted(username)
        for slug, level in target.items():
            membership = current.get(slug)
            if membership is None:
                self._add(username, slug, level)
            elif slug in granted and not membership.is_owner and _level(membership) != level:
                self._client.set_organization_permissions(username, slug, OrgPermission(level))
                self._record(username, slug, level)
            elif slug in granted and granted[slug] != level:
                self._record(username, slug, level)
            # Otherwise the membership is the user's own or hand-made: left as it is.
        for slug in granted.keys() - target.keys():
            membership = current.get(slug)
            if membership is not None and not membership.is_owner:
                self._client.remove_from_organization(username, slug)
            self._forget(username, slug)

    def _add(self, username: str, slug: str, level: int) -> None:
        try:
            self._client.add_to_organization(username, slug, OrgPermission(level))
        except ClientUnknownUser:
            raise
        except RegistryRefused:
            if self._exists(slug):
                raise
            if not self._create_missing:
                raise MissingOrganization(slug) from None
            log.info("registry: creating organization %r granted by the mapping rules", slug)
            self._client.create_organization(slug, slug, "Created by the authentication gateway")
            self._client.add_to_organization(username, slug, OrgPermission(level))
        self._record(username, slug, level)

    def _exists(self, slug: str) -> bool:
        return any(org.slug == slug for org in self._client.organizations())

    # -- the record of what the gateway granted ---------------------------------------------

    def _granted(self, username: str) -> dict[str, int]:
        with self._database.session() as session:
            rows = session.execute(
                select(RegistryOrgGrant.slug, RegistryOrgGrant.level).where(
                    RegistryOrgGrant.username == username
                )
            )
            return {slug: level for slug, level in rows}

    def _record(self, username: str, slug: str, level: int) -> None:
        with self._database.session() as session:
            row = session.get(RegistryOrgGrant, (username, slug))
            if row is None:
                session.add(RegistryOrgGrant(username=username, slug=slug, level=level))
            else:
                row.level = level

    def _forget(self, username: str, slug: str) -> None:
        with self._database.session() as session:
            session.execute(
                delete(RegistryOrgGrant).where(
                    RegistryOrgGrant.username == username, RegistryOrgGrant.slug == slug
                )
            )


def _target(payload: Mapping[str, Any]) -> dict[str, int]:
    organizations = payload.get("organizations")
    if not isinstance(organizations, Mapping):
        raise PermanentWriteError("set_organizations payload has no organizations mapping")
    target: dict[str, int] = {}
    for slug, level in organizations.items():
        if (
            not isinstance(slug, str)
            or type(level) is not int
            or level not in OrgPermission._value2member_map_
        ):
            raise PermanentWriteError(f"set_organizations payload has a bad entry {slug!r}: {level!r}")
        target[slug] = level
    return target


def _level(membership: Membership) -> int | None:
    return None if membership.permissions is None else int(membership.permissions)
