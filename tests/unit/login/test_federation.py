"""Unit tests (no sockets; a temp SQLite file): provider routing, username ownership, outages.

The providers here are fakes: the point is the federation's rules, not a backend.
"""

from __future__ import annotations

import pytest

from gateway.login.accounts import AccountRegistry
from gateway.login.federation import Denied, Federation
from gateway.login.usernames import UsernamePolicy
from gateway.observe.audit import AuditLog
from gateway.storage.models import AuditEvent
from providers.base import Identity, ProviderUnavailable, Rejection


class FakeProvider:
    def __init__(self, provider_id, users=None, down=False):
        self.id = provider_id
        self.users = users or {}  # username -> (password, subject, enabled)
        self.down = down
        self.calls = []

    def check_password(self, username, password):
        self.calls.append(username)
        if self.down:
            raise ProviderUnavailable(self.id, "down")
        if username not in self.users:
            return Rejection.NO_SUCH_USER
        secret, subject, enabled = self.users[username]
        if secret != password:
            return Rejection.WRONG_CREDENTIALS
        if not enabled:
            return Rejection.DISABLED
        return Identity(provider=self.id, subject=subject, username=username)

    def lookup(self, username):
        if username not in self.users:
            return Rejection.NO_SUCH_USER
        _, subject, enabled = self.users[username]
        return (
            Identity(provider=self.id, subject=subject, username=username) if enabled else Rejection.DISABLED
        )


def make(database, *providers):
    accounts = AccountRegistry(database)
    return Federation(list(providers), accounts, AuditLog(database), UsernamePolicy()), accounts


def test_first_provider_that_knows_the_user_decides(database):
    first = FakeProvider("first", {"ann": ("pw-first", "s1", True)})
    second = FakeProvider("second", {"ann": ("pw-second", "s2", True), "ben": ("pw", "s3", True)})
    federation, _ = make(database, first, second)
    assert federation.authenticate_password("ben", "pw").provider == "second"
    with pytest.raises(Denied) as denied:
        federation.authenticate_password("ann", "pw-second")  # first knows ann: its no counts
    assert denied.value.status == 401 and denied.value.counts_as_failure


def test_owned_username_is_only_asked_of_its_owner(database):
    first = FakeProvider("first", {})
    second = FakeProvider("second", {"cat": ("pw", "s1", True)})
    federation, _ = make(database, first, second)
    federation.authenticate_password("cat", "pw")
    first.users["cat"] = ("pw", "intruder", True)  # another source now claims the same name
    first.calls.clear()
    assert federation.authenticate_password("cat", "pw").provider == "second"
    assert first.calls == []


@pytest.mark.parametrize(
    "claimant_provider, claimant_subject",
    [
        ("other", "s1"),  # another provider
        ("second", "s-new"),  # same provider, a different person (re-created directory entry)
    ],
)
def test_a_second_identity_for_an_owned_username_is_refused_and_audited(
    database, claimant_provider, claimant_subject
):
    owner = FakeProvider("second", {"dan": ("pw", "s1", True)})
    federation, _ = make(database, owner)
    federation.authenticate_password("dan", "pw")
    with pytest.raises(Denied) as denied:
        federation.admit(Identity(provider=claimant_provider, subject=claimant_subject, username="dan"))
    assert denied.value.status == 403
    with database.session() as session:
        events = session.query(AuditEvent).filter_by(event="username_collision").all()
        assert [(e.username, e.outcome) for e in events] == [("dan", "refused")]


def test_an_unavailable_provider_is_not_skipped(database):
    """If the first provider is down, the gateway cannot know the user wasn't its: 503."""
    down = FakeProvider("down", down=True)
    later = FakeProvider("later", {"eve": ("pw", "s1", True)})
    federation, _ = make(database, down, later)
    with pytest.raises(ProviderUnavailable):
        federation.authenticate_password("eve", "pw")


@pytest.mark.parametrize("password", ["", " ", "\t\n"])
def test_empty_passwords_never_reach_a_provider(database, password):
    provider = FakeProvider("p", {"fay": ("", "s1", True)})
    federation, _ = make(database, provider)
    with pytest.raises(Denied) as denied:
        federation.authenticate_password("fay", password)
    assert denied.value.status == 401 and provider.calls == []


def test_disabled_at_the_gateway_is_403_even_with_the_right_password(database):
    provider = FakeProvider("p", {"gus": ("pw", "s1", True)})
    federation, accounts = make(database, provider)
    federation.authenticate_password("gus", "pw")
    accounts.set_disabled("gus", True)
    with pytest.raises(Denied) as denied:
        federation.authenticate_password("gus", "pw")
    assert denied.value.status == 403


def test_disabling_an_account_revokes_its_sessions(database):
    from datetime import timedelta

    from gateway.sso.sessions import SessionStore

    provider = FakeProvider("p", {"hal": ("pw", "s1", True)})
    federation, accounts = make(database, provider)
    identity = federation.authenticate_password("hal", "pw")
    sessions = SessionStore(database)
    session = sessions.create(identity, timedelta(hours=1))
    assert sessions.get_active(session.id) is not None
    accounts.set_disabled("hal", True)
    assert sessions.get_active(session.id) is None


def test_one_identity_cannot_own_two_usernames(database):
    from gateway.login.accounts import UsernameTaken

    _, accounts = make(database)
    accounts.claim(Identity(provider="p", subject="s1", username="lea"))
    with pytest.raises(UsernameTaken):
        accounts.claim(Identity(provider="p", subject="s1", username="lea2"))


def test_reserved_names_are_only_for_password_providers(database):
    """An IdP identity (no password capability) may not claim the bootstrap admin's name, even
    where no local admin exists to own it; a directory user may."""

    class IdpProvider:
        id = "idp"

    directory = FakeProvider("directory", {"admin": ("pw", "dn-admin", True)})
    accounts = AccountRegistry(database)
    federation = Federation(
        [IdpProvider(), directory], accounts, AuditLog(database), UsernamePolicy(), reserved=["admin"]
    )
    with pytest.raises(Denied) as denied:
        federation.admit(Identity(provider="idp", subject="https://idp|x", username="admin"))
    assert denied.value.status == 403 and denied.value.reason == "reserved_username"
    assert accounts.owner_of("admin") is None
    assert federation.authenticate_password("admin", "pw").provider == "directory"


def test_a_proof_says_until_when_it_holds(database):
    """Passwords hold until something changes (None); an app password of an IdP user holds until
    the app password expires or the last browser login is too old, whichever comes first."""
    from datetime import timedelta

    from gateway.login.apppasswords import AppPasswords
    from providers.sql import utcnow

    class FakeIdp:
        id = "kc"  # checks no passwords, looks nobody up: answers come from the snapshot

    local = FakeProvider("local", {"alice": ("alices-password", "s-a", True)})
    accounts = AccountRegistry(database)
    app_passwords = AppPasswords(database)
    federation = Federation(
        [local, FakeIdp()],
        accounts,
        AuditLog(database),
        UsernamePolicy(),
        app_passwords,
        snapshot_max_age=timedelta(days=30),
    )
    assert federation.prove_password("alice", "alices-password")[1] is None

    bob = Identity(provider="kc", subject="kc-b", username="bob")
    accounts.claim(bob)
    accounts.record_snapshot(bob)
    _view, secret = app_passwords.create("bob", "qgis", lifetime=timedelta(days=90))
    identity, until = federation.prove_password("bob", secret)
    assert identity.username == "bob"
    assert timedelta(days=29) < until - utcnow() <= timedelta(days=30)  # the snapshot's limit
    _view, short = app_passwords.create("bob", "gdal", lifetime=timedelta(days=1))
    assert federation.prove_password("bob", short)[1] - utcnow() <= timedelta(days=1)


def test_a_provider_no_longer_in_force_answers_no_app_password_and_no_session(database):
    """An IdP user's app password is answered from the last browser login only while the IdP is
    in force: once an admin disables or removes it, the snapshot answers nothing."""
    from datetime import timedelta

    from gateway.login.apppasswords import AppPasswords

    class FakeIdp:
        id = "kc"

    local = FakeProvider("local", {"alice": ("alices-password", "s-a", True)})
    accounts = AccountRegistry(database)
    app_passwords = AppPasswords(database)
    federation = Federation([local, FakeIdp()], accounts, AuditLog(database), UsernamePolicy(), app_passwords)
    bob = Identity(provider="kc", subject="kc-b", username="bob")
    accounts.claim(bob)
    accounts.record_snapshot(bob)
    _view, secret = app_passwords.create("bob", "qgis", lifetime=timedelta(days=90))
    assert federation.prove_password("bob", secret)[0].username == "bob"
    assert federation.in_force("kc")

    federation.replace_providers([local])  # kc disabled or removed
    assert not federation.in_force("kc") and federation.in_force("local")
    with pytest.raises(Denied) as denied:
        federation.prove_password("bob", secret)
    assert (denied.value.status, denied.value.reason) == (401, "provider_not_in_force")
    with pytest.raises(Denied):
        federation.current_identity(accounts.owner_of("bob"))

    federation.replace_providers([local, FakeIdp()])  # added again under the same id
    assert federation.prove_password("bob", secret)[0].username == "bob"
