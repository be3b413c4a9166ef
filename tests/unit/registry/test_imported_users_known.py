"""Unit tests (SQLite files, no sockets): users brought in by ``gateway import-registry``
already have Registry accounts (they were read from the Registry's own database), so
disabling, deleting or re-mapping them is written to the Registry before they ever sign in
through the gateway."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.storage.outbox import RegistryOutboxEntry
from tests.support.registrydata import IdentityDatabase, aspnet_v2
from tests.unit.conftest import UNIT_CONFIG, build_unit_services

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
    registry = IdentityDatabase(f"sqlite:///{tmp_path / 'registry.db'}").create()
    registry.add_user("ivan", aspnet_v2("ivan-tall-river-42"), email="ivan@example.org", roles=["pilot"])
    report = built.registry_import().run(registry.url, dry_run=False)
    assert [o.action for o in report.outcomes] == ["create"], report
    with built.database.session() as session:
        session.query(RegistryOutboxEntry).delete()
    yield built
    built.close()


def queued(services) -> list[tuple[str, str, dict]]:
    with services.database.session() as session:
        rows = session.scalars(select(RegistryOutboxEntry).order_by(RegistryOutboxEntry.id))
        return [(row.username, row.kind, dict(row.payload)) for row in rows]


def test_an_imported_user_counts_as_known_to_the_registry(services):
    owner = services.accounts.owner_of("ivan")
    assert owner.last_login_at is None and owner.known_to_registry  # no login is faked
    assert services.user_operations().has_registry_account("ivan")


def test_disabling_an_imported_user_who_never_signed_in_deactivates_them_at_the_registry(services):
    services.user_operations().set_enabled("ivan", False, actor="admin")
    assert queued(services) == [("ivan", "set_metadata", {"roles": ["deactivated"]})]


def test_re_mapping_an_imported_user_is_written(services):
    services.local_users.create_group("crew")
    services.admin_groups().add_member("admin", "crew", "ivan")
    [(name, kind, payload)] = queued(services)
    assert (name, kind) == ("ivan", "set_metadata") and "crew-member" in payload["roles"]


def test_deleting_an_imported_user_is_written(services):
    services.user_operations().delete("ivan", actor="admin")
    assert queued(services) == [("ivan", "set_metadata", {"roles": ["deactivated"]})]
