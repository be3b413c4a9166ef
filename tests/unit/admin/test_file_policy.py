"""Unit tests (SQLite, no sockets) of a mapping file kept in step with the Registry
(gateway.admin.filepolicy, issue 15 review item 2): a restart with an edited ``mapping:``
section queues the new answer of each known user whose answer it changes, once; a quota that
falls below a user's usage is applied and named in a warning."""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from gateway.storage.models import AuditEvent, MappingApplied, MappingPolicyRow
from gateway.storage.outbox import RegistryOutboxEntry
from gateway.storage.registrystate import RegistryStorage
from gateway.tokens import generate_secret
from tests.unit.conftest import UNIT_CONFIG, build_unit_services

PASSWORD = "amber-kettle-93-orchard"
REGISTRY = """\
registry:
  url: http://127.0.0.1:9
  service_account: {username: admin, password: not-used-here}
  sync: {enabled: false}
"""
MAPPING = """\
mapping:
  default_roles: []
  rules:
    - {name: crew, match: {group: crew}, roles: [crew-member], maxStorageMB: 2048}
"""


def config(mapping: str = MAPPING, prefix: str = "") -> str:
    return prefix + UNIT_CONFIG + REGISTRY + mapping


KEY = generate_secret()


def start(tmp_path, text: str):
    """A (re)start of the gateway on the database in ``tmp_path`` with the config ``text``."""
    return build_unit_services(tmp_path, text, KEY)


def first_start(tmp_path):
    """The first start: crew and its member pilot, who signs in (the Registry knows pilot),
    and carol, who never does."""
    services = start(tmp_path, config())
    services.local_users.create_group("crew")
    for name in ("pilot", "carol"):
        services.local_users.create(name, PASSWORD, groups=["crew"], enforce_policy=False)
    outcome = services.login.registry_password("pilot", PASSWORD, time.perf_counter())
    assert type(outcome).__name__ == "Granted", outcome
    return services


def queued(services) -> list[tuple[str, dict]]:
    with services.database.session() as session:
        rows = session.scalars(select(RegistryOutboxEntry).order_by(RegistryOutboxEntry.id))
        return [(row.username, dict(row.payload)) for row in rows if row.kind == "set_metadata"]


def applied_events(services) -> list[dict]:
    with services.database.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.event == "mapping_file_applied"))
        return [dict(row.detail or {}) for row in rows]


def test_the_first_start_is_a_baseline_and_an_unchanged_file_queues_nothing(tmp_path):
    services = first_start(tmp_path)
    services.close()
    services = start(tmp_path, config())  # a restart with the same file
    try:
        assert queued(services) == []
        assert applied_events(services) == []
        with services.database.session() as session:
            assert session.scalars(select(MappingApplied)).one().document["rules"][0]["name"] == "crew"
    finally:
        services.close()


def test_an_edited_file_queues_the_changed_answers_once(tmp_path):
    first_start(tmp_path).close()
    edited = MAPPING.replace("roles: [crew-member]", "roles: [crew-member, mapper]")
    services = start(tmp_path, config(edited))
    try:
        # carol never signed in: the Registry has no account for her, so nothing is written.
        assert queued(services) == [
            ("pilot", {"username": "pilot", "roles": ["crew-member", "mapper"], "maxStorageMB": 2048})
        ]
        assert applied_events(services) == [{"actor": "(config file)", "changed": 1, "quota_below_usage": 0}]
        services.prepare()  # another replica starting with the same file
    finally:
        services.close()
    services = start(tmp_path, config(edited))
    try:
        assert len(queued(services)) == 1 and len(applied_events(services)) == 1
    finally:
        services.close()


def test_a_quota_below_usage_is_applied_with_a_warning(tmp_path, caplog):
    services = first_start(tmp_path)
    with services.database.session() as session:
        session.add(RegistryStorage(username="pilot", used_bytes=900 * 1024 * 1024, quota_bytes=None))
    services.close()
    smaller = MAPPING.replace("maxStorageMB: 2048", "maxStorageMB: 500")
    with caplog.at_level(logging.WARNING, logger="gateway.admin.filepolicy"):
        services = start(tmp_path, config(smaller))
    try:
        assert queued(services) == [
            ("pilot", {"username": "pilot", "roles": ["crew-member"], "maxStorageMB": 500})
        ]
        (warning,) = [
            r.getMessage()
            for r in caplog.records
            if r.name == "gateway.admin.filepolicy" and r.levelno >= logging.WARNING
        ]
        assert (
            "lowers the quota of 1 user(s)" in warning and "pilot uses 900.0 MB, new quota 500 MB" in warning
        )
        assert applied_events(services)[0]["quota_below_usage"] == 1
    finally:
        services.close()


def test_leaving_database_mode_compares_with_the_policy_the_database_held(tmp_path):
    services = first_start(tmp_path)
    with services.database.session() as session:
        session.query(MappingApplied).delete()
    services.close()
    services = start(tmp_path, config(prefix="mapping_source: database\n"))
    try:
        with services.database.session() as session:
            assert session.scalars(select(MappingPolicyRow)).one().document["rules"][0]["name"] == "crew"
            assert session.scalars(select(MappingApplied)).first() is None
    finally:
        services.close()
    services = start(tmp_path, config(MAPPING.replace("roles: [crew-member]", "roles: [pilot]")))
    try:
        assert queued(services) == [
            ("pilot", {"username": "pilot", "roles": ["pilot"], "maxStorageMB": 2048})
        ]
    finally:
        services.close()
