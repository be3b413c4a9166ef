"""Unit tests (no sockets; a temp SQLite file): when an app password's last use is recorded, and
the per-user cap under concurrent creates. The PostgreSQL side of the cap is tested over the
gateway's own database in tests/integration/sso/test_sso.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.login.accounts import AccountRegistry
from gateway.login.apppasswords import LAST_USE_RESOLUTION, MAX_PER_USER, AppPasswordError, AppPasswords
from gateway.login.federation import Denied, Federation
from gateway.login.usernames import UsernamePolicy
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.models import AppPassword
from providers.base import Identity, Rejection
from providers.sql import utcnow
from tests.support.race import race


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


class DirectoryProvider:
    """A provider that checks no passwords of app-password users but looks them up (like LDAP):
    ``users`` maps username -> (subject, enabled)."""

    id = "dir"

    def __init__(self, users):
        self.users = users

    def check_password(self, username, password):
        return Rejection.NO_SUCH_USER

    def lookup(self, username):
        if username not in self.users:
            return Rejection.NO_SUCH_USER
        subject, enabled = self.users[username]
        return (
            Identity(provider=self.id, subject=subject, username=username) if enabled else Rejection.DISABLED
        )


def _last_used(database, public_id):
    with database.engine.connect() as connection:
        return connection.execute(
            select(AppPassword.last_used_at).where(AppPassword.id == public_id)
        ).scalar_one()


def _federation(database, clock, users):
    apps = AppPasswords(database, clock=clock)
    accounts = AccountRegistry(database)
    for username, (subject, _enabled) in users.items():
        accounts.claim(Identity(provider="dir", subject=subject, username=username))
    provider = DirectoryProvider(users)
    return Federation([provider], accounts, AuditLog(database), UsernamePolicy(), apps), apps, provider


# ---- last use ------------------------------------------------------------------------------


def test_find_records_nothing_and_touch_records_to_the_resolution(database):
    clock = Clock()
    apps = AppPasswords(database, clock=clock)
    view, password = apps.create("ann", "laptop")
    match = apps.find(password)
    assert match is not None and (match.id, match.username) == (view.id, "ann")
    assert _last_used(database, view.id) is None
    apps.touch(match)
    first = _last_used(database, view.id)
    assert first == clock.now
    clock.now += LAST_USE_RESOLUTION - timedelta(seconds=1)
    apps.touch(apps.find(password))
    assert _last_used(database, view.id) == first  # within the resolution: no write
    clock.now += timedelta(seconds=1)
    apps.touch(apps.find(password))
    assert _last_used(database, view.id) == clock.now


def test_an_accepted_app_password_login_records_its_use(database):
    federation, apps, _ = _federation(database, Clock(), {"ann": ("s-ann", True)})
    view, password = apps.create("ann", "laptop")
    assert federation.authenticate_password("ann", password).username == "ann"
    assert _last_used(database, view.id) is not None


REFUSED_LOGINS = [
    # (what, directory users, change in the directory after creating, who logs in, status)
    ("another username", {"ann": ("s-ann", True), "ben": ("s-ben", True)}, {}, "ben", 401),
    ("a disabled account", {"ann": ("s-ann", True)}, {"ann": ("s-ann", False)}, "ann", 403),
    ("a replaced person", {"ann": ("s-ann", True)}, {"ann": ("s-someone-else", True)}, "ann", None),
]


@pytest.mark.parametrize(
    "users, change, username, status",
    [case[1:] for case in REFUSED_LOGINS],
    ids=[case[0] for case in REFUSED_LOGINS],
)
def test_a_refused_login_records_no_use(database, users, change, username, status):
    federation, apps, provider = _federation(database, Clock(), dict(users))
    view, password = apps.create("ann", "laptop")
    provider.users.update(change)
    with pytest.raises(Denied) as denied:
        federation.authenticate_password(username, password)
    if status is not None:
        assert denied.value.status == status
    assert _last_used(database, view.id) is None


# ---- the per-user cap ----------------------------------------------------------------------


def test_the_cap_refuses_one_more_and_leaves_no_row(database):
    apps = AppPasswords(database)
    for number in range(MAX_PER_USER):
        apps.create("ann", f"p{number}")
    with pytest.raises(AppPasswordError, match=f"at most {MAX_PER_USER}"):
        apps.create("ann", "one too many")
    assert len(apps.list("ann")) == MAX_PER_USER
    with database.engine.connect() as connection:
        assert (
            connection.execute(select(AppPassword.id).where(AppPassword.username == "ann")).all().__len__()
            == MAX_PER_USER
        )
    AppPasswords(database, kind="api").create("ann", "an API key has its own cap")
    apps.create("ben", "another user has their own cap")
    apps.revoke("ann", apps.list("ann")[0].id)
    apps.create("ann", "room again after a revoke")


def test_concurrent_creates_never_pass_the_cap(database, tmp_path):
    """Two engines on one file stand in for two workers; every thread creates at once."""
    other = Database(database.url)
    try:
        stores = [AppPasswords(database), AppPasswords(other)]
        outcomes = race(
            lambda number: stores[number % 2].create("ann", f"p{number}"),
            MAX_PER_USER + 10,
            AppPasswordError,
            "refused",
        )
    finally:
        other.dispose()
    assert outcomes.count("ok") == MAX_PER_USER, outcomes
    assert outcomes.count("refused") == 10, outcomes
    assert len(AppPasswords(database).list("ann")) == MAX_PER_USER
