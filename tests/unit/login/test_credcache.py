"""Unit tests (no sockets, a fake change feed and clock): the verified-credentials cache's
promises, one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from gateway.login.credcache import CacheSettings, VerifiedCredentials
from providers.base import Identity
from providers.sql import utcnow

ALICE = Identity(provider="local", subject="local:1", username="alice")
SSO_ALICE = Identity(provider="keycloak", subject="kc:1", username="alice")


class FakeChanges:
    """The credential_changes table: rows of (id, username); ``down`` makes reads fail."""

    def __init__(self):
        self.rows: list[tuple[int, str | None]] = []
        self.down = False

    def add(self, username: str | None) -> None:
        self.rows.append((len(self.rows) + 1, username))

    def newest_id(self) -> int:
        self._check()
        return self.rows[-1][0] if self.rows else 0

    def since(self, moment, after_id: int):
        self._check()
        return [row for row in self.rows if row[0] > after_id]

    def prune(self) -> None:
        pass

    def _check(self) -> None:
        if self.down:
            raise OperationalError("select", {}, Exception("down"))


@pytest.fixture
def now():
    return [1000.0]


def _cache(now, changes=None, **settings) -> tuple[VerifiedCredentials, FakeChanges]:
    changes = changes or FakeChanges()
    options = {"provider_seconds": (("local", 60.0),), **settings}
    cache = VerifiedCredentials(changes, CacheSettings(**options), clock=lambda: now[0])
    cache._poller.stop()  # the test drives poll() itself
    cache.poll()
    return cache, changes


def _advance(cache, now, seconds: float) -> None:
    """Let ``seconds`` pass, polling every half second as the background thread would."""
    for _ in range(int(seconds * 2)):
        now[0] += 0.5
        cache.poll()


def _remember(cache, identity=ALICE, password="right-password", **kwargs):
    cache.remember(
        identity.username,
        password,
        identity,
        app_password=kwargs.pop("app", False),
        generation=kwargs.pop("generation", cache.generation()),
        **kwargs,
    )


def test_only_the_exact_credentials_hit(now):
    cache, _ = _cache(now)
    _remember(cache)
    assert cache.lookup("alice", "right-password") is ALICE
    for username, password in [
        ("alice", "right-password "),
        ("alice", "Right-password"),
        ("alice", ""),
        ("alicE", "right-password"),
        ("bob", "right-password"),
    ]:
        assert cache.lookup(username, password) is None


def test_an_entry_lives_for_its_provider_ttl(now):
    cache, _ = _cache(now)
    _remember(cache)
    _advance(cache, now, 59)
    assert cache.lookup("alice", "right-password") is ALICE
    _advance(cache, now, 2)
    assert cache.lookup("alice", "right-password") is None


@pytest.mark.parametrize(
    "provider, app_password, expected",
    [
        ("local", False, 60.0),  # the provider's own TTL
        ("ldap-off", False, 0.0),  # turned off for that provider
        ("keycloak", False, 0.0),  # no TTL of its own: IdP users have no password path
        ("local", True, 60.0),  # app password of a local user: the shorter of the two
        ("ldap-off", True, 0.0),  # the provider's 0 wins
        ("keycloak", True, 600.0),  # app password of an IdP user: the app password TTL
    ],
)
def test_ttls(provider, app_password, expected):
    settings = CacheSettings(
        provider_seconds=(("local", 60.0), ("ldap-off", 0.0)), app_password_seconds=600.0
    )
    assert settings.ttl_for(provider, app_password) == expected


def test_an_app_password_is_not_cached_past_its_expiry(now):
    cache, _ = _cache(now)
    _remember(cache, SSO_ALICE, "gwap_x", app=True, valid_until=utcnow() + timedelta(seconds=5))
    assert cache.lookup("alice", "gwap_x") is SSO_ALICE
    now[0] += 6
    cache.poll()
    assert cache.lookup("alice", "gwap_x") is None
    _remember(cache, SSO_ALICE, "gwap_y", app=True, valid_until=utcnow() - timedelta(seconds=1))
    assert cache.lookup("alice", "gwap_y") is None


def test_a_change_forgets_that_user_and_everyone_on_none(now):
    cache, changes = _cache(now)
    bob = Identity(provider="local", subject="local:2", username="bob")
    _remember(cache)
    _remember(cache, bob, "bobs-password")
    changes.add("alice")
    cache.poll()
    assert cache.lookup("alice", "right-password") is None
    assert cache.lookup("bob", "bobs-password") is bob
    changes.add(None)
    cache.poll()
    assert cache.lookup("bob", "bobs-password") is None


def test_a_verification_that_overlapped_a_change_is_not_kept(now):
    cache, changes = _cache(now)
    generation = cache.generation()  # verification starts (reads the old password)
    changes.add("alice")  # meanwhile the password is changed
    cache.poll()
    _remember(cache, generation=generation)
    assert cache.lookup("alice", "right-password") is None


def test_no_hits_while_changes_cannot_be_read(now):
    cache, changes = _cache(now)
    _remember(cache)
    changes.down = True
    now[0] += 0.5
    assert cache.poll() is False
    assert cache.lookup("alice", "right-password") is ALICE  # within the second
    now[0] += 0.6
    assert cache.lookup("alice", "right-password") is None  # stale: verify in full
    changes.down = False
    assert cache.poll() is True
    assert cache.lookup("alice", "right-password") is ALICE


def test_a_lookup_reads_the_changes_itself_when_the_background_read_is_late(now):
    cache, changes = _cache(now)
    _remember(cache)
    now[0] += 5  # no background poll meanwhile (a starved thread on a busy machine)
    assert cache.lookup("alice", "right-password") is ALICE
    changes.add("alice")
    now[0] += 5
    assert cache.lookup("alice", "right-password") is None  # the change was read first


def test_after_a_long_gap_everything_is_forgotten(now):
    cache, changes = _cache(now)
    _remember(cache)
    changes.down = True
    now[0] += 30
    cache.poll()
    changes.down = False
    cache.poll()
    assert cache.lookup("alice", "right-password") is None


def test_the_cap_evicts_the_least_recently_used(now):
    cache, _ = _cache(now, max_entries=2)
    users = [Identity(provider="local", subject=f"local:{i}", username=f"u{i}") for i in range(3)]
    _remember(cache, users[0], "p0")
    _remember(cache, users[1], "p1")
    assert cache.lookup("u0", "p0") is users[0]  # u0 is now the most recent
    _remember(cache, users[2], "p2")
    assert cache.lookup("u1", "p1") is None
    assert cache.lookup("u0", "p0") is users[0] and cache.lookup("u2", "p2") is users[2]


def test_the_key_is_per_process_and_no_password_is_kept(now):
    cache, _ = _cache(now)
    _remember(cache)
    other, _ = _cache(now)
    assert cache._digest("alice", "right-password") != other._digest("alice", "right-password")
    assert all(b"right-password" not in key for key in cache._entries)
