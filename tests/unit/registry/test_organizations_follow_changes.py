"""Unit tests (SQLite, no sockets): a local user's Registry organizations follow the changes
that alter what the rules grant them (a group membership, a saved rule), queued in the
change's own transaction through the one path a sign-in and the sync use
(``queue_organizations``): only when the grant differs from what was last queued."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from gateway.storage.outbox import RegistryOutboxEntry
from tests.unit.conftest import UNIT_CONFIG, build_unit_services

PASSWORD = "amber-kettle-93-orchard"
# No mapping: section, so the rules live in the database and the admin services save them.
CONFIG = (
    UNIT_CONFIG
    + """\
registry:
  url: http://127.0.0.1:9
  service_account: {username: admin, password: not-used-here}
  sync: {enabled: false}
"""
)
CREW_ORG = {"name": "crew-org", "match": {"group": "crew"}, "organizations": ["crew"]}


@pytest.fixture
def services(tmp_path):
    built = build_unit_services(tmp_path, CONFIG)
    built.local_users.create_group("crew")
    built.local_users.create("pilot", PASSWORD, enforce_policy=False)
    outcome = built.login.registry_password("pilot", PASSWORD, time.perf_counter())
    assert type(outcome).__name__ == "Granted", outcome  # the Registry knows pilot from now on
    yield built
    built.close()


def organizations_queued(services) -> list[tuple[str, dict]]:
    """The organization writes waiting in the outbox, then the outbox emptied."""
    with services.database.session() as session:
        rows = session.scalars(select(RegistryOutboxEntry).order_by(RegistryOutboxEntry.id)).all()
        queued = [(row.username, dict(row.payload)) for row in rows if row.kind == "set_organizations"]
        session.query(RegistryOutboxEntry).delete()
    return queued


def test_joining_and_leaving_a_local_group_moves_the_organizations(services):
    services.mapping_admin().add_rule("admin", CREW_ORG)
    assert organizations_queued(services) == []  # pilot is in no group yet: nothing to grant

    services.admin_groups().add_member("admin", "crew", "pilot")
    assert organizations_queued(services) == [("pilot", {"organizations": {"crew": 1}})]

    services.admin_users().update("admin", "pilot", display_name="Pilot")  # grant unchanged
    assert organizations_queued(services) == []

    services.admin_groups().remove_member("admin", "crew", "pilot")
    assert organizations_queued(services) == [("pilot", {"organizations": {}})]


def test_a_saved_rule_moves_the_organizations_of_the_users_it_concerns(services):
    services.admin_groups().add_member("admin", "crew", "pilot")
    organizations_queued(services)

    services.mapping_admin().add_rule("admin", CREW_ORG)
    assert organizations_queued(services) == [("pilot", {"organizations": {"crew": 1}})]

    no_organization = {**CREW_ORG, "organizations": [], "roles": ["crew"]}
    services.mapping_admin().replace_rule("admin", "crew-org", no_organization)
    assert organizations_queued(services) == [("pilot", {"organizations": {}})]


def test_a_change_that_rolls_back_queues_no_organizations(services):
    services.mapping_admin().add_rule("admin", CREW_ORG)
    in_step = services.registry_answers().in_step(["pilot"])
    assert in_step is not None

    def queue_then_fail(session):
        in_step(session)
        raise RuntimeError("the change fails after its writes")

    with pytest.raises(RuntimeError):
        services.local_users.add_member("crew", "pilot", also=queue_then_fail)
    assert organizations_queued(services) == []
