"""Every user's groups from the group entries held in memory, by the rules a login follows.

A login asks the directory for one user's groups (:func:`providers.ldap.groups.resolve_groups`):
``memberOf`` values, a search per configured strategy, then the nesting walked upwards level by
level (at most ``max_depth`` levels, each group once, starting from the direct groups that were
not found in-chain). :class:`GroupGraph` holds every group those searches could return, indexed
by the values of the attributes the searches assert (``member``, ``uniqueMember``,
``memberUid``, ...), and answers the same questions without a round trip.

Values are compared as the server compares them for the common schemas: DNs by their parsed,
unescaped, case-folded parts (distinguishedNameMatch over case-insensitive naming attributes),
other values (``memberUid``, caseExactIA5Match in RFC 2307) exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ldap3.utils.dn import parse_dn

from providers.ldap.entries import Entry, normal_dn, rdn_value
from providers.ldap.filtertemplates import SplitTemplate
from providers.ldap.groups import Group
from providers.ldap.settings import IN_CHAIN, MEMBER, MEMBER_OF, MEMBER_UID, GroupSettings

# Which placeholder each strategy's template is filled with at login.
PLACEHOLDERS = {MEMBER: ("dn",), MEMBER_UID: ("uid",), IN_CHAIN: ("dn",)}


def dn_key(dn: str) -> str:
    """A DN as the server compares it: parts parsed and unescaped, blanks around them ignored,
    case folded. An unparsable DN is only case-folded."""
    if not any(mark in dn for mark in '\\+"#'):  # the common case, and it is hot
        pairs = (part.partition("=") for part in dn.split(","))
        return ",".join(f"{kind.strip().lower()}={value.strip().lower()}" for kind, _, value in pairs)
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:
        return dn.strip().lower()
    return ",".join(f"{kind.strip().lower()}={_unescaped(value).lower()}" for kind, value, _ in parts)


def _unescaped(value: str) -> str:
    # entries.rdn_value unescapes the first RDN only; build a one-RDN DN to reuse it.
    return rdn_value(f"x={value}", "x") or ""


@dataclass
class _Index:
    """The groups one strategy's template selects, by the values its assertions hold."""

    template: SplitTemplate
    by_value: dict[str, list[str]] = field(default_factory=dict)  # value key -> group keys

    def value_key(self, value: str, placeholder: str) -> str:
        return dn_key(value) if placeholder == "dn" else value

    def add(self, group_key: str, entry: Entry) -> None:
        for assertion in self.template.assertions:
            for value in entry.values(assertion.attribute):
                keys = self.by_value.setdefault(self.value_key(value, assertion.placeholder), [])
                if not keys or keys[-1] != group_key:
                    keys.append(group_key)

    def matching(self, value: str, placeholder: str) -> list[str]:
        return self.by_value.get(self.value_key(value, placeholder), [])


class GroupGraph:
    """The groups of the directory, as far as the configured strategies can see them."""

    def __init__(self, settings: GroupSettings, templates: dict[str, SplitTemplate]):
        self.settings = settings
        self._indexes = {strategy: _Index(template) for strategy, template in templates.items()}
        self._groups: dict[str, tuple[str, str | None]] = {}  # lower-cased DN -> (DN, name)
        self._names: dict[str, str | None] = {}  # names read by DN, for groups outside the pages

    def add(self, strategy: str, entry: Entry) -> None:
        """One group entry of ``strategy``'s pages."""
        dn = normal_dn(entry.dn)
        key = dn.lower()
        self._groups.setdefault(key, (dn, entry.first(self.settings.name_attribute)))
        self._indexes[strategy].add(key, entry)

    def __len__(self) -> int:
        return len(self._groups)

    def resolve(self, user: Entry, uid: str | None, read_name: Callable[[str], str | None]) -> list[Group]:
        """Every group of ``user``, as :func:`providers.ldap.groups.resolve_groups` finds them
        (without trace paths). ``read_name(dn)`` reads a group's name when neither its RDN nor
        the pages give it (a ``memberOf`` group outside the group base)."""
        settings = self.settings
        found: dict[str, Group] = {}

        def add(group: Group) -> None:
            found.setdefault(group.dn.lower(), group)

        if MEMBER_OF in settings.strategies:
            for dn in user.values("memberOf"):
                add(Group(normal_dn(dn), rdn_value(dn, settings.name_attribute), MEMBER_OF))
        for strategy, value in ((MEMBER, user.dn), (MEMBER_UID, uid)):
            if strategy in settings.strategies and value:
                for key in self._matching(strategy, value):
                    add(self._group(key, strategy))
        if IN_CHAIN in settings.strategies:
            for key in self._in_chain(user.dn):
                add(self._group(key, IN_CHAIN))
        if settings.nested and settings.base:
            direct = [group for group in found.values() if group.found_by != IN_CHAIN]
            for group in self._walk_up(direct):
                add(group)
        for key, group in list(found.items()):
            if group.name is None:
                known = self._groups.get(key)
                name = known[1] if known else self._read_name(group.dn, read_name)
                found[key] = Group(group.dn, name, group.found_by, group.depth)
        return list(found.values())

    def _matching(self, strategy: str, value: str) -> list[str]:
        index = self._indexes[strategy]
        keys: dict[str, None] = {}
        for assertion in index.template.assertions:
            keys.update(dict.fromkeys(index.matching(value, assertion.placeholder)))
        return list(keys)

    def _group(self, key: str, found_by: str, depth: int = 0) -> Group:
        dn, name = self._groups[key]
        return Group(dn, name, found_by, depth)

    def _walk_up(self, direct: list[Group]) -> list[Group]:
        """The groups above ``direct`` by the member template, breadth first, each once."""
        seen = {group.dn.lower() for group in direct}
        nested: list[Group] = []
        frontier: Iterable[str] = [group.dn for group in direct]
        for depth in range(1, self.settings.max_depth + 1):
            parents = []
            for child in frontier:
                for key in self._matching(MEMBER, child):
                    if key not in seen:
                        seen.add(key)
                        parents.append(self._group(key, "nested", depth))
            if not parents:
                break
            nested.extend(parents)
            frontier = [group.dn for group in parents]
        return nested

    def _in_chain(self, dn: str) -> list[str]:
        """Groups holding ``dn`` through any number of groups (AD's in-chain rule); one level
        when the in-chain template was configured without the in-chain matching rule."""
        if not any(assertion.chain for assertion in self._indexes[IN_CHAIN].template.assertions):
            return self._matching(IN_CHAIN, dn)
        seen: dict[str, None] = {}
        frontier = [dn]
        while frontier:
            parents = [
                key for child in frontier for key in self._matching(IN_CHAIN, child) if key not in seen
            ]
            seen.update(dict.fromkeys(parents))
            frontier = [self._groups[key][0] for key in dict.fromkeys(parents)]
        return list(seen)

    def _read_name(self, dn: str, read_name: Callable[[str], str | None]) -> str | None:
        key = dn.lower()
        if key not in self._names:
            self._names[key] = read_name(dn)
        return self._names[key]
