"""Pure unit tests (no sockets): hypothesis properties of parse_policy and evaluate."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.login.answer import build_answer
from gateway.mapping import RESERVED_KEYS, evaluate, parse_policy, validate_overrides
from providers.base import Identity

SETTINGS = settings(max_examples=200, deadline=None)
LIGHT = settings(max_examples=100, deadline=None)

# A small shared vocabulary makes rules and identities actually meet; free text covers the rest.
WORDS = [
    "drone-pilots",
    "Drone-Pilots",
    "drone-admins",
    "staff",
    "STRASSE",
    "straße",
    "alice",
    "ALICE",
    "corp-ldap",
    "oidc",
    "Engineering",
    "ext-bob",
    "3",
    "True",
    "ǅ",
    "İ",
]
word = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=12))
glob = st.one_of(st.sampled_from(["drone-*", "*", "?", "[a-z]*", "[", "*[!x]", "ext-*", "*S*"]), word)
role = st.one_of(
    st.sampled_from(["user", "pilot", "admin", "deactivated", "a.b@c+d-e_f"]),
    st.from_regex(r"[A-Za-z0-9_.@+-]{1,64}", fullmatch=True),
)
quota = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, 1, 10240, 51200, "unlimited"]))
scalar = st.one_of(st.text(max_size=12), st.integers(), st.booleans())
meta_key = st.one_of(
    st.sampled_from(["email", "team", "displayName", "department"]), st.text(min_size=1, max_size=10)
).filter(lambda k: k not in RESERVED_KEYS)


def one_or_many(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, st.lists(strategy, min_size=1, max_size=3))


condition_keys = st.fixed_dictionaries(
    {},
    optional={
        "provider": one_or_many(st.sampled_from(["corp-ldap", "oidc", "local"])),
        "group": one_or_many(word),
        "group_glob": one_or_many(glob),
        "username": one_or_many(word),
        "username_glob": one_or_many(glob),
        "attribute": st.dictionaries(meta_key, one_or_many(scalar), min_size=1, max_size=2),
    },
).filter(bool)
condition = st.one_of(
    st.just({"all": True}),
    st.tuples(condition_keys, st.one_of(st.none(), st.booleans())).map(
        lambda kc: kc[0] if kc[1] is None else {**kc[0], "case_insensitive": kc[1]}
    ),
)
grants = st.fixed_dictionaries(
    {},
    optional={
        "roles": st.lists(role, min_size=1, max_size=3),
        "maxStorageMB": quota,
        "metadata": st.dictionaries(meta_key, scalar, min_size=1, max_size=3),
    },
).filter(bool)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,16}", fullmatch=True), unique=True, max_size=6))
    rules = []
    for name in names:
        if draw(st.integers(0, 4)) == 0:
            rules.append({"name": name, "require": draw(condition)})
        else:
            rules.append({"name": name, "match": draw(condition), **draw(grants)})
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "default_roles": st.lists(role, max_size=3),
                "default_maxStorageMB": quota,
                "expose": st.lists(meta_key, max_size=4),
            },
        )
    ) | {"rules": rules}


anything = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.binary(max_size=4)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
        st.frozensets(st.text(max_size=4), max_size=3),
    ),
    max_leaves=6,
)
identities = st.builds(
    Identity,
    provider=st.sampled_from(["corp-ldap", "oidc", "local", ""]),
    subject=st.text(max_size=8),
    username=word,
    email=st.one_of(st.none(), st.text(max_size=12)),
    display_name=st.one_of(st.none(), st.text(max_size=12)),
    groups=st.lists(word, max_size=6).map(tuple),
    attributes=st.dictionaries(meta_key, st.one_of(scalar, anything), max_size=4),
)
overrides = st.one_of(
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(
        st.one_of(
            st.sampled_from(["maxStorageMB", "roles", "username", "team", "email"]),
            st.text(max_size=6),
            st.integers(),
        ),
        st.one_of(
            quota, st.lists(st.one_of(role, st.text(max_size=5), st.integers()), max_size=3), scalar, anything
        ),
        max_size=5,
    ),
)
# Per-user values are bounded to what the Registry can hold (64-bit integers).
override_scalar = st.one_of(st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans())
valid_overrides = st.fixed_dictionaries(
    {},
    optional={
        "maxStorageMB": quota,
        "roles": st.lists(role, max_size=3),
    },
).flatmap(
    lambda fixed: st.dictionaries(meta_key, override_scalar, max_size=3).map(lambda more: {**more, **fixed})
)


@SETTINGS
@given(policies(), identities, overrides)
def test_output_satisfies_the_registry_contract(data: dict[str, Any], identity: Identity, extra: Any) -> None:
    result = evaluate(parse_policy(data, "p.yaml"), identity, extra)

    assert type(result.roles) is tuple
    assert all(type(r) is str and r for r in result.roles)
    assert len(set(result.roles)) == len(result.roles)

    q = result.max_storage_mb
    assert q is None or (type(q) is int and 0 <= q <= 2**63 - 1)

    for key, value in result.metadata.items():
        assert type(key) is str and key and key not in RESERVED_KEYS
        assert type(value) in (str, int, bool)

    if not result.denied:
        # The real answer builder enforces the contract's types; it must accept every result.
        answer = build_answer(identity.username or "x", result)
        assert answer["roles"] == list(result.roles)
        assert ("maxStorageMB" in answer) is (q is not None)

    assert result.denied is (result.deny_reason is not None)
    failed = [t.name for t in result.trace if t.kind == "require" and not t.matched]
    assert result.denied is bool(failed)
    if failed:
        assert repr(failed[0]) in result.deny_reason  # type: ignore[operator]

    assert evaluate(parse_policy(data, "p.yaml"), identity, extra) == result  # deterministic


@LIGHT
@given(policies(), identities, overrides)
def test_roles_come_only_from_defaults_rules_and_overrides(
    data: dict[str, Any], identity: Identity, extra: Any
) -> None:
    policy = parse_policy(data, "p.yaml")
    result = evaluate(policy, identity, extra)
    allowed = set(policy.default_roles) | {r for rule in policy.rules for r in rule.roles}
    if isinstance(extra, dict) and isinstance(extra.get("roles"), list):
        allowed |= {r for r in extra["roles"] if isinstance(r, str)}
    assert set(result.roles) <= allowed
    assert result.roles[: len(set(policy.default_roles))] == tuple(dict.fromkeys(policy.default_roles))


@LIGHT
@given(policies(), identities, st.lists(word, max_size=3))
def test_more_groups_never_lose_roles(data: dict[str, Any], identity: Identity, more: list[str]) -> None:
    policy = parse_policy(data, "p.yaml")
    fewer = evaluate(policy, identity)
    richer = Identity(
        identity.provider,
        identity.subject,
        identity.username,
        identity.email,
        identity.display_name,
        identity.groups + tuple(more),
        identity.attributes,
    )
    assert set(fewer.roles) <= set(evaluate(policy, richer).roles)


@LIGHT
@given(policies(), identities, valid_overrides)
def test_overrides_that_validate_are_applied_in_full(
    data: dict[str, Any], identity: Identity, extra: dict[str, Any]
) -> None:
    clean = validate_overrides(extra)
    assert clean == extra
    result = evaluate(parse_policy(data, "p.yaml"), identity, extra)
    assert not [t for t in result.trace if t.kind == "override" and "ignored" in t.why]
    if "maxStorageMB" in clean:
        assert result.max_storage_mb == (
            None if clean["maxStorageMB"] == "unlimited" else clean["maxStorageMB"]
        )
    assert set(clean.get("roles", [])) <= set(result.roles)
    for key, value in clean.items():
        if key not in RESERVED_KEYS:
            assert result.metadata[key] == value and type(result.metadata[key]) is type(value)


look_alikes = st.sampled_from([True, 1, 1.0, False, 0, 0.0, "1", [1], (1,), {"a": 1}, None])
memo_identities = st.builds(
    Identity,
    provider=st.sampled_from(["local", "oidc"]),
    subject=st.sampled_from(["s1", "s2"]),
    username=st.sampled_from(["alice", "bob"]),
    email=st.sampled_from([None, "a@x.org"]),
    groups=st.lists(st.sampled_from(["drone-pilots", "staff"]), max_size=2).map(tuple),
    attributes=st.dictionaries(meta_key, look_alikes | anything, max_size=2),
    overrides=st.dictionaries(
        st.sampled_from(["maxStorageMB", "roles", "team"]),
        look_alikes | quota | st.lists(role, max_size=2),
        max_size=2,
    ),
)


@settings(max_examples=150, deadline=None)
@given(data=policies(), batch=st.lists(memo_identities, min_size=1, max_size=6))
def test_memo_returns_exactly_what_evaluate_returns(data: dict[str, Any], batch: list[Identity]) -> None:
    """The memo is only an optimisation: for every identity, exactly evaluate()'s result, even
    when identities differ only by look-alike values (True vs 1 vs 1.0)."""
    from gateway.mapping import EvaluationMemo

    policy = parse_policy(data, "test")
    memo = EvaluationMemo(policy, max_entries=4)
    for identity in batch + batch:
        assert _exactly(memo.evaluate(identity)) == _exactly(evaluate(policy, identity, identity.overrides))


def _exactly(evaluation) -> tuple:
    """An Evaluation with every value type-tagged (``==`` alone says True == 1)."""
    tag = lambda value: (type(value).__name__, value)  # noqa: E731
    return (
        evaluation.denied,
        evaluation.deny_reason,
        evaluation.roles,
        tag(evaluation.max_storage_mb),
        tuple((key, tag(value)) for key, value in evaluation.metadata.items()),
        evaluation.trace,
    )


def test_memo_keeps_look_alike_values_apart():
    """True == 1 in Python, but a quota override of True is invalid (ignored) and 1 is 1 MB."""
    from gateway.mapping import EvaluationMemo

    memo = EvaluationMemo(parse_policy({"expose": ["team"]}, "test"))
    as_bool = Identity(
        provider="local",
        subject="s",
        username="alice",
        attributes={"team": True},
        overrides={"maxStorageMB": True},
    )
    as_int = Identity(
        provider="local", subject="s", username="alice", attributes={"team": 1}, overrides={"maxStorageMB": 1}
    )
    first, second = memo.evaluate(as_bool), memo.evaluate(as_int)
    assert first.max_storage_mb is None and type(first.metadata["team"]) is bool
    assert second.max_storage_mb == 1 and type(second.metadata["team"]) is int


def test_memo_keeps_negative_zero_apart():
    """-0.0 == 0.0 in Python, but str() differs and the engine matches str() forms."""
    from gateway.mapping import EvaluationMemo

    memo = EvaluationMemo(
        parse_policy(
            {"rules": [{"name": "zero", "match": {"attribute": {"level": "0.0"}}, "roles": ["admin"]}]},
            "test",
        )
    )
    plain = Identity(provider="p", subject="s", username="u", attributes={"level": 0.0})
    negative = Identity(provider="p", subject="s", username="u", attributes={"level": -0.0})
    assert memo.evaluate(plain).roles == ("admin",)
    assert memo.evaluate(negative).roles == ()


def test_memo_forgets_an_identity_object_when_the_policy_changes():
    """The same (cached) Identity object is re-evaluated under a newly saved policy."""
    from gateway.mapping import EvaluationMemo

    policies = [
        parse_policy({"rules": [{"name": "all", "match": {"username": "u"}, "roles": ["viewer"]}]}, "test")
    ]
    memo = EvaluationMemo(lambda: policies[-1])
    identity = Identity(provider="p", subject="s", username="u")
    assert memo.evaluate(identity).roles == ("viewer",)
    assert memo.evaluate(identity).roles == ("viewer",)
    policies.append(
        parse_policy({"rules": [{"name": "all", "match": {"username": "u"}, "roles": ["editor"]}]}, "test")
    )
    assert memo.evaluate(identity).roles == ("editor",)
