"""Unit tests (SQLite, no sockets): a change of local users made by the local store (which
commits by itself) records its Registry writes in that same transaction: both commit, or
neither does."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from gateway.storage.outbox import RegistryOutboxEntry
from tests.unit.conftest import UNIT_CONFIG, build_unit_services

PASSWORD = "amber-kettle-93-orchard"
CONFIG = (
    UNIT_CONFIG
    + """\
registry:
  url: http://127.0.0.1:9
  service_account: {username: admin, password: not-used-here}
  sync: {enabled: false}
mapping:
  default_roles: []
  rules:
    - {name: crew, match: {group: crew}, roles: [crew-member]}
"""
)


@pytest.fixture
def services(tmp_path):

    built = build_unit_services(tmp_path, CONFIG)
    built.local_users.create_group("crew")
    built.local_users.create("pilot", PASSWORD, enforce_policy=False)
    # A sign-in: the Registry has an account for pilot from now on.
    outcome = built.login.registry_password("pilot", PASSWORD, time.perf_counter())
    assert type(outcome).__name__ == "Granted", outcome
    yield built
    built.close()


def queued(services) -> list[tuple[str, dict]]:
    with services.database.session() as session:
        rows = session.scalars(select(RegistryOutboxEntry).order_by(RegistryOutboxEntry.id))
        return [(row.username, dict(row.payload)) for row in rows if row.kind == "set_metadata"]


def clear(services) -> None:
    with services.database.session() as session:
        session.query(RegistryOutboxEntry).delete()


def test_a_membership_change_and_its_registry_write_commit_together(services):
    clear(services)
    services.admin_groups().add_member("admin", "crew", "pilot")
    assert queued(services) == [("pilot", {"username": "pilot", "roles": ["crew-member"]})]

    clear(services)
    services.admin_users().set_metadata("admin", "pilot", {"maxStorageMB": 100})
    assert queued(services) == [
        ("pilot", {"username": "pilot", "roles": ["crew-member"], "maxStorageMB": 100})
    ]


def test_groups_and_roles_changed_at_once_are_one_transaction_and_one_write(services):
    clear(services)
    services.admin_users().update("admin", "pilot", groups=["crew"], roles=["mapper"])
    assert queued(services) == [("pilot", {"username": "pilot", "roles": ["crew-member", "mapper"]})]


def test_a_change_that_rolls_back_queues_nothing(services):
    clear(services)
    in_step = services.registry_answers().in_step(["pilot"])
    assert in_step is not None

    def queue_then_fail(session):
        in_step(session)
        assert session.scalars(select(RegistryOutboxEntry)).all()  # queued in this transaction
        raise RuntimeError("the change fails after its writes")

    with pytest.raises(RuntimeError):
        services.local_users.add_member("crew", "pilot", also=queue_then_fail)
    assert services.local_users.get("pilot").groups == ()
    assert queued(services) == []


def test_disabling_a_local_user_is_one_transaction_with_its_registry_write(services, monkeypatch):
    from gateway.registry.push import RegistryPush
    from gateway.storage.models import Account

    clear(services)

    def fail(self, session, username):
        raise RuntimeError("the Registry write cannot be recorded")

    with monkeypatch.context() as patched:
        patched.setattr(RegistryPush, "deactivated", fail)
        with pytest.raises(RuntimeError):
            services.user_operations().set_enabled("pilot", False, actor="admin")
    assert services.local_users.get("pilot").enabled  # the local flag rolled back with it
    with services.database.session() as session:
        assert not session.scalars(select(Account.disabled).where(Account.username == "pilot")).one()

    services.user_operations().set_enabled("pilot", False, actor="admin")
    assert not services.local_users.get("pilot").enabled
    assert queued(services) == [("pilot", {"roles": ["deactivated"]})]
    with services.database.session() as session:
        assert session.scalars(select(Account.disabled).where(Account.username == "pilot")).one()
