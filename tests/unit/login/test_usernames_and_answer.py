"""Canonical usernames (gateway.login.usernames) and the Registry answer builder (gateway.login.answer),
which must refuse anything the Registry would mishandle.

Unit tests: pure functions, no I/O.
"""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from gateway.login.answer import ContractViolation, build_answer
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import Evaluation, evaluate, parse_policy
from providers.base import Identity

DEFAULT = UsernamePolicy()
STRICT = UsernamePolicy(alphabet="strict")
NO_TRIM = UsernamePolicy(trim=False)
KEEP_CASE = UsernamePolicy(lowercase=False)

# (id, policy, typed, canonical form or None)
USERNAMES = [
    ("plain", DEFAULT, "alice", "alice"),
    ("trimmed", DEFAULT, "  alice\t", "alice"),
    ("trailing newline trimmed", DEFAULT, "alice\n", "alice"),
    ("lowercased", DEFAULT, "ALICE", "alice"),
    ("identity punctuation", DEFAULT, "Gina.O-Neil+test@Example.org", "gina.o-neil+test@example.org"),
    ("underscore", DEFAULT, "first_last", "first_last"),
    ("digits only", DEFAULT, "007", "007"),
    ("127 characters", DEFAULT, "a" * 127, "a" * 127),
    ("128 characters", DEFAULT, "a" * 128, None),
    ("127 after trimming", DEFAULT, " " + "a" * 127 + " ", "a" * 127),
    ("empty", DEFAULT, "", None),
    ("only spaces", DEFAULT, "   ", None),
    ("inner space", DEFAULT, "alice smith", None),
    ("backslash", DEFAULT, "corp\\alice", None),
    ("slash", DEFAULT, "corp/alice", None),
    ("colon", DEFAULT, "alice:x", None),
    ("NUL", DEFAULT, "alice\x00", None),
    ("inner NUL", DEFAULT, "al\x00ice", None),
    ("inner newline", DEFAULT, "al\nice", None),
    ("non-ASCII composed", DEFAULT, "jos\u00e9", None),
    ("non-ASCII decomposed", DEFAULT, "jose\u0301", None),
    ("cyrillic lookalike", DEFAULT, "\u0430lice", None),
    ("fullwidth letters (NFC keeps them)", DEFAULT, "\uff41lice", None),
    ("Kelvin sign normalises to K (NFC)", DEFAULT, "\u212aate", "kate"),
    ("dotted capital I lowercases to non-ASCII", DEFAULT, "\u0130van", None),
    ("emoji", DEFAULT, "pilot\U0001f681", None),
    # Strict alphabet: lowercase letters and digits only.
    ("strict plain", STRICT, "Alice42", "alice42"),
    ("strict dot", STRICT, "alice.smith", None),
    ("strict at", STRICT, "alice@example.org", None),
    ("strict dash", STRICT, "alice-smith", None),
    ("strict 127", STRICT, "b" * 127, "b" * 127),
    ("strict 128", STRICT, "b" * 128, None),
    # Without trimming the surrounding space is part of the name, so there is no canonical form.
    ("no trim: spaces", NO_TRIM, " alice ", None),
    ("no trim: trailing newline", NO_TRIM, "alice\n", None),
    ("no trim: plain", NO_TRIM, "alice", "alice"),
    # Without lowercasing the case is kept; the identity alphabet allows capitals.
    ("keep case", KEEP_CASE, "Alice", "Alice"),
    ("keep case, strict", UsernamePolicy(lowercase=False, alphabet="strict"), "Alice", None),
]


@pytest.mark.parametrize("policy, typed, expected", [c[1:] for c in USERNAMES], ids=[c[0] for c in USERNAMES])
def test_canonical(policy, typed, expected):
    assert policy.canonical(typed) == expected
    assert policy.is_canonical(typed) == (expected == typed)
    if expected is not None:
        # Canonical forms are fixed points.
        assert policy.canonical(expected) == expected
        assert policy.is_canonical(expected)


@pytest.mark.parametrize(
    ("policy", "typed", "said"),
    [
        (
            DEFAULT,
            "Alice",
            "Use 'alice' instead: this gateway writes usernames in lower case, and the Registry treats "
            "'Alice' and 'alice' as one account.",
        ),
        (DEFAULT, " alice ", "Use 'alice' instead: a username has no spaces around it."),
        (
            DEFAULT,
            "al ice",
            "'al ice' cannot be a username here: use only letters, digits and . _ - @ + "
            "(at most 127 characters).",
        ),
        (
            STRICT,
            "a.b",
            "'a.b' cannot be a username here: use only lower-case letters and digits "
            "(at most 127 characters).",
        ),
    ],
)
def test_advice_is_in_plain_words(policy, typed, said):
    assert policy.advice(typed) == said
    assert "canonical" not in policy.advice(typed, lead="Sign in as")


def test_advice_shortens_a_long_name():
    said = DEFAULT.advice("x" * 2000)
    assert said.startswith("'" + "x" * 60 + "...' cannot be a username here") and len(said) < 200


# ---- build_answer -------------------------------------------------------------------------


def ev(*, roles=("pilot",), quota=51200, metadata=None, denied=False) -> Evaluation:
    return Evaluation(
        denied=denied,
        deny_reason="require rule 'x' not satisfied" if denied else None,
        roles=roles,
        max_storage_mb=quota,
        metadata=MappingProxyType(dict(metadata or {})),
    )


GOOD = [
    ("finite quota", ev(), {"username": "alice", "roles": ["pilot"], "maxStorageMB": 51200}),
    ("unlimited omits maxStorageMB", ev(quota=None), {"username": "alice", "roles": ["pilot"]}),
    ("zero quota is kept", ev(quota=0), {"username": "alice", "roles": ["pilot"], "maxStorageMB": 0}),
    (
        "largest .NET long",
        ev(quota=2**63 - 1),
        {"username": "alice", "roles": ["pilot"], "maxStorageMB": 2**63 - 1},
    ),
    ("no roles is an empty list", ev(roles=()), {"username": "alice", "roles": [], "maxStorageMB": 51200}),
    (
        "metadata scalars",
        ev(roles=("pilot", "admin"), metadata={"email": "a@x.org", "level": 3, "staff": True}),
        {
            "email": "a@x.org",
            "level": 3,
            "staff": True,
            "username": "alice",
            "roles": ["pilot", "admin"],
            "maxStorageMB": 51200,
        },
    ),
]


@pytest.mark.parametrize("evaluation, expected", [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_build_answer(evaluation, expected):
    answer = build_answer("alice", evaluation)
    assert answer == expected
    # JSON types survive exactly (no bool-for-int, no float).
    assert json.loads(json.dumps(answer)) == expected
    if "maxStorageMB" in answer:
        assert type(answer["maxStorageMB"]) is int
    assert type(answer["roles"]) is list


BAD = [
    ("denied", "alice", ev(denied=True)),
    ("empty username", "", ev()),
    ("username not a string", None, ev()),
    ("bool quota", "alice", ev(quota=True)),
    ("false quota", "alice", ev(quota=False)),
    ("float quota", "alice", ev(quota=51200.0)),
    ("string quota", "alice", ev(quota="51200")),
    ("unlimited spelled out", "alice", ev(quota="unlimited")),
    ("negative quota", "alice", ev(quota=-1)),
    ("quota beyond a .NET long", "alice", ev(quota=2**63)),
    ("empty role", "alice", ev(roles=("pilot", ""))),
    ("role not a string", "alice", ev(roles=("pilot", 1))),
    ("role None", "alice", ev(roles=(None,))),
    ("roles a bare string", "alice", ev(roles="admin")),
    ("reserved metadata username", "alice", ev(metadata={"username": "mallory"})),
    ("reserved metadata roles", "alice", ev(metadata={"roles": "admin"})),
    ("reserved metadata maxStorageMB", "alice", ev(metadata={"maxStorageMB": 1})),
    ("metadata key not a string", "alice", ev(metadata={1: "x"})),
    ("metadata float", "alice", ev(metadata={"ratio": 0.5})),
    ("metadata None", "alice", ev(metadata={"email": None})),
    ("metadata list", "alice", ev(metadata={"groups": ["a"]})),
    ("metadata dict", "alice", ev(metadata={"extra": {"a": 1}})),
]


@pytest.mark.parametrize("username, evaluation", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_build_answer_refuses(username, evaluation):
    with pytest.raises(ContractViolation):
        build_answer(username, evaluation)


def test_build_answer_from_a_real_evaluation():
    policy = parse_policy(
        {
            "default_roles": ["viewer"],
            "expose": ["email"],
            "rules": [
                {
                    "name": "pilots",
                    "match": {"group": "drone-pilots"},
                    "roles": ["pilot"],
                    "maxStorageMB": 51200,
                    "metadata": {"team": "air"},
                },
                {
                    "name": "admins",
                    "match": {"group": "drone-admins"},
                    "roles": ["admin"],
                    "maxStorageMB": "unlimited",
                },
            ],
        },
        "test",
    )
    alice = Identity(
        provider="local",
        subject="local:1",
        username="alice",
        email="alice@example.org",
        groups=("drone-pilots",),
    )
    assert build_answer("alice", evaluate(policy, alice)) == {
        "email": "alice@example.org",
        "team": "air",
        "username": "alice",
        "roles": ["viewer", "pilot"],
        "maxStorageMB": 51200,
    }
    bob = Identity(
        provider="local", subject="local:2", username="bob", groups=("drone-pilots", "drone-admins")
    )
    answer = build_answer("bob", evaluate(policy, bob))
    assert answer["roles"] == ["viewer", "pilot", "admin"]
    assert "maxStorageMB" not in answer  # unlimited beats any number
    erin = Identity(provider="local", subject="local:3", username="erin", groups=("drone-pilots",))
    answer = build_answer("erin", evaluate(policy, erin, {"maxStorageMB": 2048, "roles": ["ops"]}))
    assert answer["maxStorageMB"] == 2048 and answer["roles"] == ["viewer", "pilot", "ops"]
