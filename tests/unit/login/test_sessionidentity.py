"""Open sessions follow their local user's changes (gateway.login.sessionidentity): what the
token path answers with after an admin change is what a fresh sign-in would give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.login.sessionidentity import local_user_changed
from gateway.sso.sessions import SessionStore
from providers.base import MUST_CHANGE_PASSWORD, Identity
from providers.local.hashing import CappedHasher
from providers.local.policy import PasswordPolicy
from providers.local.provider import LocalProvider
from providers.local.users import LocalUsers

PASSWORD = "correct horse battery staple"


@pytest.fixture
def local(database):
    hasher = CappedHasher("local", time_cost=1, memory_cost=8192)
    users = LocalUsers(database.sessions, hasher, PasswordPolicy(), on_change=local_user_changed)
    users.create_group("drone-pilots")
    users.create_group("survey-north")
    users.create("alice", PASSWORD, email="alice@example.org", groups=["drone-pilots"])
    users.create("bob", PASSWORD, groups=["drone-pilots", "survey-north"])
    return users, LocalProvider("local", database.engine, hasher)


def _open(database, provider, username) -> str:
    identity = provider.lookup(username)
    assert isinstance(identity, Identity)
    return SessionStore(database).create(identity, timedelta(hours=1)).id


def _kept(database, session_id) -> Identity:
    record = SessionStore(database).get_active(session_id)
    assert record is not None
    return record.identity


def test_membership_values_and_a_temporary_password_reach_open_sessions(database, local):
    users, provider = local
    session_id = _open(database, provider, "alice")

    users.remove_member("drone-pilots", "alice")
    assert _kept(database, session_id).groups == ()
    users.add_member("survey-north", "alice")
    users.set_overrides("alice", {"maxStorageMB": 1024})
    kept = _kept(database, session_id)
    assert kept.groups == ("survey-north",) and dict(kept.overrides) == {"maxStorageMB": 1024}
    assert kept == provider.lookup("alice")  # what a fresh sign-in's identity would be

    users.set_password("alice", "another long passphrase here", temporary=True)
    assert _kept(database, session_id).attributes[MUST_CHANGE_PASSWORD] is True


def test_deleting_a_group_reaches_every_member_and_only_their_sessions(database, local):
    users, provider = local
    alice, bob = _open(database, provider, "alice"), _open(database, provider, "bob")
    users.delete_group("survey-north")
    assert _kept(database, bob).groups == ("drone-pilots",)
    assert _kept(database, alice).groups == ("drone-pilots",)


def test_a_session_of_another_identity_under_the_name_is_left_alone(database, local):
    users, _provider = local
    foreign = Identity(provider="corp", subject="uid=alice", username="alice", groups=("pilots",))
    session_id = SessionStore(database).create(foreign, timedelta(hours=1)).id
    users.remove_member("drone-pilots", "alice")
    assert _kept(database, session_id) == foreign
