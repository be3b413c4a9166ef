"""SessionStore: create, look up, revoke and list SSO sessions (temporary SQLite file)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from gateway.sso.sessions import SessionRecord, SessionStore
from gateway.storage.models import SsoSession
from providers.base import Identity


class Clock:
    def __init__(self):
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


def identity(username="alice", provider="ldap") -> Identity:
    return Identity(
        provider=provider,
        subject=f"uuid-{username}",
        username=username,
        email=f"{username}@example.com",
        display_name=username.title(),
        groups=("staff", "cn=staff,dc=example,dc=com"),
        attributes={"department": "survey"},
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(database, clock):
    return SessionStore(database, clock=clock)


def test_create_and_get_round_trip(store, clock):
    record = store.create(identity(), timedelta(hours=8))
    assert isinstance(record, SessionRecord)
    assert len(record.id) == 32 and record.id.replace("-", "").replace("_", "").isalnum()
    assert (record.username, record.provider) == ("alice", "ldap")
    assert record.created_at == clock()
    assert record.expires_at == clock() + timedelta(hours=8)
    assert store.get_active(record.id) == record
    assert store.get_active(record.id).identity == identity()


def test_records_are_frozen(store):
    record = store.create(identity(), timedelta(hours=1))
    with pytest.raises(AttributeError):
        record.username = "mallory"  # type: ignore[misc]


def test_ids_are_unique(store):
    ids = {store.create(identity(), timedelta(hours=1)).id for _ in range(20)}
    assert len(ids) == 20


def test_expired_session_is_not_active(store, clock):
    record = store.create(identity(), timedelta(minutes=10))
    assert store.get_active(record.id, now=clock() + timedelta(minutes=9, seconds=59)) == record
    assert store.get_active(record.id, now=clock() + timedelta(minutes=10)) is None
    clock.advance(minutes=11)
    assert store.get_active(record.id) is None


@pytest.mark.parametrize("session_id", ["", "no-such-session", "x" * 65, None, 42])
def test_unknown_or_junk_ids_are_not_active(store, session_id):
    store.create(identity(), timedelta(hours=1))
    assert store.get_active(session_id) is None


def test_get_active_is_one_primary_key_query(store, database):
    record = store.create(identity(), timedelta(hours=1))
    statements = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        assert store.get_active(record.id) is not None
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert "WHERE sso_sessions.id = ?" in selects[0]


def test_revoke(store):
    record = store.create(identity(), timedelta(hours=1))
    other = store.create(identity(), timedelta(hours=1))
    assert store.revoke(record.id) is True
    assert store.get_active(record.id) is None
    assert store.get_active(other.id) == other
    assert store.revoke(record.id) is False  # already revoked
    assert store.revoke("no-such-session") is False


def test_revoking_an_expired_session_reports_false(store, clock):
    record = store.create(identity(), timedelta(minutes=1))
    clock.advance(minutes=2)
    assert store.revoke(record.id) is False


def test_revoke_user_ends_only_that_users_active_sessions(store, clock):
    a1 = store.create(identity("alice"), timedelta(hours=1))
    a2 = store.create(identity("alice"), timedelta(hours=2))
    store.create(identity("alice"), timedelta(minutes=1))  # will have expired
    store.revoke(store.create(identity("alice"), timedelta(hours=1)).id)  # already revoked
    bob = store.create(identity("bob"), timedelta(hours=1))
    clock.advance(minutes=5)
    assert store.revoke_user("alice") == 2
    assert store.get_active(a1.id) is None and store.get_active(a2.id) is None
    assert store.get_active(bob.id) == bob
    assert store.revoke_user("alice") == 0
    assert store.revoke_user("nobody") == 0


def test_list_for_user_lists_active_sessions_newest_first(store, clock):
    older = store.create(identity("alice"), timedelta(hours=1))
    clock.advance(seconds=1)
    newer = store.create(identity("alice", provider="oidc"), timedelta(hours=1))
    revoked = store.create(identity("alice"), timedelta(hours=1))
    store.revoke(revoked.id)
    store.create(identity("alice"), timedelta(seconds=30))  # expires below
    store.create(identity("bob"), timedelta(hours=1))
    clock.advance(minutes=1)
    assert store.list_for_user("alice") == [newer, older]
    assert store.list_for_user("nobody") == []


def test_purge_deletes_long_dead_sessions(store, database, clock):
    live = store.create(identity(), timedelta(hours=1))
    store.create(identity(), timedelta(minutes=1))
    store.revoke(store.create(identity(), timedelta(hours=1)).id)
    clock.advance(minutes=2)
    assert store.purge(before=clock()) == 2
    with database.session() as session:
        assert [row.id for row in session.query(SsoSession).all()] == [live.id]


def test_create_rejects_non_positive_lifetime(store):
    with pytest.raises(ValueError):
        store.create(identity(), timedelta(0))


def test_stored_identity_survives_a_new_store(database, store):
    record = store.create(identity(), timedelta(hours=1))
    fresh = SessionStore(database).get_active(record.id)
    assert fresh.identity.groups == ("staff", "cn=staff,dc=example,dc=com")
    assert fresh.identity.attributes["department"] == "survey"


def _sealed_column(database, session_id):
    with database.engine.connect() as connection:
        return connection.execute(
            select(SsoSession.__table__.c.sealed_id_token).where(SsoSession.__table__.c.id == session_id)
        ).scalar()


def test_the_sealed_id_token_stays_out_of_every_read_but_its_own(store, database):
    record = store.create(identity(), timedelta(hours=1), sealed_id_token="sealed-id-token")
    assert record.sealed_id_token is None and "sealed-id-token" not in repr(record)
    statements = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        active = store.get_active(record.id)
        assert active.sealed_id_token is None
        assert store.list_for_user("alice") == [record]
        assert store.page()[0] == [record]
        assert store.with_sealed_id_token(active).sealed_id_token == "sealed-id-token"
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert [s for s in selects if "sealed_id_token" in s] == [selects[-1]]  # only the last read
    assert store.with_sealed_id_token(active) == active  # compared without it


@pytest.mark.parametrize(
    "end",
    [
        lambda store, record: store.revoke(record.id),
        lambda store, record: store.revoke_user(record.username),
        lambda store, record: store.revoke_all(),
    ],
)
def test_ending_a_session_forgets_its_id_token(store, database, end):
    record = store.create(identity(), timedelta(hours=1), sealed_id_token="sealed-id-token")
    kept = store.create(identity("bob"), timedelta(hours=1), sealed_id_token="bobs")
    assert _sealed_column(database, record.id) == "sealed-id-token"
    assert end(store, record)
    assert _sealed_column(database, record.id) is None
    assert store.with_sealed_id_token(record).sealed_id_token is None
    if store.get_active(kept.id) is not None:  # revoke_all ended it as well
        assert _sealed_column(database, kept.id) == "bobs"
    else:
        assert _sealed_column(database, kept.id) is None


# --- what an IdP's back-channel logout names ------------------------------------------------


def test_an_idp_logout_by_sid_ends_only_that_idp_session(store):
    one = store.create(identity(provider="corp"), timedelta(hours=1), idp_session="sid-1")
    two = store.create(identity(provider="corp"), timedelta(hours=1), idp_session="sid-2")
    other_provider = store.create(identity(provider="kc"), timedelta(hours=1), idp_session="sid-1")
    seen = []
    ended = store.revoke_idp_sessions(
        "corp", username=None, idp_session="sid-1", also=lambda session, names: seen.append(names)
    )
    assert ended == {"alice": 1} and seen == [{"alice"}]
    assert store.get_active(one.id) is None
    assert store.get_active(two.id) is not None and store.get_active(other_provider.id) is not None


def test_an_idp_logout_by_sub_ends_every_session_of_that_user_at_that_provider(store):
    sessions = [
        store.create(identity(provider="corp"), timedelta(hours=1), idp_session=f"s{i}") for i in range(3)
    ]
    bob = store.create(identity("bob", provider="corp"), timedelta(hours=1), idp_session="s0")
    assert store.revoke_idp_sessions("corp", username="alice", idp_session=None) == {"alice": 3}
    assert all(store.get_active(s.id) is None for s in sessions)
    assert store.get_active(bob.id) is not None
    # sid and sub together: that session, and only if it is that user's
    assert store.revoke_idp_sessions("corp", username="alice", idp_session="s0") == {}
    assert store.get_active(bob.id) is not None


def test_an_idp_logout_names_someone(store):
    with pytest.raises(ValueError):
        store.revoke_idp_sessions("corp", username=None, idp_session=None)
