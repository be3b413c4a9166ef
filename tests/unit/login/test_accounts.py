"""Username ownership records: one owner per name, and logins recorded without a write each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.login import accounts as accounts_module
from gateway.login.accounts import AccountRegistry, UsernameTaken
from providers.base import Identity


def _identity(groups=("pilots",), provider="corp", subject="s-1"):
    return Identity(provider=provider, subject=subject, username="ann", groups=groups)


def test_a_repeated_login_with_the_same_groups_is_not_written_again(database, monkeypatch):
    registry = AccountRegistry(database)
    registry.claim(_identity())
    first = registry.owner_of("ann")
    assert first.last_groups == ("pilots",) and first.last_login_at is not None

    registry.claim(_identity(), known=first)
    assert registry.owner_of("ann").last_login_at == first.last_login_at  # within the resolution

    registry.claim(_identity(groups=("pilots", "admins")), known=registry.owner_of("ann"))
    changed = registry.owner_of("ann")
    assert changed.last_groups == ("pilots", "admins") and changed.last_login_at >= first.last_login_at

    later = changed.last_login_at + accounts_module.LOGIN_RECORD_RESOLUTION + timedelta(seconds=1)
    monkeypatch.setattr(accounts_module, "utcnow", lambda: later)
    registry.claim(_identity(groups=("pilots", "admins")), known=changed)
    assert registry.owner_of("ann").last_login_at == later


def test_another_identity_cannot_take_the_name(database):
    registry = AccountRegistry(database)
    registry.claim(_identity())
    with pytest.raises(UsernameTaken):
        registry.claim(_identity(provider="other", subject="s-2"), known=registry.owner_of("ann"))


def test_a_spelling_the_registry_would_upper_case_onto_an_owned_name_is_taken(database):
    """Contract §2.1: the Registry upper-cases names to find its accounts, so with
    ``usernames.lowercase: false`` ``Ann`` would reach ``ann``'s Registry account: refused."""
    registry = AccountRegistry(database)
    registry.claim(_identity())
    twin = Identity(provider="other", subject="s-2", username="Ann", groups=())
    with pytest.raises(UsernameTaken) as refused:
        registry.claim(twin)
    assert refused.value.owner_provider == "corp" and registry.owner_of("Ann") is None
    registry.claim(_identity(), known=registry.owner_of("ann"))  # the owner still logs in
