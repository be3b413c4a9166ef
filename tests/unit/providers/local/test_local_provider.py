"""The local provider: password checks against argon2id hashes in a temporary SQLite database,
rehash on login, the cap on concurrent hashes, an unreachable database, and the password
policy.

Unit tests: temporary SQLite files only, no sockets.
"""

from __future__ import annotations

import hashlib
import threading
import time
from importlib import resources

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from gateway.storage.db import Database
from providers.base import Identity, ProviderUnavailable, Rejection
from providers.local.hashing import CappedHasher
from providers.local.models import LocalUser
from providers.local.policy import PasswordPolicy, PasswordRejected
from providers.local.provider import LocalProvider
from providers.local.users import LocalUsers, UserError

PASSWORD = "purple-anchor-42-windmill"
# Small argon2 parameters keep the tests fast; the weak hash below uses even fewer passes.
TIME_COST, MEMORY_COST = 2, 8192


def small_hasher(**kwargs) -> CappedHasher:
    kwargs.setdefault("time_cost", TIME_COST)
    kwargs.setdefault("memory_cost", MEMORY_COST)
    return CappedHasher("local", **kwargs)


@pytest.fixture
def hasher():
    return small_hasher()


@pytest.fixture
def users(database, hasher):
    local = LocalUsers(database.sessions, hasher, PasswordPolicy())
    local.create_group("drone-pilots")
    local.create_group("survey-north")
    local.create(
        "alice",
        PASSWORD,
        email="alice@example.org",
        display_name="Alice A.",
        groups=["survey-north", "drone-pilots"],
        overrides={"maxStorageMB": 2048},
    )
    local.create("dave", PASSWORD)
    local.set_enabled("dave", False)
    return local


@pytest.fixture
def provider(database, hasher, users):
    return LocalProvider("local", database.engine, hasher)


def stored_hash(database, username) -> str:
    with database.sessions() as session:
        return session.scalar(select(LocalUser.password_hash).where(LocalUser.username == username))


# (id, username, password, expected outcome)
OUTCOMES = [
    ("right password", "alice", PASSWORD, "identity"),
    ("wrong password", "alice", PASSWORD + "x", Rejection.WRONG_CREDENTIALS),
    ("case matters in passwords", "alice", PASSWORD.upper(), Rejection.WRONG_CREDENTIALS),
    ("no such user", "mallory", PASSWORD, Rejection.NO_SUCH_USER),
    ("usernames are matched exactly", "Alice", PASSWORD, Rejection.NO_SUCH_USER),
    ("disabled, right password", "dave", PASSWORD, Rejection.DISABLED),
    ("disabled, wrong password", "dave", "not-" + PASSWORD, Rejection.WRONG_CREDENTIALS),
]


@pytest.mark.parametrize(
    "username, password, expected", [c[1:] for c in OUTCOMES], ids=[c[0] for c in OUTCOMES]
)
def test_check_password_outcomes(provider, username, password, expected):
    result = provider.check_password(username, password)
    if expected == "identity":
        assert isinstance(result, Identity)
        assert result.username == username
    else:
        assert result is expected


def test_identity_carries_groups_and_overrides(provider):
    identity = provider.check_password("alice", PASSWORD)
    assert identity == provider.lookup("alice")
    assert identity.provider == "local"
    assert identity.subject.startswith("local:")
    assert (identity.email, identity.display_name) == ("alice@example.org", "Alice A.")
    assert identity.groups == ("drone-pilots", "survey-north")  # sorted by name
    assert dict(identity.overrides) == {"maxStorageMB": 2048}
    assert provider.lookup("dave") is Rejection.DISABLED
    assert provider.lookup("mallory") is Rejection.NO_SUCH_USER


def test_group_changes_show_on_the_next_login(provider, users):
    users.remove_member("drone-pilots", "alice")
    users.set_overrides("alice", {"roles": ["ops"]})
    identity = provider.check_password("alice", PASSWORD)
    assert identity.groups == ("survey-north",)
    assert dict(identity.overrides) == {"roles": ["ops"]}


def test_weaker_hash_is_upgraded_on_login(provider, database, hasher):
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with database.sessions.begin() as session:
        session.execute(update(LocalUser).where(LocalUser.username == "alice").values(password_hash=weak))
    assert hasher.needs_rehash(weak)
    # A wrong password does not touch the hash.
    assert provider.check_password("alice", "wrong-" + PASSWORD) is Rejection.WRONG_CREDENTIALS
    assert stored_hash(database, "alice") == weak

    assert isinstance(provider.check_password("alice", PASSWORD), Identity)
    upgraded = stored_hash(database, "alice")
    assert upgraded != weak
    assert f"m={MEMORY_COST},t={TIME_COST},p=1" in upgraded
    assert not hasher.needs_rehash(upgraded)
    assert PasswordHasher().verify(upgraded, PASSWORD)
    # Logging in again keeps working and does not rehash again.
    assert isinstance(provider.check_password("alice", PASSWORD), Identity)
    assert stored_hash(database, "alice") == upgraded


def test_disabled_user_is_not_rehashed(provider, database):
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with database.sessions.begin() as session:
        session.execute(update(LocalUser).where(LocalUser.username == "dave").values(password_hash=weak))
    assert provider.check_password("dave", PASSWORD) is Rejection.DISABLED
    assert stored_hash(database, "dave") == weak


def test_unreadable_stored_hash_is_a_wrong_password(provider, database):
    with database.sessions.begin() as session:
        session.execute(
            update(LocalUser).where(LocalUser.username == "alice").values(password_hash="not-a-hash")
        )
    assert provider.check_password("alice", PASSWORD) is Rejection.WRONG_CREDENTIALS


def test_long_passwords_are_not_truncated(database, hasher):
    local = LocalUsers(database.sessions, hasher, PasswordPolicy())
    head = "Mühle-Brücke-Tür-Güte-Flügel-Hütte-Bücher-Kübel-Lüfte-Mütze-Rübe-Stühle-Würfel"
    assert len(head.encode()) > 72  # well past bcrypt's 72 bytes
    local.create("erin", head + "-tail-one")
    provider = LocalProvider("local", database.engine, hasher)
    assert isinstance(provider.check_password("erin", head + "-tail-one"), Identity)
    assert provider.check_password("erin", head + "-tail-two") is Rejection.WRONG_CREDENTIALS


@pytest.mark.parametrize("username", ["alice", "mallory"], ids=["known", "unknown"])
def test_saturated_hashing_is_provider_unavailable(database, users, username):
    hasher = small_hasher(slots=1, wait_seconds=0.2)
    provider = LocalProvider("local", database.engine, hasher)
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_slot():
        hasher._run(lambda: holding.set() or release.wait(10))

    thread = threading.Thread(target=hold_the_only_slot)
    thread.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as caught:
            provider.check_password(username, PASSWORD)
        elapsed = time.monotonic() - started
        assert 0.15 <= elapsed < 1.5
        assert caught.value.provider_id == "local"
        assert "saturated" in caught.value.reason
    finally:
        release.set()
        thread.join(10)
    # The slot is free again: the check goes through.
    result = provider.check_password(username, PASSWORD)
    assert isinstance(result, Identity) if username == "alice" else result is Rejection.NO_SUCH_USER


def test_missing_directory_is_provider_unavailable(tmp_path, hasher):
    database = Database(f"sqlite:///{tmp_path / 'no-such-dir' / 'gateway.db'}")
    provider = LocalProvider("local", database.engine, hasher)
    try:
        for call in (lambda: provider.check_password("alice", PASSWORD), lambda: provider.lookup("alice")):
            with pytest.raises(ProviderUnavailable) as caught:
                call()
            assert caught.value.provider_id == "local"
    finally:
        database.dispose()


def test_database_gone_after_start_is_provider_unavailable(tmp_path, hasher):
    path = tmp_path / "gateway.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    LocalUsers(database.sessions, hasher, PasswordPolicy()).create("alice", PASSWORD)
    provider = LocalProvider("local", database.engine, hasher)
    assert isinstance(provider.check_password("alice", PASSWORD), Identity)
    # The file is replaced by a directory (a lost volume, say): nothing can be opened.
    database.dispose()
    for extra in ("", "-wal", "-shm"):
        (tmp_path / f"gateway.db{extra}").unlink(missing_ok=True)
    path.mkdir()
    try:
        with pytest.raises(ProviderUnavailable):
            provider.check_password("alice", PASSWORD)
    finally:
        database.dispose()


def test_user_management_errors(users):
    with pytest.raises(UserError, match="already exists"):
        users.create("alice", "another-long-password-9")
    with pytest.raises(UserError, match="no group"):
        users.create("zed", "another-long-password-9", groups=["nope"])
    assert users.get("zed") is None  # nothing half-created
    with pytest.raises(UserError, match="already exists"):
        users.create_group("drone-pilots")
    with pytest.raises(UserError, match="group names"):
        users.create_group("bad name")
    with pytest.raises(UserError, match="no local user"):
        users.set_enabled("nobody", True)
    with pytest.raises(PasswordRejected):
        users.set_password("alice", "short")


# ---- password policy ---------------------------------------------------------------------

POLICY = PasswordPolicy()
LONG_128 = hashlib.sha512(b"a long random-looking password").hexdigest()

# (id, password, username, accepted?, text of the refusal)
PASSWORDS = [
    ("11 characters", "abcdefghijk", "", False, "at least 12"),
    ("12 characters", "tqbf-jotld-7", "", True, ""),
    ("128 characters", LONG_128, "", True, ""),
    ("129 characters", LONG_128 + "x", "", False, "at most 128"),
    ("blocklisted", "password1234", "", False, "commonly used"),
    ("blocklisted, other case", "PassWord1234", "", False, "commonly used"),
    ("blocklisted keyboard walk", "1qaz2wsx3edc", "", False, "commonly used"),
    ("contains the username", "my-alice-secret-99", "alice", False, "username"),
    ("contains the username, other case", "my-ALICE-secret-99", "alice", False, "username"),
    ("short usernames are not checked", "al-is-my-secret-x", "al", True, ""),
    ("product name plus digits", "dronedb12345678", "", False, "name of this service"),
    ("registry plus digits", "Registry2024", "", False, "name of this service"),
    ("product name inside a longer phrase", "dronedb-flies-over-hills", "", True, ""),
    ("cyrillic", "пароль-очень-длинный", "", True, ""),
    ("emoji", "🚁🛰📡🗺🌲⛰🏞🌊🧭📷🔋🛬", "", True, ""),
    ("one emoji repeated", "\U0001f681" * 12, "", False, "repeated"),
    ("CJK", "我的无人机密码很长很长", "", False, "at least 12"),
    ("CJK long enough", "我的无人机密码很长很长很长", "", True, ""),
    ("spaces only", " " * 12, "", False, "white space"),
    ("tabs and newlines only", "\t\n" * 8, "", False, "white space"),
    ("spaces inside are fine", "correct horse battery", "", True, ""),
]


@pytest.mark.parametrize(
    "password, username, accepted, refusal", [c[1:] for c in PASSWORDS], ids=[c[0] for c in PASSWORDS]
)
def test_password_policy(password, username, accepted, refusal):
    if accepted:
        POLICY.check(password, username)
    else:
        with pytest.raises(PasswordRejected, match=refusal):
            POLICY.check(password, username)


def test_blocklist_is_bundled_and_can_be_switched_off(tmp_path):
    bundled = resources.files("providers.local").joinpath("data/common-passwords.txt")
    assert "password1234" in bundled.read_text("utf-8").splitlines()
    # (min_score=0: without the estimate, which refuses it too)
    PasswordPolicy(blocklist=None, min_score=0).check("password1234")
    own = tmp_path / "list.txt"
    own.write_text("# comment\nOur-Company-2024\n")
    with pytest.raises(PasswordRejected):
        PasswordPolicy(blocklist=str(own), min_score=0).check("our-company-2024")
    PasswordPolicy(blocklist=str(own), min_score=0).check("password1234")


def test_hashing_runs_only_on_the_dedicated_threads():
    """Resident argon2 memory is bounded by the pool size, not by the request threads."""
    hasher = small_hasher(slots=2, wait_seconds=5)
    seen = set()
    real = hasher._hasher

    class Spy:
        def verify(self, stored, password):
            seen.add(threading.current_thread().name)
            return real.verify(stored, password)

        def hash(self, password):
            return real.hash(password)

    hasher._hasher = Spy()
    stored = hasher.hash("a-long-enough-password")
    threads = [
        threading.Thread(target=hasher.verify, args=(stored, "a-long-enough-password")) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen and all(name.startswith("argon2") for name in seen)
    assert len(seen) <= 2


def test_rehash_never_overwrites_a_password_changed_meanwhile(database, users):
    """A login with the old password that re-hashes must not undo an admin's reset."""
    weak = CappedHasher("local", time_cost=1, memory_cost=8192)
    hasher = small_hasher(time_cost=2)
    provider = LocalProvider("local", database.engine, hasher)
    users.create("ivan", PASSWORD)
    with database.session() as session:
        session.query(LocalUser).filter_by(username="ivan").update({"password_hash": weak.hash(PASSWORD)})
    snapshot = provider._load("ivan")  # what the login verified
    users.set_password("ivan", "a-brand-new-passphrase-9")  # the reset lands in between
    provider._rehash(snapshot, PASSWORD)  # the login's re-hash comes last
    assert provider.check_password("ivan", PASSWORD) is Rejection.WRONG_CREDENTIALS
    assert isinstance(provider.check_password("ivan", "a-brand-new-passphrase-9"), Identity)


def test_deleted_users_ids_are_never_reused(database, users):
    users.create("judy", PASSWORD)
    first = users._sessions().query(LocalUser).filter_by(username="judy").one().id
    users.delete("judy")
    users.create("kurt", PASSWORD)
    assert users._sessions().query(LocalUser).filter_by(username="kurt").one().id != first


def test_a_group_name_taken_in_another_case_is_refused_and_named(users):
    """``Drone-Pilots`` beside ``drone-pilots`` would be two groups that rules tell apart while
    people read them as one (issue 18): refused, naming the one that exists."""
    with pytest.raises(UserError, match="group 'drone-pilots' already exists; a name that differs only"):
        users.create_group("Drone-Pilots")
    with pytest.raises(UserError, match="^group 'drone-pilots' already exists$"):
        users.create_group("drone-pilots")
    assert [name for name, _ in users.list_groups()] == ["drone-pilots", "survey-north"]
    with pytest.raises(UserError, match=r"^no group 'Drone-Pilots' \(there is 'drone-pilots'\)$"):
        users.create("erin", PASSWORD, groups=["Drone-Pilots"])
