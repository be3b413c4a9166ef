"""A user's groups, by any combination of strategies, with nesting resolved upwards.

Direct groups come from the configured strategies (``memberOf`` on the entry, a ``member``
search by the user's DN, a ``memberUid`` search by the user's uid, or AD's in-chain rule,
which is already transitive). Nested groups are then found breadth first: the groups that
list a known group as a member, level by level, up to ``max_depth`` levels; a group already
seen is not visited again, which is what stops cycles. Each level is one search (an OR of
the member filter for up to :data:`BATCH` groups), so the round trips grow with the depth of
the nesting rather than the number of groups; a :class:`NestingCache` spares the walk for a
set of direct groups seen recently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from providers.ldap.entries import Entry, filter_with, normal_dn, rdn_value
from providers.ldap.settings import IN_CHAIN, MEMBER, MEMBER_OF, MEMBER_UID, GroupSettings

log = logging.getLogger(__name__)

BATCH = 50

# search(base, scope, filter, attributes) -> entries
Search = Callable[[str, str, str, Sequence[str]], list[Entry]]


@dataclass(frozen=True)
class Group:
    dn: str
    name: str | None
    found_by: str  # a strategy name, or "nested"
    depth: int = 0  # 0 = direct member; n = n levels of nesting above a direct group
    via: str | None = None  # the group (DN) it was found through, when known


def resolve_groups(
    settings: GroupSettings,
    user: Entry,
    uid: str | None,
    search: Search,
    record_paths: bool = False,
    cache: NestingCache | None = None,
) -> list[Group]:
    """Every group of ``user``, direct groups first. ``record_paths`` asks one search per
    group when walking up the nesting, so that each group knows which group led to it (and
    bypasses ``cache``, which holds what lies above a set of direct groups)."""
    found: dict[str, Group] = {}

    def add(group: Group) -> bool:
        key = group.dn.lower()
        if key in found:
            return False
        found[key] = group
        return True

    name_attr = settings.name_attribute
    if MEMBER_OF in settings.strategies:
        for dn in user.values("memberOf"):
            add(Group(normal_dn(dn), rdn_value(dn, name_attr), MEMBER_OF))
    searches = (
        (MEMBER, settings.member_filter, {"dn": user.dn}),
        (MEMBER_UID, settings.member_uid_filter, {"uid": uid}),
        (IN_CHAIN, settings.in_chain_filter, {"dn": user.dn}),
    )
    for strategy, template, values in searches:
        if strategy in settings.strategies and all(values.values()):
            group_filter = filter_with(template, **values)
            for entry in search(_base(settings), settings.scope, group_filter, [name_attr]):
                add(Group(normal_dn(entry.dn), entry.first(name_attr), strategy))

    if settings.nested and settings.base:
        direct = [g for g in found.values() if g.found_by != IN_CHAIN]
        key = frozenset(g.dn.lower() for g in direct)
        nested = None if record_paths or cache is None else cache.get(key)
        if nested is None:
            # Only the direct groups count as seen: what else was found (in-chain) is not part
            # of the cache key, so the walk must not depend on it.
            nested = _walk_up(settings, direct, set(key), search, record_paths)
            if cache is not None and not record_paths:
                cache.put(key, nested)
        for group in nested:
            add(group)

    _fill_names(settings, found, search)
    return list(found.values())


def _walk_up(
    settings: GroupSettings, direct: list[Group], seen: set[str], search: Search, record_paths: bool
) -> list[Group]:
    """The groups above ``direct``, breadth first, each once (``seen`` holds lower-cased DNs)."""
    nested: list[Group] = []
    seen = set(seen)
    frontier = direct
    for depth in range(1, settings.max_depth + 1):
        if not frontier:
            break
        frontier = [
            group
            for group in _parents(settings, frontier, depth, search, record_paths)
            if _first_sight(seen, group.dn.lower())
        ]
        nested.extend(frontier)
    else:
        if frontier:
            log.warning("group nesting deeper than max_depth=%d; stopped there", settings.max_depth)
    return nested


class NestingCache:
    """Remembers, for a set of direct groups, the groups above them, for ``ttl`` seconds.

    Nesting (groups in groups) changes far less often than who is in a group, and walking it
    costs a search per level whose filter grows with the number of groups. A user's direct
    groups are always read fresh; only what lies above them may be up to ``ttl`` old.
    """

    def __init__(self, ttl: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._max, self._clock = ttl, max_entries, clock
        self._entries: OrderedDict[frozenset[str], tuple[float, list[Group]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: frozenset[str]) -> list[Group] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] <= self._clock():
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: frozenset[str], nested: list[Group]) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, nested)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def _parents(
    settings: GroupSettings, children: list[Group], depth: int, search: Search, record_paths: bool
) -> list[Group]:
    size = 1 if record_paths else BATCH
    parents: list[Group] = []
    for start in range(0, len(children), size):
        chunk = children[start : start + size]
        clauses = "".join(filter_with(settings.member_filter, dn=child.dn) for child in chunk)
        search_filter = clauses if len(chunk) == 1 else f"(|{clauses})"
        via = chunk[0].dn if len(chunk) == 1 else None
        for entry in search(_base(settings), settings.scope, search_filter, [settings.name_attribute]):
            parents.append(
                Group(normal_dn(entry.dn), entry.first(settings.name_attribute), "nested", depth, via)
            )
    return parents


def _fill_names(settings: GroupSettings, found: dict[str, Group], search: Search) -> None:
    """Read the short name of groups known only by DN (memberOf whose RDN is another type)."""
    for key, group in list(found.items()):
        if group.name is None:
            entries = search(group.dn, "base", "(objectClass=*)", [settings.name_attribute])
            name = entries[0].first(settings.name_attribute) if entries else None
            found[key] = Group(group.dn, name, group.found_by, group.depth, group.via)


def group_names(groups: Sequence[Group]) -> tuple[str, ...]:
    """What the mapping matches against: each group's short name and its DN, without repeats."""
    names: dict[str, None] = {}
    for group in groups:
        if group.name:
            names.setdefault(group.name, None)
        names.setdefault(group.dn, None)
    return tuple(names)


def _base(settings: GroupSettings) -> str:
    """The group search base (the configuration requires one wherever groups are searched)."""
    return cast(str, settings.base)


def _first_sight(seen: set[str], key: str) -> bool:
    """Whether ``key`` is new to ``seen``; it is in ``seen`` afterwards."""
    if key in seen:
        return False
    seen.add(key)
    return True


def describe_group(group: Group) -> str:
    """One group as a trial login narrates it: name, DN, and how it was found."""
    name = f"{group.name} " if group.name else ""
    how = group.found_by if group.depth == 0 else f"nested, depth {group.depth}"
    via = f" via {group.via}" if group.via else ""
    return f"{name}({group.dn}) [{how}{via}]"
