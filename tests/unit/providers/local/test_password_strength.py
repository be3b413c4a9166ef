"""Local passwords: the guessability estimate (zxcvbn) on top of the length rules and the
list, context words, its bounded cost, and Unicode normalisation (NFKC) when a password is
set, checked and verified, with old hashes of the typed spelling upgraded on login.

Unit tests: temporary SQLite files only, no sockets.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from providers.base import Identity, Rejection
from providers.local.hashing import CappedHasher
from providers.local.models import LocalUser
from providers.local.normalise import normalise_password
from providers.local.policy import PasswordPolicy, PasswordRejected
from providers.local.provider import LocalProvider
from providers.local.strength import ESTIMATE_CHARS, estimate
from providers.local.users import LocalUsers
from tests.support.registrydata import aspnet_v3

POLICY = PasswordPolicy()
PATTERN, KEYBOARD = "repeated or sequential pattern", "keyboard pattern"
COMMON, SERVICE = "commonly used passwords", "name of this service"
PERSONAL = "username or email address"

# (password, what the refusal names): every one is 12 characters or more, so only the
# estimate (or the context rules) can refuse it.
WEAK = [
    ("123456789012", PATTERN),
    ("111111111111", PATTERN),
    ("aaaaaaaaaaaa", PATTERN),
    ("abcdefghijkl", PATTERN),
    ("passwordpassword", PATTERN),
    ("iloveyou1234", COMMON),
    ("qwertyuiopasdfgh", KEYBOARD),
    ("adminadmin12", PATTERN),
    ("dronedbregistry", SERVICE),
    ("zyxwvutsrqpo", PATTERN),
    ("abc123abc123abc123", PATTERN),
    ("monkeybanana1", COMMON),
    ("jennifer1985", "common words or names"),
    ("\U0001f681" * 12, PATTERN),
]


@pytest.mark.parametrize("password, reason", WEAK, ids=[w[0][:20] for w in WEAK])
def test_long_but_guessable_passwords_are_refused_saying_why(password, reason):
    with pytest.raises(PasswordRejected, match=reason):
        POLICY.check(password)


# (password, username, email, what the refusal names)
CONTEXT = [
    ("my-alice-secret-99", "alice", None, "contain the username"),
    ("quiet-JSMITH-harbour", "other", "jsmith@example.org", "contain the email address"),
    ("smith-john-1985", "other", "john.smith@example.org", PERSONAL),
    ("Registry2024", "", None, SERVICE),
    ("dronedb12345678", "", None, SERVICE),
    ("registrydronedb1", "", None, SERVICE),
    ("droneregistry99", "", None, SERVICE),
    ("Drone-Registry-DroneDB", "", None, SERVICE),
    ("DroneDB-Registry-2", "", None, SERVICE),
]


@pytest.mark.parametrize("password, username, email, reason", CONTEXT, ids=[c[0] for c in CONTEXT])
def test_context_words_count_for_nothing(password, username, email, reason):
    with pytest.raises(PasswordRejected, match=reason):
        POLICY.check(password, username, email)


GOOD = [
    "purple-anchor-42-windmill",
    "correct horse battery staple",
    "tall-river-77-quiet-lamp",
    "Bench-river-password-1",
    "dronedb-flies-over-hills",  # a context word inside a passphrase is fine
    "mK8#vL2$pQ9!",  # 12 random characters
    "пароль-очень-длинный",
    "我的无人机密码很长很长很长",
    "🚁🛰📡🗺🌲⛰🏞🌊🧭📷🔋🛬",
    unicodedata.normalize("NFD", "Grüße-über-Brücken-7"),
    hashlib.sha512(b"generated").hexdigest(),  # 128 characters
]


@pytest.mark.parametrize("password", GOOD, ids=[g[:20] for g in GOOD])
def test_passphrases_are_accepted(password):
    POLICY.check(password, "alice", "alice@example.org")


def test_min_score_zero_turns_the_estimate_off_and_four_asks_more():
    PasswordPolicy(min_score=0).check("abcdefghijkl")
    POLICY.check("summer-at-lake")  # about 10^9 guesses: score 3
    with pytest.raises(PasswordRejected, match="built from common"):
        PasswordPolicy(min_score=4).check("summer-at-lake")


def test_lengths_count_normalised_characters():
    """NFD spells ü as two code points; the policy counts what is hashed (NFKC)."""
    eleven = unicodedata.normalize("NFD", "grün-üb-tor")
    assert len(eleven) == 13 and len(normalise_password(eleven)) == 11
    with pytest.raises(PasswordRejected, match="at least 12"):
        POLICY.check(eleven)


L33T_SYMBOLS = "4@8(<{[3|!1%$5+7069"
LONG = {
    "look-alike symbols": (L33T_SYMBOLS * 7)[:128],
    "look-alikes and letters": ((L33T_SYMBOLS + "qwfpgjluy") * 5)[:128],
    "digits": hashlib.sha512(b"digits").hexdigest().translate(str.maketrans("abcdef", "123456")),
    "repeat": ("ab1" * 43)[:128],
    "sequence": ("0123456789" * 13)[:128],
    "random": hashlib.sha512(b"random").hexdigest(),
}


@pytest.mark.parametrize("name", LONG)
def test_a_128_character_password_is_checked_in_bounded_time(name):
    """zxcvbn's own entry point takes seconds on 64+ look-alike symbols; the bounded estimate
    stays in the tens of milliseconds (CPU time of this thread, so other work on the machine
    does not count)."""
    password = LONG[name]
    assert len(password) == 128
    started = time.thread_time()
    try:
        POLICY.check(password)
        refused = None
    except PasswordRejected as rejected:
        refused = str(rejected)
    assert time.thread_time() - started < 0.5
    if name in ("repeat", "sequence"):
        assert refused is not None and PATTERN in refused
    elif name in ("random", "look-alike symbols"):
        assert refused is None


def test_only_the_start_of_a_long_password_is_estimated():
    strong_start = hashlib.sha256(b"start").hexdigest()[:ESTIMATE_CHARS]
    assert estimate(strong_start + "a" * 60).score == 4
    with pytest.raises(PasswordRejected, match=PATTERN):
        POLICY.check("a" * ESTIMATE_CHARS + hashlib.sha256(b"tail").hexdigest())


def test_estimates_do_not_share_context_words():
    """zxcvbn.zxcvbn keeps user inputs in a module-level dictionary; ours never touch it."""
    from zxcvbn import matching

    before = dict(matching.RANKED_DICTIONARIES)
    assert (
        estimate("tangerine-walrus", ["tangerine", "walrus"]).guesses_log10
        < estimate("tangerine-walrus").guesses_log10 - 1
    )
    assert matching.RANKED_DICTIONARIES == before


# ---- NFKC when a password is set, checked and verified -----------------------------------

NFC = unicodedata.normalize("NFC", "Grüße-über-Brücken-7")
NFD = unicodedata.normalize("NFD", NFC)
TIME_COST, MEMORY_COST = 2, 8192


@pytest.fixture
def hasher():
    return CappedHasher("local", time_cost=TIME_COST, memory_cost=MEMORY_COST)


@pytest.fixture
def users(database, hasher):
    return LocalUsers(database.sessions, hasher, PasswordPolicy())


@pytest.fixture
def provider(database, hasher, users):
    return LocalProvider("local", database.engine, hasher)


def stored_hash(database, username) -> str:
    with database.sessions() as session:
        return session.scalar(select(LocalUser.password_hash).where(LocalUser.username == username))


def set_hash(database, username, value) -> None:
    with database.sessions.begin() as session:
        session.execute(update(LocalUser).where(LocalUser.username == username).values(password_hash=value))


@pytest.mark.parametrize(
    "set_as, typed",
    [(NFC, NFD), (NFD, NFC), (NFC, NFC), (NFD, NFD)],
    ids=["set NFC, typed NFD", "set NFD, typed NFC", "NFC", "NFD"],
)
def test_any_spelling_of_the_password_logs_in(users, provider, set_as, typed):
    assert NFC != NFD
    users.create("uma", set_as)
    assert isinstance(provider.check_password("uma", typed), Identity)
    assert users.verify_password("uma", typed)  # the check before a change of one's own
    assert provider.check_password("uma", typed + "x") is Rejection.WRONG_CREDENTIALS


def test_compatibility_characters_are_folded(users, provider):
    users.create("uma", "ﬁne-ﬂoat-Ｗｉｎｄｍｉｌｌ-42")
    assert isinstance(provider.check_password("uma", "fine-float-Windmill-42"), Identity)


def test_hashes_are_of_the_normalised_password(hasher):
    assert PasswordHasher().verify(hasher.hash(NFD), NFC)


def test_a_hash_of_the_typed_spelling_is_upgraded_on_the_next_login(database, users, provider, hasher):
    """What the gateway stored before it normalised: argon2 of the password as typed."""
    users.create("uma", "placeholder-for-now-9")
    old = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST, parallelism=1).hash(NFD)
    set_hash(database, "uma", old)
    assert not hasher.needs_rehash(old)  # current parameters: only the spelling is stale
    assert provider.check_password("uma", NFD + "x") is Rejection.WRONG_CREDENTIALS
    assert stored_hash(database, "uma") == old

    assert isinstance(provider.check_password("uma", NFD), Identity)
    upgraded = stored_hash(database, "uma")
    assert upgraded != old
    assert PasswordHasher().verify(upgraded, NFC)
    # From now on either spelling works, and logging in again does not re-hash.
    assert isinstance(provider.check_password("uma", NFC), Identity)
    assert isinstance(provider.check_password("uma", NFD), Identity)
    assert stored_hash(database, "uma") == upgraded


def test_a_hash_of_an_already_normal_password_is_left_alone(database, users, provider):
    users.create("uma", NFC)
    before = stored_hash(database, "uma")
    assert isinstance(provider.check_password("uma", NFD), Identity)
    assert stored_hash(database, "uma") == before


@pytest.mark.parametrize(
    "registry_spelling, typed",
    [(NFD, NFD), (NFC, NFD), (NFD, NFC)],
    ids=["as typed", "typed NFD now", "typed NFC now"],
)
def test_an_imported_registry_hash_of_either_spelling_is_upgraded(
    database, users, provider, registry_spelling, typed
):
    """The Registry hashed the password as typed (its UTF-8 bytes, PBKDF2)."""
    users.create("uma", "placeholder-for-now-9")
    imported = aspnet_v3(registry_spelling, "sha256", 10_000)
    set_hash(database, "uma", imported)
    result = provider.check_password("uma", typed)
    if normalise_password(registry_spelling) == registry_spelling or typed == registry_spelling:
        assert isinstance(result, Identity)
        upgraded = stored_hash(database, "uma")
        assert upgraded.startswith("$argon2id$")
        assert PasswordHasher().verify(upgraded, NFC)
    else:
        # NFD in the Registry, NFC typed now: neither spelling tried is the one it hashed.
        assert result is Rejection.WRONG_CREDENTIALS
        assert stored_hash(database, "uma") == imported


def test_a_second_spelling_costs_the_same_for_known_and_unknown_users(hasher):
    """A password that NFKC changes is tried twice; a failure is padded to two verifications
    whether the user exists or not, so timing still does not tell them apart."""
    stored = hasher.hash(NFC)
    for attempt in (lambda: hasher.verify(stored, NFD + "x"), lambda: hasher.burn(NFD + "x")):
        hasher._argon2_seconds = 0.2
        started = time.perf_counter()
        assert attempt() in (False, None)
        assert time.perf_counter() - started >= 0.3  # two verifications of ~0.16-0.2 s
    hasher._argon2_seconds = 0.2
    started = time.perf_counter()
    assert hasher.verify(stored, NFD)  # a match is not padded
    assert time.perf_counter() - started < 0.2


def test_zxcvbn_is_loaded_only_when_a_password_is_estimated():
    """Its word lists cost about 12 MiB a process; a worker that only logs people in skips them."""
    import subprocess
    import sys

    code = (
        "import sys, providers.local.policy, providers.local.provider; "
        "assert 'zxcvbn' not in sys.modules; "
        "providers.local.policy.PasswordPolicy().check('purple-anchor-42-windmill'); "
        "assert 'zxcvbn' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
