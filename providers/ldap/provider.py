"""An LDAP or Active Directory directory as a password provider.

A login is, by default, search-then-bind:

1. find the user with the service connection (``user.filter``, the typed username
   filter-escaped once; exactly one entry must match);
2. bind as that entry's DN with the typed password on a connection of its own (the bind
   pool), never on the service connection;
3. refuse a disabled, locked or expired account (only now that the password is proven right);
4. find the groups with the service connection.

With ``user.dn_template`` it is bind-then-read: the bind DN is built from the template
(username RDN-escaped), and that very entry (never one found by a filter) and the groups are
read with the service account, or, when there is none, as the user on the user's own
connection.

Empty or blank passwords are refused before anything is sent: many directories treat a
simple bind with a DN and no password as an anonymous bind that *succeeds*. Server and
network failures raise ProviderUnavailable (the gateway answers 503 and does not count a
failed attempt); they never turn into "wrong password".
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import ldap3
from ldap3.utils.dn import parse_dn

from providers.base import HealthReport, Identity, Note, ProviderUnavailable, Rejection
from providers.ldap import accountstate
from providers.ldap.connections import (
    ConnectionPool,
    DirectoryServers,
    LoginClock,
)
from providers.ldap.directory import DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, DirectoryReader
from providers.ldap.entries import Entry, dn_with, filter_with, search
from providers.ldap.groups import Group, NestingCache, describe_group, resolve_groups
from providers.ldap.identity import login_identity
from providers.ldap.reading import Reader, find_user, paged_group_search, service_reader
from providers.ldap.settings import LdapSettings
from providers.ldap.trial import logs_as_notes
from providers.ldap.userbind import bind_as

log = logging.getLogger(__name__)

T = TypeVar("T")

_GROUP_CLASSES = (
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))"
)


def _ignore(step: str, detail: str) -> None:
    pass


class LdapProvider:
    """Checks passwords against one directory (one or more replicas of it)."""

    def __init__(
        self,
        provider_id: str,
        settings: LdapSettings,
        canonical: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.id = provider_id
        self.settings = settings
        self._canonical = canonical
        self._clock = clock
        self._servers = DirectoryServers(provider_id, settings, clock)
        self._service = ConnectionPool(
            self._servers, settings.pool_size, settings.bind_dn, settings.bind_password
        )
        self._binds = ConnectionPool(self._servers, settings.pool_size)
        seconds = settings.groups.nesting_cache_seconds
        self._nesting = NestingCache(seconds, clock=clock) if seconds > 0 else None
        user = settings.user
        wanted = [
            user.username_attribute,
            user.email_attribute,
            user.display_name_attribute,
            user.id_attribute,
            user.quota_attribute,
            settings.groups.member_uid_attribute,
            *user.attributes.values(),
            *accountstate.STATE_ATTRIBUTES[settings.account_state],
        ]
        if "member_of" in settings.groups.strategies:
            wanted.append("memberOf")
        self._user_attributes = sorted({name for name in wanted if name}, key=str.lower)
        # A DN no directory holds, for the bind that makes an unknown user cost a wrong password.
        # Server-side limit for searches, so a slow query comes back as an answer, not a timeout.
        self._time_limit = max(1, settings.operation_timeout - 1)
        self._dummy_username = f"gateway-no-such-user-{secrets.token_hex(8)}"
        self._dummy_dn = f"cn={self._dummy_username},{user.base}"

    # -- the provider protocol ------------------------------------------------------------

    def check_password(self, username: str, password: str, note: Note = _ignore) -> Identity | Rejection:
        """The identity for ``username`` (canonical) and ``password``, or why not.

        ``note(step, detail)`` is told each step taken (the ``gateway ldap test`` trace).
        """
        if not password or not password.strip():
            note("password", "empty or blank: refused before any bind")
            return Rejection.WRONG_CREDENTIALS
        login = self._login()
        if self.settings.user.dn_template:
            return self._bind_then_search(username, password, login, note)
        reader = self._service_reader(login, note)
        found = self._find_user(username, login, reader, note)
        if isinstance(found, Rejection):
            if found is Rejection.NO_SUCH_USER and self.settings.equalize_unknown_user_timing:
                self._bind(self._dummy_dn, password, login, _ignore)
            return found
        refused = self._bind(found.dn, password, login, note)
        if refused is not None:
            return refused
        return self._admit(username, found, login, reader, note)

    def burn(self, password: str) -> None:
        """Spend what an unknown user costs here (a search miss and a dummy bind), so that a
        failed login elsewhere takes as long as one this directory was asked about. Never
        raises: a directory that is down makes nothing to equalise."""
        if not self.settings.equalize_unknown_user_timing or not password or not password.strip():
            return
        login = self._login()
        try:
            if not self.settings.user.dn_template:
                self._find_user(self._dummy_username, login, self._service_reader(login, _ignore), _ignore)
            self._bind(self._dummy_dn, password, login, _ignore)
        except ProviderUnavailable:
            pass  # a failed circuit breaker answers at once; a live but slow server is bounded

    def lookup(self, username: str, note: Note = _ignore) -> Identity | Rejection:
        """The current identity of ``username`` without a password (service account reads)."""
        login = self._login()
        reader = self._service_reader(login, note)
        found = self._find_user(username, login, reader, note)
        if isinstance(found, Rejection):
            return found
        reason = accountstate.refusal(self.settings.account_state, found)
        if reason:
            note("account", f"refused: {reason}")
            return Rejection.DISABLED
        return self._identity(username, found, login, reader, note)

    def health(self) -> str:
        """ "ok" when a directory server answers a read of ``user.base`` on the service
        connection (pooled, so usually no new connection), else why not. Bounded like a
        login (``login_timeout``); a failed server is skipped afterwards as after a login."""
        login = self._login()
        base = self.settings.user.base

        def read_base(connection: ldap3.Connection) -> None:
            list(
                search(
                    connection, base, "base", "(objectClass=*)", (), size_limit=1, time_limit=self._time_limit
                )
            )

        try:
            self._service.run(login, read_base)
        except ProviderUnavailable as error:
            return error.reason
        return "ok"

    def check_health(self) -> HealthReport:
        """Healthy when :meth:`health` says "ok"; the detail names the servers."""
        answer = self.health()
        if answer != "ok":
            return HealthReport(False, answer)
        return HealthReport(True, f"LDAP reachable ({', '.join(self.server_urls)})")

    def trial_check(
        self, username: str, password: str, note: Note, *, exclusive_logs: bool = False
    ) -> Identity | Rejection:
        """:meth:`check_password` narrated to ``note``, with this thread's records of the
        ``providers.ldap`` loggers as ``server`` notes (``exclusive_logs``: only there)."""
        with logs_as_notes("providers.ldap", note, exclusive=exclusive_logs):
            return self.check_password(username, password, note=note)

    # -- diagnostics (providers.ldap.diagnose) and group checks ----------------------------

    @property
    def user_attributes(self) -> list[str]:
        """The attributes a login reads from a user entry."""
        return list(self._user_attributes)

    def find_entry(self, username: str, note: Note = _ignore) -> Entry | Rejection:
        """The user entry a login of ``username`` would use, read with the service connection
        and without any bind as the user: found by ``user.filter``, or read at the DN that
        ``user.dn_template`` makes (which needs a service account). NO_SUCH_USER when there is
        none, WRONG_CREDENTIALS when the filter is ambiguous. May raise ProviderUnavailable."""
        login = self._login()
        reader = self._service_reader(login, note)
        template = self.settings.user.dn_template
        if not template:
            return self._find_user(username, login, reader, note)
        dn = dn_with(template, username)
        note("search", f"base={dn!r} scope=base filter=(objectClass=*)")
        found = reader(
            lambda connection: list(
                search(
                    connection,
                    dn,
                    "base",
                    "(objectClass=*)",
                    self._user_attributes,
                    time_limit=self._time_limit,
                )
            )
        )
        if not found:
            note("search", "no entry found")
            return Rejection.NO_SUCH_USER
        note("search", f"found dn={found[0].dn}")
        return found[0]

    def entry_groups(self, username: str, entry: Entry, note: Note = _ignore) -> tuple[list[Group], Identity]:
        """The groups a login finds for ``entry`` (with the group that led to each nested
        one) and the identity a login of ``username`` would answer; nothing cached is used.
        May raise ProviderUnavailable."""
        login = self._login()
        group_search = self._group_search(self._service_reader(login, note), login, note)
        settings = self.settings.groups
        uid = entry.first(settings.member_uid_attribute)
        groups = resolve_groups(settings, entry, uid, group_search, record_paths=True)
        return groups, login_identity(self.id, self.settings.user, self._canonical, username, entry, groups)

    def group_exists(self, name: str) -> bool:
        """Whether the directory holds the group ``name``: a group entry at that DN, or one
        whose ``groups.name_attribute`` is ``name`` under the group base (the user base when
        only ``memberOf`` is configured). Read with the service connection; may raise
        ProviderUnavailable."""
        settings = self.settings.groups
        login = self._login()
        reader = self._service_reader(login, _ignore)
        if _looks_like_dn(name):
            base, scope, wanted = name, "base", _GROUP_CLASSES
        else:
            base = settings.base or self.settings.user.base
            scope = settings.scope
            wanted = (
                f"(&{_GROUP_CLASSES}{filter_with('(' + settings.name_attribute + '={name})', name=name)})"
            )
        found = reader(
            lambda connection: list(
                search(connection, base, scope, wanted, (), size_limit=1, time_limit=self._time_limit)
            )
        )
        return bool(found)

    def directory_reader(
        self, page_size: int = DEFAULT_PAGE_SIZE, timeout: float = DEFAULT_TIMEOUT
    ) -> DirectoryReader:
        """A reader of every user of this directory with the state and groups a login would
        find (providers.ldap.directory): paged searches on a connection of its own, all or
        nothing. Raises UnsupportedTemplate when a configured filter cannot be read in bulk."""
        return DirectoryReader(
            self.id,
            self.settings,
            self._canonical,
            self._servers,
            self._user_attributes,
            page_size=page_size,
            timeout=timeout,
            clock=self._clock,
        )

    def close(self) -> None:
        self._service.close()
        self._binds.close()

    @property
    def server_urls(self) -> list[str]:
        return self._servers.urls

    # -- steps ----------------------------------------------------------------------------

    def _login(self) -> LoginClock:
        return LoginClock(self.id, self._clock() + self.settings.login_timeout, self._clock)

    def _service_reader(self, login: LoginClock, note: Note) -> Reader:
        return service_reader(self._service, login, note)

    def _find_user(self, username: str, login: LoginClock, read: Reader, note: Note) -> Entry | Rejection:
        settings, attributes = self.settings.user, self._user_attributes
        return find_user(self.id, settings, username, attributes, self._time_limit, read, note)

    def _bind(
        self,
        dn: str,
        password: str,
        login: LoginClock,
        note: Note,
        then: Callable[[ldap3.Connection], T] | None = None,
    ) -> Rejection | T | None:
        """Bind as ``dn`` on a bind-pool connection (:func:`providers.ldap.userbind.bind_as`)."""
        return bind_as(self._binds, self.settings.account_state, dn, password, login, note, then)

    def _bind_then_search(
        self, username: str, password: str, login: LoginClock, note: Note
    ) -> Identity | Rejection:
        dn = dn_with(cast(str, self.settings.user.dn_template), username)

        def admit(read: Reader) -> Identity | Rejection:
            # The entry is read at the DN that was bound, never found again by a filter: the
            # identity must be the one whose password was checked.
            found = read(
                lambda connection: list(
                    search(
                        connection,
                        dn,
                        "base",
                        "(objectClass=*)",
                        self._user_attributes,
                        time_limit=self._time_limit,
                        before_page=login.check,
                    )
                )
            )
            if not found:
                log.warning("ldap %s: bound as %s but cannot read that entry", self.id, dn)
                raise ProviderUnavailable(self.id, "the bound entry cannot be read")
            note("search", f"read dn={found[0].dn}")
            return self._admit(username, found[0], login, read, note)

        if self.settings.bind_dn is None:
            # No service account: read the entry and groups as the user, on the user's connection.
            def as_user(connection: ldap3.Connection) -> Identity | Rejection:
                def read(operation: Callable[[ldap3.Connection], T]) -> T:
                    login.check()
                    return operation(connection)

                return admit(read)

            outcome = self._bind(dn, password, login, note, then=as_user)
        else:
            outcome = self._bind(dn, password, login, note)
            if outcome is None:
                outcome = admit(self._service_reader(login, note))
        assert outcome is not None  # as_user always answers
        # A refused direct bind cannot tell an unknown user from a wrong password.
        return Rejection.NO_SUCH_USER if outcome is Rejection.WRONG_CREDENTIALS else outcome

    def _admit(
        self, username: str, entry: Entry, login: LoginClock, read: Reader, note: Note
    ) -> Identity | Rejection:
        """The identity of a user whose password was right, unless the account is refused."""
        kind = self.settings.account_state
        reason = accountstate.refusal(kind, entry)
        if accountstate.is_lock(reason):
            # Lock attributes are cleared by the directory on a successful bind: read again.
            fresh = read(
                lambda connection: list(
                    search(
                        connection,
                        entry.dn,
                        "base",
                        "(objectClass=*)",
                        accountstate.STATE_ATTRIBUTES[kind],
                        time_limit=self._time_limit,
                    )
                )
            )
            reason = accountstate.refusal(kind, fresh[0]) if fresh else reason
        if reason:
            note("account", f"refused: {reason}")
            return Rejection.DISABLED
        return self._identity(username, entry, login, read, note)

    def _group_search(
        self, read: Reader, login: LoginClock, note: Note
    ) -> Callable[[str, str, str, Sequence[str]], list[Entry]]:
        return paged_group_search(read, login, note, self.settings.groups.page_size, self._time_limit)

    def _identity(self, typed: str, entry: Entry, login: LoginClock, read: Reader, note: Note) -> Identity:
        groups_settings = self.settings.groups
        group_search = self._group_search(read, login, note)
        uid = entry.first(groups_settings.member_uid_attribute)
        groups = resolve_groups(
            groups_settings, entry, uid, group_search, record_paths=note is not _ignore, cache=self._nesting
        )
        for group in groups:
            note("group", describe_group(group))
        return login_identity(self.id, self.settings.user, self._canonical, typed, entry, groups)


def _looks_like_dn(name: str) -> bool:
    """Whether a group name is written as a DN (``cn=pilots,ou=groups,...``): rules may name
    LDAP groups either way."""
    try:
        return len(parse_dn(name)) >= 2
    except Exception:
        return False
