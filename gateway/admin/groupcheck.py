"""Fields that don't guess about groups: a rule or a user naming a group that no known user has
and no directory knows is most likely misspelt, so the answer carries a warning (saving still
works: the group may simply have no members yet).

Group names are compared the way the rules compare them (:mod:`gateway.mapping.engine`):
exactly, or casefolded for a condition with ``case_insensitive: true``. A name that matches a
known group only when case is ignored, in an exact comparison, gets a warning of its own,
since the rule will not match that group. Directories are asked through the
:class:`providers.base.GroupDirectory` capability, bounded by their own timeouts; one that
cannot be asked is named in the warning rather than failing the save.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from gateway.admin.people import People
from gateway.mapping import Policy
from providers.base import GroupDirectory, ProviderUnavailable

log = logging.getLogger(__name__)

MAX_CHECKED = 50  # a document naming more new groups than this is checked for the first ones only


def unknown_group_message(name: str) -> str:
    """The warning for a group nobody has and no directory knows."""
    return f"No user has group {name!r} and the directory does not know it — check the spelling"


class GroupCheck:
    """Warnings for group names: those no known user has, no local group is called, and no
    directory knows."""

    def __init__(
        self,
        *,
        people: People,
        local_groups: Callable[[], Iterable[str]],
        directories: Callable[[], Sequence[GroupDirectory]],
    ):
        self._people = people
        self._local_groups = local_groups
        self._directories = directories

    def warnings(self, names: Iterable[tuple[str, bool]]) -> list[str]:
        """One warning per doubtful name of ``names`` (``(name, case_insensitive)`` pairs), in
        order, each name once."""
        wanted = list(dict.fromkeys((name, bool(ci)) for name, ci in names if isinstance(name, str) and name))
        if not wanted:
            return []
        known = self._known()
        folded = {name.casefold(): name for name in known}
        found: list[str] = []
        for name, ci in wanted[:MAX_CHECKED]:
            if name in known or (ci and name.casefold() in folded):
                continue
            if not ci and name.casefold() in folded:
                found.append(
                    f"No user has group {name!r}, but {folded[name.casefold()]!r} exists: rules compare "
                    "group names exactly (add case_insensitive: true to compare them ignoring case)"
                )
                continue
            asked, failed = self._ask_directories(name)
            if asked:
                continue
            message = unknown_group_message(name)
            if failed:
                message += f" (could not ask {', '.join(failed)})"
            found.append(message)
        return found

    def policy_warnings(
        self, policy: Policy, *, index: int | None = None, beyond: Policy | None = None
    ) -> list[str]:
        """Warnings for the group names of ``policy``'s rules (only the rule at ``index``,
        when given; only names ``beyond`` does not already use, when given)."""
        already = set(group_names(beyond)) if beyond is not None else set()
        return self.warnings(pair for pair in group_names(policy, index=index) if pair not in already)

    def _known(self) -> set[str]:
        known = set(self._local_groups())
        for person in self._people.all():
            if person.identity is not None:
                known.update(person.identity.groups)
        return known

    def _ask_directories(self, name: str) -> tuple[bool, list[str]]:
        failed = []
        for directory in self._directories():
            try:
                if directory.group_exists(name):
                    return True, []
            except ProviderUnavailable as error:
                log.info("group check: %s could not be asked: %s", directory.id, error.reason)
                failed.append(directory.id)
        return False, failed


def group_names(policy: Policy, *, index: int | None = None) -> list[tuple[str, bool]]:
    """``(group, case_insensitive)`` for every ``group`` check of the policy's rules (of the
    rule at ``index`` only, when given)."""
    pairs: list[tuple[str, bool]] = []
    for position, item in enumerate(policy.rules):
        if index is not None and position != index:
            continue
        for check in item.condition.checks:
            if check.kind == "group":
                pairs.extend((value, check.case_insensitive) for value in check.values)
    return pairs
