"""The mapping policy: the parsed, validated form of the ``mapping:`` section of the config.

:func:`parse_policy` turns the already-parsed YAML dict into frozen dataclasses and raises
:class:`~gateway.config.errors.ConfigError` naming the exact key path (for example
``mapping.rules[2].maxStorageMB``) for the first problem it finds. Everything a login needs is
precomputed here (compiled globs, casefolded sets), so :func:`gateway.mapping.engine.evaluate`
does no parsing.

Quotas are read by :func:`gateway.mapping.quota.parse_quota` (``5120``, ``"50 GB"``,
``"unlimited"``). The small value checks (:func:`is_role_name`, :func:`is_metadata_value`) are
shared with the engine, which applies them to per-user overrides at evaluation time.

Pure Python: no I/O, no clock, no logging.
"""

from __future__ import annotations

import builtins
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

from gateway.config.errors import ConfigError, raise_all

from .organizations import OrganizationGrant, parse_organizations
from .quota import UNLIMITED, Quota, QuotaError, parse_quota

T = TypeVar("T")

RESERVED_KEYS = frozenset({"username", "roles", "maxStorageMB"})
"""Answer keys the gateway sets itself; metadata, expose and override extras may not use them."""

MetadataValue = str | int | bool

_ROLE_NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
_RULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_ROLE_MSG = "must be a role name: 1-64 of letters, digits and _ . @ + -"
_RULE_NAME_MSG = "must be 1-64 of letters, digits and _ . -"
_META_VALUE_MSG = "must be a string, integer or boolean"

_POLICY_KEYS = ("default_roles", "default_maxStorageMB", "expose", "rules")
_RULE_KEYS = (
    "name",
    "match",
    "require",
    "roles",
    "maxStorageMB",
    "metadata",
    "organizations",
    "require_mfa",
)
# The order in which a condition's checks are evaluated and reported.
_CHECK_KINDS = ("provider", "group", "group_glob", "username", "username_glob", "attribute")
_CONDITION_KEYS = _CHECK_KINDS + ("all", "case_insensitive")
_CASE_FOLDED_KINDS = frozenset({"group", "group_glob", "username", "username_glob", "attribute"})


def is_role_name(value: Any) -> bool:
    """True if ``value`` is a str of 1-64 characters from ``A-Za-z0-9_.@+-``."""
    return isinstance(value, str) and _ROLE_NAME.fullmatch(value) is not None


def is_metadata_value(value: Any) -> bool:
    """True if ``value`` can go into the answer as-is: exactly a str, int or bool (not float, not None)."""
    return type(value) in (str, int, bool)


@dataclass(frozen=True)
class Check:
    """One condition key of a rule, e.g. ``group: [a, b]`` (any-of over ``values``).

    ``values`` keep the spelling of the policy (attribute values as their ``str()`` form) for
    explanations. ``exact`` holds the same values, casefolded when ``case_insensitive``;
    ``patterns`` holds the compiled globs for the ``*_glob`` kinds. ``attribute`` is the
    attribute name for the ``attribute`` kind, else None.
    """

    kind: str
    values: tuple[str, ...]
    case_insensitive: bool = False
    attribute: str | None = None
    exact: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Condition:
    """All ``checks`` must hold (AND); ``everyone`` is the ``all: true`` condition."""

    checks: tuple[Check, ...] = ()
    everyone: bool = False


@dataclass(frozen=True)
class Rule:
    """A ``match`` rule (``kind == "grant"``) or a ``require`` rule (``kind == "require"``).

    Only grant rules carry grants. ``max_storage_mb`` is None when the rule grants no quota,
    else an int or ``"unlimited"``. ``organizations`` are the Registry organizations the rule
    puts a matching user in (see :mod:`gateway.mapping.organizations`).
    """

    name: str
    kind: Literal["grant", "require"]
    condition: Condition
    roles: tuple[str, ...] = ()
    max_storage_mb: Quota | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: MappingProxyType({}))
    organizations: tuple[OrganizationGrant, ...] = ()
    require_mfa: bool = False


@dataclass(frozen=True)
class Policy:
    """The whole mapping policy. ``Policy()`` is the policy of an absent ``mapping:`` section."""

    default_roles: tuple[str, ...] = ()
    default_max_storage_mb: Quota = UNLIMITED
    expose: tuple[str, ...] = ("email",)
    rules: tuple[Rule, ...] = ()


def parse_policy(data: Mapping[str, Any] | None, source: str) -> Policy:
    """Validate the ``mapping:`` section and return the :class:`Policy` it describes.

    ``data`` is the section as parsed from YAML, or None when the section is absent (the
    defaults: no roles, unlimited quota, expose email, no rules). Raises :class:`ConfigError`
    with ``source`` and the dotted key path of the first invalid, unknown or missing key.
    """
    if data is None:
        return Policy()
    p = _Parser(source)
    root = "mapping"
    p.mapping(data, root)
    p.attempt(p.unknown_keys, data, root, _POLICY_KEYS)

    default_roles: tuple[str, ...] = ()
    if "default_roles" in data:
        default_roles = p.attempt(p.roles, data["default_roles"], f"{root}.default_roles", fallback=())

    default_quota: Quota = UNLIMITED
    if "default_maxStorageMB" in data:
        default_quota = p.attempt(
            p.quota, data["default_maxStorageMB"], f"{root}.default_maxStorageMB", fallback=UNLIMITED
        )

    expose: tuple[str, ...] = ("email",)
    if "expose" in data:
        expose = p.attempt(p.expose, data["expose"], f"{root}.expose", fallback=expose)

    rules: tuple[Rule, ...] = ()
    if "rules" in data:
        rules = p.attempt(p.rules, data["rules"], f"{root}.rules", fallback=())

    raise_all(p.found)
    return Policy(default_roles, default_quota, expose, rules)


class _Parser:
    """Validation helpers that all raise ConfigError for one ``source``."""

    def __init__(self, source: str):
        self.source = source
        self.found: builtins.list[ConfigError] = []

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.source, key, message)

    def attempt(self, check: Callable[..., T], *args: Any, fallback: Any = None) -> T:
        """``check(*args)``, or ``fallback`` after keeping its problems in ``found`` (so the
        rest of the policy is still checked)."""
        try:
            return check(*args)
        except ConfigError as error:
            self.found.extend(error.errors)
            return cast(T, fallback)

    def mapping(self, value: Any, key: str) -> None:
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a mapping")
        for k in value:
            if not isinstance(k, str):
                raise self.fail(f"{key}.{k}", "keys must be strings")

    def unknown_keys(self, value: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        raise_all(
            [
                self.fail(f"{key}.{k}", f"unknown key; allowed: {', '.join(allowed)}")
                for k in value
                if k not in allowed
            ]
        )

    def list(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise self.fail(key, "must be a list")
        return list(value)

    def roles(self, value: Any, key: str) -> tuple[str, ...]:
        items = self.list(value, key)
        for i, role in enumerate(items):
            if not is_role_name(role):
                raise self.fail(f"{key}[{i}]", _ROLE_MSG)
        return tuple(items)

    def quota(self, value: Any, key: str) -> Quota:
        try:
            return parse_quota(value)
        except QuotaError as problem:
            raise self.fail(key, str(problem)) from None

    def expose(self, value: Any, key: str) -> tuple[str, ...]:
        names: list[str] = []
        for i, name in enumerate(self.list(value, key)):
            if not isinstance(name, str) or not name:
                raise self.fail(f"{key}[{i}]", "must be email, displayName or an attribute name")
            if name in RESERVED_KEYS:
                raise self.fail(f"{key}[{i}]", "username, roles and maxStorageMB cannot be exposed")
            if name not in names:
                names.append(name)
        return tuple(names)

    def rules(self, value: Any, key: str) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        seen: set[str] = set()
        problems: builtins.list[ConfigError] = []
        for i, item in enumerate(self.list(value, key)):
            try:
                rule = self.rule(item, f"{key}[{i}]")
            except ConfigError as error:
                problems.extend(error.errors)
                continue
            if rule.name in seen:
                problems.append(self.fail(f"{key}[{i}].name", f"duplicate rule name {rule.name!r}"))
                continue
            seen.add(rule.name)
            rules.append(rule)
        raise_all(problems)
        return tuple(rules)

    def rule(self, value: Any, key: str) -> Rule:
        """One rule. Every problem of its keys is raised at once (ConfigErrors for several):
        a bad ``match`` does not hide a bad ``roles`` or an unknown key beside it."""
        self.mapping(value, key)
        problems: builtins.list[ConfigError] = []

        def check(parse: Callable[..., T], *args: Any, fallback: Any = None) -> T:
            try:
                return parse(*args)
            except ConfigError as error:
                problems.extend(error.errors)
                return cast(T, fallback)

        check(self.unknown_keys, value, key, _RULE_KEYS)
        name = value.get("name")
        if "name" not in value:
            problems.append(self.fail(f"{key}.name", "is required"))
        elif not isinstance(name, str) or _RULE_NAME.fullmatch(name) is None:
            problems.append(self.fail(f"{key}.name", _RULE_NAME_MSG))

        has_match, has_require = "match" in value, "require" in value
        if has_match and has_require:
            problems.append(self.fail(key, "has both match and require; a rule has exactly one"))
        if not has_match and not has_require:
            problems.append(self.fail(key, "needs match (to grant) or require (to deny non-matching users)"))
        if has_match == has_require:
            raise_all(problems)

        if has_require:
            for grant in ("roles", "maxStorageMB", "metadata", "organizations", "require_mfa"):
                if grant in value:
                    problems.append(
                        self.fail(f"{key}.{grant}", "a require rule grants nothing; use a match rule")
                    )
            required = check(self.condition, value["require"], f"{key}.require")
            raise_all(problems)
            return Rule(name, "require", required)

        condition = check(self.condition, value["match"], f"{key}.match")
        roles: tuple[str, ...] = ()
        if "roles" in value:
            roles = check(self.roles, value["roles"], f"{key}.roles", fallback=())
        quota: Quota | None = None
        if "maxStorageMB" in value:
            quota = check(self.quota, value["maxStorageMB"], f"{key}.maxStorageMB")
        metadata: Mapping[str, MetadataValue] = MappingProxyType({})
        if "metadata" in value:
            metadata = check(self.metadata, value["metadata"], f"{key}.metadata", fallback=metadata)
        organizations: tuple[OrganizationGrant, ...] = ()
        if "organizations" in value:
            organizations = check(
                parse_organizations, value["organizations"], f"{key}.organizations", self.fail, fallback=()
            )
        require_mfa = value.get("require_mfa", False)
        if type(require_mfa) is not bool:
            problems.append(self.fail(f"{key}.require_mfa", "must be true or false"))
        raise_all(problems)
        if not roles and quota is None and not metadata and not organizations and not require_mfa:
            raise self.fail(
                key, "a match rule must grant roles, maxStorageMB, metadata or organizations, or require_mfa"
            )
        return Rule(name, "grant", condition, roles, quota, metadata, organizations, require_mfa)

    def metadata(self, value: Any, key: str) -> Mapping[str, MetadataValue]:
        self.mapping(value, key)
        for k, v in value.items():
            if not k:
                raise self.fail(f"{key}.{k}", "keys must be non-empty")
            if k in RESERVED_KEYS:
                raise self.fail(f"{key}.{k}", "username, roles and maxStorageMB are set by the gateway")
            if not is_metadata_value(v):
                raise self.fail(f"{key}.{k}", _META_VALUE_MSG)
        return MappingProxyType(dict(value))

    def condition(self, value: Any, key: str) -> Condition:
        self.mapping(value, key)
        self.unknown_keys(value, key, _CONDITION_KEYS)
        ci = value.get("case_insensitive", False)
        if type(ci) is not bool:
            raise self.fail(f"{key}.case_insensitive", "must be true or false")

        if "all" in value:
            if value["all"] is not True:
                raise self.fail(f"{key}.all", "must be true (it means: matches everyone)")
            others = [k for k in value if k not in ("all", "case_insensitive")]
            if others:
                raise self.fail(f"{key}.{others[0]}", "cannot be combined with all: true")
            return Condition(everyone=True)

        checks: list[Check] = []
        for kind in _CHECK_KINDS:
            if kind not in value:
                continue
            if kind == "attribute":
                checks.extend(self.attribute_checks(value[kind], f"{key}.attribute", ci))
            else:
                names = self.names(value[kind], f"{key}.{kind}")
                checks.append(_make_check(kind, names, ci and kind in _CASE_FOLDED_KINDS))
        if not checks:
            raise self.fail(
                key,
                "needs at least one of provider, group, group_glob, username, "
                "username_glob, attribute (or all: true)",
            )
        return Condition(tuple(checks))

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        """A non-empty string, or a non-empty list of them."""
        if isinstance(value, str):
            items, paths = [value], [key]
        else:
            items = self.list(value, key)
            if not items:
                raise self.fail(key, "must not be an empty list")
            paths = [f"{key}[{i}]" for i in range(len(items))]
        for item, path in zip(items, paths, strict=True):
            if not isinstance(item, str) or not item:
                raise self.fail(path, "must be a non-empty string or a list of them")
        return tuple(items)

    def attribute_checks(self, value: Any, key: str, ci: bool) -> builtins.list[Check]:
        self.mapping(value, key)
        if not value:
            raise self.fail(key, "must name at least one attribute")
        checks = []
        for name, wanted in value.items():
            if not name:
                raise self.fail(f"{key}.{name}", "attribute names must be non-empty")
            path = f"{key}.{name}"
            if isinstance(wanted, (list, tuple)):
                if not wanted:
                    raise self.fail(path, "must not be an empty list")
                items, paths = list(wanted), [f"{path}[{i}]" for i in range(len(wanted))]
            else:
                items, paths = [wanted], [path]
            for item, item_path in zip(items, paths, strict=True):
                if not is_metadata_value(item):
                    raise self.fail(item_path, "must be a string, integer or boolean, or a list of them")
            checks.append(_make_check("attribute", tuple(str(v) for v in items), ci, attribute=name))
        return checks


def _make_check(kind: str, values: tuple[str, ...], ci: bool, attribute: str | None = None) -> Check:
    folded = tuple(v.casefold() for v in values) if ci else values
    if kind.endswith("_glob"):
        # fnmatch.translate + re gives fnmatchcase semantics (no os.path.normcase), compiled once.
        patterns = tuple(re.compile(fnmatch.translate(v)) for v in folded)
        return Check(kind, values, ci, attribute, patterns=patterns)
    return Check(kind, values, ci, attribute, exact=frozenset(folded))
