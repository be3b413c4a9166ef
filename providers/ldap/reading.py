"""How a login reads the directory: on the service pool or the user's own connection (a
:class:`Reader`), the search for the user's entry, and the paged group search the group
strategies run through one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import ldap3

from providers.base import Note, Rejection
from providers.ldap.connections import ConnectionPool, LoginClock
from providers.ldap.entries import Entry, filter_with, search
from providers.ldap.settings import UserSettings

# The provider's logger: a refusal here is the provider's message.
log = logging.getLogger("providers.ldap.provider")

T = TypeVar("T")


class Reader(Protocol):
    """Runs an operation on some connection: the service pool, or the user's own connection."""

    def __call__(self, operation: Callable[[ldap3.Connection], T]) -> T: ...


def service_reader(pool: ConnectionPool, login: LoginClock, note: Note) -> Reader:
    """A reader on the service pool within the login's time; notes each server it first uses."""
    used: set[str] = set()

    def read(operation: Callable[[ldap3.Connection], T]) -> T:
        result, server = pool.run(login, operation)
        if server not in used:
            used.add(server)
            note("server", f"service connection on {server}")
        return result

    return read


def paged_group_search(
    read: Reader, login: LoginClock, note: Note, page_size: int, time_limit: int
) -> Callable[[str, str, str, Sequence[str]], list[Entry]]:
    """The group search a group strategy runs: paged, within the login's time, noted."""

    def group_search(base: str, scope: str, search_filter: str, attributes: Sequence[str]) -> list[Entry]:
        note("groups", f"search base={base!r} filter={search_filter}")
        return read(
            lambda connection: list(
                search(
                    connection,
                    base,
                    scope,
                    search_filter,
                    attributes,
                    page_size=page_size,
                    time_limit=time_limit,
                    before_page=login.check,
                )
            )
        )

    return group_search


def find_user(
    provider_id: str,
    user: UserSettings,
    username: str,
    attributes: Sequence[str],
    time_limit: int,
    read: Reader,
    note: Note,
) -> Entry | Rejection:
    """The one entry ``user.filter`` finds for ``username`` (filter-escaped once), or
    NO_SUCH_USER for none; more than one is refused as WRONG_CREDENTIALS (never guess)."""
    search_filter = filter_with(user.filter, username=username)
    note("search", f"base={user.base!r} scope={user.scope} filter={search_filter}")
    entries = read(
        lambda connection: list(
            search(
                connection,
                user.base,
                user.scope,
                search_filter,
                attributes,
                size_limit=2,
                time_limit=time_limit,
                missing_base_ok=False,
            )
        )
    )
    if not entries:
        note("search", "no entry found")
        return Rejection.NO_SUCH_USER
    if len(entries) > 1:
        log.warning("ldap %s: more than one entry matches the user filter; refusing", provider_id)
        note("search", "more than one entry matches: refused")
        return Rejection.WRONG_CREDENTIALS
    note("search", f"found dn={entries[0].dn}")
    return entries[0]
