"""Group-name warnings (gateway/admin/groupcheck.py) with fakes for the known users and the
directories: compared the way the rules compare them, each name once, a directory that is down
named rather than failing."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.admin.groupcheck import GroupCheck, group_names
from gateway.mapping import parse_policy
from providers.base import GroupDirectory, Identity, ProviderUnavailable


@dataclass
class _Person:
    identity: Identity | None


class _People:
    def __init__(self, *groups: tuple[str, ...]):
        self._people = [_Person(Identity("p", f"s{n}", f"u{n}", groups=g)) for n, g in enumerate(groups)]
        self._people.append(_Person(None))

    def all(self):
        return self._people


class _Directory:
    def __init__(self, known=(), down=False, id="corp"):
        self.id, self._known, self._down = id, set(known), down
        self.asked: list[str] = []

    def group_exists(self, name: str) -> bool:
        self.asked.append(name)
        if self._down:
            raise ProviderUnavailable(self.id, "down")
        return name in self._known


def _check(directories=(), local=()):
    return GroupCheck(
        people=_People(("drone-pilots",), ("cn=ops,dc=x", "ops")),  # type: ignore[arg-type]
        local_groups=lambda: list(local),
        directories=lambda: list(directories),
    )


def test_the_fake_directory_offers_the_capability():
    assert isinstance(_Directory(), GroupDirectory)


def test_known_groups_need_no_directory_and_unknown_ones_are_warned_once():
    directory = _Directory()
    warnings = _check([directory], local=["empty-team"]).warnings(
        [("drone-pilots", False), ("ops", False), ("empty-team", False), ("pilotz", False), ("pilotz", False)]
    )
    assert warnings == ["No user has group 'pilotz' and the directory does not know it — check the spelling"]
    assert directory.asked == ["pilotz"]


def test_the_directory_is_asked_and_a_down_one_is_named():
    assert _check([_Directory(known={"engineers"})]).warnings([("engineers", False)]) == []
    (warning,) = _check([_Directory(down=True, id="ad"), _Directory(id="ldap2")]).warnings([("x", False)])
    assert warning.endswith("(could not ask ad)")


def test_case_is_compared_as_the_rule_says():
    check = _check()
    assert check.warnings([("Drone-Pilots", True)]) == []
    (warning,) = check.warnings([("Drone-Pilots", False)])
    assert "'drone-pilots' exists: rules compare group names exactly" in warning


def test_group_names_of_a_policy_by_rule_index():
    policy = parse_policy(
        {
            "rules": [
                {"name": "a", "match": {"group": ["x", "y"]}, "roles": ["r"]},
                {"name": "b", "require": {"group": "Z", "case_insensitive": True, "username": "u"}},
            ]
        },
        "test",
    )
    assert group_names(policy) == [("x", False), ("y", False), ("Z", True)]
    assert group_names(policy, index=1) == [("Z", True)]
    before = parse_policy({"rules": [{"name": "a", "match": {"group": "x"}, "roles": ["r"]}]}, "test")
    assert _check().policy_warnings(policy, beyond=before) == [
        "No user has group 'y' and the directory does not know it — check the spelling",
        "No user has group 'Z' and the directory does not know it — check the spelling",
    ]
