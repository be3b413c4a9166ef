"""Simultaneous first logins of names the Registry would treat as one (``Ann``, ``ann``, ``ANN``).

With ``usernames.lowercase: false`` those spellings are different gateway names, but the
Registry finds its accounts by the upper-cased name (docs/registry-contract.md §2.1), so
whoever claims a second spelling would log in to the first one's Registry account. One
spelling may be owned at a time, even when every first login arrives at once on several
workers: two engines on one database stand in for two workers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid

import pytest

from gateway.login.accounts import AccountRegistry, UsernameTaken
from gateway.storage.db import Database
from providers.base import Identity
from tests.support.race import race

SPELLINGS = ("Ann", "ann", "ANN", "aNN", "AnN", "anN")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"claims_{uuid.uuid4().hex[:12]}")


def test_one_spelling_wins_when_every_first_login_arrives_at_once(database_url):
    first = Database(database_url)
    first.upgrade()
    second = Database(database_url)
    try:
        registries = [AccountRegistry(first), AccountRegistry(second)]
        for round_ in range(5):
            outcomes = race(
                lambda number, round_=round_: registries[number % 2].claim(
                    Identity(
                        provider=f"idp{number}",
                        subject=f"s{number}",
                        username=SPELLINGS[number] + str(round_),
                        groups=(),
                    )
                ),
                len(SPELLINGS),
                UsernameTaken,
                "taken",
            )
            assert outcomes.count("ok") == 1, (round_, outcomes)
            assert outcomes.count("taken") == len(SPELLINGS) - 1, (round_, outcomes)
            owned = [
                spelling
                for spelling in SPELLINGS
                if AccountRegistry(first).owner_of(spelling + str(round_)) is not None
            ]
            assert len(owned) == 1, (round_, owned)
    finally:
        first.dispose()
        second.dispose()
