"""Every user of a directory, with the state and groups a login would find, read in pages.

The periodic sync needs what a login would say about *every* user: asking per user would cost
a search or more each. :class:`DirectoryReader` reads instead:

1. every group the configured strategies can see, in paged searches (RFC 2696) under the
   group base, kept in memory as a :class:`~providers.ldap.membership.GroupGraph`;
2. every user under the user base, in paged searches, yielding one :class:`DirectoryUser` per
   entry as its page arrives (users are streamed, never all held).

So the LDAP operations grow with the number of pages (plus one read per ``memberOf`` group
outside the group base whose RDN does not give its name), not with the number of users.
Which entries are users, and which groups match a user, follow the configured filter templates
(:mod:`providers.ldap.filtertemplates`); the groups, the username, the account state and the
identity are derived by the same code or rules as a login
(:mod:`providers.ldap.membership`, :mod:`providers.ldap.identity`,
:func:`providers.ldap.accountstate.refusal`).

A read is all or nothing: the whole read runs on one connection, and any failure (connection,
refusal, limit, time) raises :class:`DirectoryReadFailed` from the iterator. Users already
yielded are then no snapshot: whoever consumes the iterator must only conclude anything about
users *not* seen (leavers) once it ended normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ldap3.core.exceptions import LDAPException

from providers.base import Identity, ProviderUnavailable
from providers.ldap import accountstate
from providers.ldap.connections import (
    SERVER_FAILURES,
    DirectoryServers,
    LoginClock,
    ServerRefused,
    describe,
)
from providers.ldap.entries import Entry, dn_with, search
from providers.ldap.filtertemplates import SplitTemplate, split_template
from providers.ldap.groups import group_names
from providers.ldap.identity import MissingSubject, identity_from_entry, spellings
from providers.ldap.membership import PLACEHOLDERS, GroupGraph, dn_key
from providers.ldap.settings import IN_CHAIN, MEMBER, MEMBER_UID, LdapSettings

DEFAULT_PAGE_SIZE = 500
DEFAULT_TIMEOUT = 600.0


class DirectoryReadFailed(ProviderUnavailable):
    """The directory could not be read completely: nothing read so far may be trusted."""


@dataclass
class ReadCounters:
    """What a read cost and found so far (for benchmarks and metrics)."""

    searches: int = 0  # search requests sent: one per page, plus single-entry reads
    group_pages: int = 0
    user_pages: int = 0
    name_reads: int = 0  # base reads of a group's name (memberOf outside the group base)
    groups: int = 0  # distinct groups held in memory
    users: int = 0  # user entries yielded
    seconds: float = 0.0  # from the start of the read to its last page (or failure)


@dataclass(frozen=True)
class DirectoryUser:
    """One user entry, as a login with its username would see it.

    ``identity`` is what a login answers (groups in the same form: short names and DNs),
    built even when the account is refused; ``disabled`` says why a login would refuse it
    (None: it may log in). ``problem`` is set, and ``identity`` None, when the entry cannot
    be a login's answer (no acceptable username, no readable id): such a user should be left
    as it is, neither updated nor taken for a leaver.
    """

    dn: str
    username: str | None
    disabled: str | None
    identity: Identity | None
    problem: str | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        return self.identity.groups if self.identity else ()


class DirectoryReader:
    """Reads every user of one directory (see the module doc). One read at a time."""

    def __init__(
        self,
        provider_id: str,
        settings: LdapSettings,
        canonical: Callable[[str], str | None],
        servers: DirectoryServers,
        user_attributes: Sequence[str],
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Raises UnsupportedTemplate when a configured filter cannot be read in bulk."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.provider_id = provider_id
        self.settings = settings
        self._canonical = canonical
        self._servers = servers
        self._user_attributes = list(user_attributes)
        self._page_size = page_size
        self._timeout = timeout
        self._clock = clock
        self._time_limit = max(1, settings.operation_timeout - 1)
        self._users = split_template(settings.user.filter, ("username",))
        self._group_templates = _group_templates(settings)
        self.counters = ReadCounters()

    def users(self) -> Iterator[DirectoryUser]:
        """Every user entry under the user base, groups resolved. Raises DirectoryReadFailed
        (from the iterator, possibly after some users) when any part of the read fails."""
        self.counters = counters = ReadCounters()
        started = self._clock()
        clock = LoginClock(self.provider_id, started + self._timeout, self._clock)
        settings = self.settings
        try:
            pooled = self._servers.open(clock, settings.bind_dn, settings.bind_password)
        except ProviderUnavailable as error:
            raise DirectoryReadFailed(
                self.provider_id, f"directory read not started: {error.reason}"
            ) from None
        connection = pooled.connection

        def page(kind: str) -> Callable[[], None]:
            def before_page() -> None:
                clock.check()
                counters.searches += 1
                setattr(counters, kind, getattr(counters, kind) + 1)
                counters.seconds = self._clock() - started

            return before_page

        def read_name(dn: str) -> str | None:
            counters.searches += 1
            counters.name_reads += 1
            name_attribute = settings.groups.name_attribute
            found = list(
                search(
                    connection, dn, "base", "(objectClass=*)", [name_attribute], time_limit=self._time_limit
                )
            )
            return found[0].first(name_attribute) if found else None

        try:
            graph = GroupGraph(settings.groups, self._group_templates)
            for strategy, template in self._group_templates.items():
                for entry in search(
                    connection,
                    settings.groups.base or "",
                    settings.groups.scope,
                    template.every_filter,
                    [settings.groups.name_attribute, *template.attributes],
                    page_size=self._page_size,
                    time_limit=self._time_limit,
                    before_page=page("group_pages"),
                ):
                    _refuse_ranged(entry)
                    graph.add(strategy, entry)
                counters.groups = len(graph)
            for entry in search(
                connection,
                settings.user.base,
                settings.user.scope,
                self._users.every_filter,
                self._user_attributes,
                page_size=self._page_size,
                time_limit=self._time_limit,
                missing_base_ok=False,
                before_page=page("user_pages"),
            ):
                user = self._user(entry, graph, read_name)
                if user is not None:
                    counters.users += 1
                    yield user
            counters.seconds = self._clock() - started
        except DirectoryReadFailed:
            raise
        except ProviderUnavailable as error:
            reason = (
                f"not finished within {self._timeout:g} s" if self._clock() > clock.ends else error.reason
            )
            raise DirectoryReadFailed(self.provider_id, f"directory read aborted: {reason}") from None
        except SERVER_FAILURES as error:
            self._servers.mark_failed(pooled.server_url, clock, describe(error))
            raise DirectoryReadFailed(
                self.provider_id, f"directory read aborted: {describe(error)}"
            ) from None
        except (ServerRefused, LDAPException) as error:  # a working server that would not do it
            raise DirectoryReadFailed(
                self.provider_id, f"directory read aborted: {describe(error)}"
            ) from None
        finally:
            counters.seconds = self._clock() - started
            try:
                connection.unbind()
            except Exception:
                pass

    def _user(
        self, entry: Entry, graph: GroupGraph, read_name: Callable[[str], str | None]
    ) -> DirectoryUser | None:
        user = self.settings.user
        names = [name for name in spellings(user, entry, self._canonical) if name]
        if user.dn_template and not any(
            dn_key(dn_with(user.dn_template, name)) == dn_key(entry.dn) for name in names
        ):
            return None  # a login builds the DN from the username: this entry is not reachable
        disabled = accountstate.refusal(self.settings.account_state, entry)
        if not names:
            return DirectoryUser(entry.dn, None, disabled, None, "no acceptable username")
        uid = entry.first(self.settings.groups.member_uid_attribute)
        groups = group_names(graph.resolve(entry, uid, read_name))
        try:
            identity = identity_from_entry(self.provider_id, user, entry, names[0], groups)
        except MissingSubject as problem:
            return DirectoryUser(entry.dn, names[0], disabled, None, str(problem))
        return DirectoryUser(entry.dn, names[0], disabled, identity)


def _group_templates(settings: LdapSettings) -> dict[str, SplitTemplate]:
    """The group searches a login can make, split for bulk reading, by strategy."""
    groups = settings.groups
    if not groups.base:
        return {}
    templates = {}
    if MEMBER in groups.strategies or groups.nested:
        templates[MEMBER] = split_template(groups.member_filter, PLACEHOLDERS[MEMBER])
    if MEMBER_UID in groups.strategies:
        templates[MEMBER_UID] = split_template(groups.member_uid_filter, PLACEHOLDERS[MEMBER_UID])
    if IN_CHAIN in groups.strategies:
        templates[IN_CHAIN] = split_template(groups.in_chain_filter, PLACEHOLDERS[IN_CHAIN])
    return templates


def _refuse_ranged(entry: Entry) -> None:
    """AD hands out large multi-valued attributes in ranges (``member;range=0-1499``); reading
    only the first range would silently lose members, so such a group stops the read."""
    for name in entry.attributes:
        if ";range=" in name:
            raise ServerRefused(
                f"group {entry.dn} returned {name}: ranged attribute retrieval is not supported"
            )
