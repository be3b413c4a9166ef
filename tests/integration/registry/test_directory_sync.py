"""The directory sync (gateway.registry.sync) against a real slapd whose entries each test
changes at runtime: leavers and disabled accounts are cut at the gateway without anyone
clicking, changed groups re-mapped, and a directory that cannot be read changes nothing.

Contract lines: docs/registry-contract.md §2.6 ("Why it matters": a leaver keeps Registry access
until the Registry is told, so the gateway tells it).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import null, select, update

from gateway.config.file import load_config
from gateway.config.registrysync import SyncSettings
from gateway.config.settings import load_settings
from gateway.mapping import EvaluationMemo, parse_policy
from gateway.registry.push import RegistryPush
from gateway.registry.sync import DirectorySync
from gateway.registry.syncruns import SyncRuns
from gateway.registry.syncschedule import SyncBusy, SyncRunner, SyncSchedule
from gateway.services import build_services
from gateway.storage.models import Account, AuditEvent
from providers.base import Identity
from tests.integration.providers.ldap.test_directory import ad_shaped
from tests.support import ldapdata as data
from tests.support.ldapserver import SlapdServer
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration

CONFIG = """\
providers:
  - id: corp
    type: ldap
    preset: openldap
    servers: ["{url}"]
    bind:
      dn: "{bind_dn}"
      password: "{bind_password}"
    user:
      base: "{people}"
    groups:
      base: "{groups}"
      strategies: [member_of]
    operation_timeout_seconds: 2
    connect_timeout_seconds: 1
  - id: local
    type: local
    hashing: {{time_cost: 1, memory_cost_kib: 8192}}
registry:
  sync: {{interval_seconds: 1}}
mapping:
  default_roles: []
  rules:
    - name: developers
      match: {{group: developers}}
      roles: [pilot]
"""


# The same, with alice's departmentNumber read as an attribute that a rule matches.
ATTRIBUTE_CONFIG = CONFIG.replace(
    'base: "{people}"\n', 'base: "{people}"\n      attributes: {{department: departmentNumber}}\n'
).replace(
    "      roles: [pilot]\n",
    "      roles: [pilot]\n    - name: research\n      match: {{attribute: {{department: research}}}}\n"
    "      roles: [scientist]\n",
)


@pytest.fixture
def directory(tmp_path):
    server = SlapdServer.start(tmp_path / "slapd", dataset=data.openldap_dataset())
    yield server
    server.stop()


@contextlib.contextmanager
def gateway_services(tmp_path, directory: SlapdServer, template: str = CONFIG):
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        template.format(
            url=directory.url,
            bind_dn=data.SERVICE_DN,
            bind_password=data.SERVICE_PASSWORD,
            people=data.PEOPLE_DN,
            groups=data.GROUPS_DN,
        )
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_INSTANCE_DIR=str(instance), GATEWAY_CONFIG=str(config), GATEWAY_DOTENV="/nonexistent")
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    services.prepare(migrate=True)
    try:
        yield services
    finally:
        services.close()


def log_in(services, provider_id: str, username: str) -> Identity:
    """What a password login records: the identity checked, the username claimed with its
    groups, a session and an app password."""
    identity = services.federation.provider(provider_id).check_password(username, data.password_for(username))
    assert isinstance(identity, Identity), identity
    services.accounts.claim(identity)
    services.sessions.create(identity, timedelta(hours=1))
    services.app_passwords.create(username, "laptop")
    return identity


def cut_off(services, username: str) -> bool:
    owner = services.accounts.owner_of(username)
    return (
        owner.disabled
        and not services.app_passwords.list(username)
        and all(session.revoked_at is not None for session in services.sessions.list_for_user(username))
    )


def delete_entry(directory: SlapdServer, dn: str) -> None:
    directory.modify_ldif(f"dn: {dn}\nchangetype: delete\n")


def test_a_leaver_is_disabled_sessions_and_app_passwords_ended(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "alice")
        log_in(services, "corp", "bob")
        runner = services.directory_sync()
        first = runner.run()
        assert first.state == "done" and first.total("checked") == 2 and first.total("unchanged") == 2
        delete_entry(directory, data.ALICE_DN)

        dry = runner.run(dry_run=True)
        assert dry.directories[0].names["disabled"] == ["alice"]
        assert not services.accounts.owner_of("alice").disabled  # a dry run changes nothing

        result = runner.run(trigger="test")
        assert result.directories[0].names["disabled"] == ["alice"]
        assert cut_off(services, "alice") and not services.accounts.owner_of("bob").disabled
        with services.database.session() as session:
            events = session.execute(
                select(AuditEvent.event, AuditEvent.detail).where(AuditEvent.username == "alice")
            ).all()
        assert ("user_disabled", {"actor": "sync:corp"}) in [(e.event, e.detail) for e in events]
        assert {"actor": "sync:corp", "change": "disabled", "reason": "no longer in the directory"} in [
            e.detail for e in events if e.event == "directory_sync_change"
        ]
        runs = runner.runs.recent()
        assert [run.dry_run for run in runs[:3]] == [False, True, False]
        assert runs[0].result["totals"]["disabled"] == 1 and runs[0].trigger == "test"


def test_the_periodic_run_cuts_a_leaver_without_a_trigger(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "alice")
        delete_entry(directory, data.ALICE_DN)
        assert services.config.registry_sync == SyncSettings(interval_seconds=1)
        schedule = SyncSchedule(services.directory_sync(), services.config.registry_sync, tick=0.2)
        schedule.ensure_running()
        try:
            deadline = time.monotonic() + 20
            while not services.accounts.owner_of("alice").disabled and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            schedule.stop()
        assert cut_off(services, "alice")


def test_a_user_who_leaves_a_group_is_remapped_and_pushed(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "bob")
        assert "developers" in services.accounts.owner_of("bob").last_groups
        directory.modify_ldif(
            f"dn: {data.DEVELOPERS_DN}\nchangetype: modify\ndelete: member\nmember: {data.BOB_DN}\n"
        )
        push = RecordingPush()
        runs = SyncRuns(services.database)
        sync = sync_over(services, [services.federation.provider("corp")], push, runs)
        result = sync.run()
        assert result.directories[0].names["remapped"] == ["bob"]
        assert "developers" not in services.accounts.owner_of("bob").last_groups
        # His open session keeps the new groups too: a relay of its token (the token path)
        # answers as a fresh login would, and does not give the Registry the old roles back.
        (session,) = services.sessions.list_for_user("bob")
        assert "developers" not in session.identity.groups
        assert session.identity.email == "bob@example.test"  # the rest of it kept
        assert push.calls == [
            ("answer", "bob", {"username": "bob", "roles": [], "email": "bob@example.test"})
        ]
        assert not services.accounts.owner_of("bob").disabled
        again = sync.run()  # nothing changed since: nothing pushed
        assert again.total("unchanged") == 1 and len(push.calls) == 1


def test_a_changed_attribute_or_email_is_remapped_and_pushed(tmp_path, directory):
    """Issue 15 review item 6: a directory change other than groups (an attribute a rule
    matches, the exposed e-mail) moves the Registry answer at the next run, once."""
    with gateway_services(tmp_path, directory, ATTRIBUTE_CONFIG) as services:
        alice = log_in(services, "corp", "alice")
        log_in(services, "corp", "bob")
        assert "scientist" in services.mapping.evaluate(alice).roles
        push = RecordingPush()
        runs = SyncRuns(services.database)
        sync = sync_over(services, [services.federation.provider("corp")], push, runs)
        assert sync.run().total("unchanged") == 2 and push.calls == []

        directory.modify_ldif(
            f"dn: {data.ALICE_DN}\nchangetype: modify\nreplace: departmentNumber\ndepartmentNumber: sales\n"
        )
        directory.modify_ldif(
            f"dn: {data.BOB_DN}\nchangetype: modify\nreplace: mail\nmail: robert@example.test\n"
        )
        assert sorted(sync.run(dry_run=True).directories[0].names["remapped"]) == ["alice", "bob"]
        assert push.calls == []  # a dry run queues nothing
        result = sync.run()
        assert sorted(result.directories[0].names["remapped"]) == ["alice", "bob"]
        answers = {call[1]: call[2] for call in push.calls if call[0] == "answer"}
        assert answers["alice"]["roles"] == ["pilot"]  # scientist gone with the department
        assert answers["bob"]["email"] == "robert@example.test"
        assert len(push.calls) == 2
        # What a login would now store is stored, so the next run finds nothing to do.
        details = services.accounts.owner_of("alice").last_details
        assert details is not None and details["attributes"] == {"department": "sales"}
        (session,) = services.sessions.list_for_user("bob")
        assert session.identity.email == "robert@example.test"
        with services.database.session() as db:
            reasons = [
                e.detail["reason"]
                for e in db.scalars(select(AuditEvent).where(AuditEvent.event == "directory_sync_change"))
            ]
        assert reasons == ["directory attributes changed"] * 2
        assert sync.run().total("unchanged") == 2 and len(push.calls) == 2


def test_details_not_stored_yet_are_a_baseline_not_a_change(tmp_path, directory):
    """Accounts from before the details were kept get them stored at the next run, and
    nothing is queued for them: nothing says what their last answer was."""
    with gateway_services(tmp_path, directory, ATTRIBUTE_CONFIG) as services:
        log_in(services, "corp", "alice")
        with services.database.session() as db:
            db.execute(update(Account).values(last_details=null()))  # as migrated
        push = RecordingPush()
        sync = sync_over(services, [services.federation.provider("corp")], push, SyncRuns(services.database))
        assert sync.run(dry_run=True).total("unchanged") == 1
        assert services.accounts.owner_of("alice").last_details is None
        assert sync.run().total("unchanged") == 1 and push.calls == []
        details = services.accounts.owner_of("alice").last_details
        assert details is not None and details["attributes"] == {"department": "research"}


def test_every_run_puts_unchanged_users_in_the_organizations_their_rules_now_grant(tmp_path, directory):
    """A rule's ``organizations:`` edited after a login reaches users whose groups did not
    change at the next run (not only at their next login), once."""
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "bob")
        push = RecordingPush()
        runs = SyncRuns(services.database)
        corp = [services.federation.provider("corp")]
        sync_over(services, corp, push, runs).run()
        assert push.calls == []  # no rule grants an organization yet

        granting = parse_policy(
            {
                "default_roles": [],
                "rules": [
                    {
                        "name": "developers",
                        "match": {"group": "developers"},
                        "roles": ["pilot"],
                        "organizations": [{"slug": "pilots", "permissions": "read-only"}],
                    }
                ],
            },
            "test",
        )
        sync = sync_over(services, corp, push, runs, mapping=EvaluationMemo(granting))
        assert sync.run(dry_run=True).total("unchanged") == 1 and push.calls == []
        result = sync.run()
        assert result.total("unchanged") == 1
        assert push.calls == [("organizations", "bob", {"pilots": 0})]
        sync.run()  # already queued: nothing more
        assert len(push.calls) == 1


def test_a_run_puts_no_user_the_mapping_refuses_in_an_organization(tmp_path, directory):
    """bob is in ``developers`` (an organization) but fails a ``require`` rule: he is never
    made a member, whether his groups moved or not."""
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "bob")
        refusing = parse_policy(
            {
                "default_roles": [],
                "rules": [
                    {"name": "gate", "require": {"group": "no-such-group"}},
                    {
                        "name": "developers",
                        "match": {"group": "developers"},
                        "organizations": [{"slug": "pilots", "permissions": "read-only"}],
                    },
                ],
            },
            "test",
        )
        push = RecordingPush()
        corp = [services.federation.provider("corp")]
        sync = sync_over(services, corp, push, SyncRuns(services.database), mapping=EvaluationMemo(refusing))
        assert sync.run().total("unchanged") == 1
        assert push.calls == []  # unchanged groups; no organization for a refused user

        gateway_groups_differ(services, "bob")  # the groups move: the changed-groups path
        assert sync.run().total("remapped") == 1
        assert [call for call in push.calls if call[0] == "organizations"] == []


def gateway_groups_differ(services, username: str) -> None:
    """Make the groups the gateway stored for ``username`` differ from the directory's."""
    from sqlalchemy import update

    from gateway.storage.models import Account

    with services.database.session() as session:
        session.execute(update(Account).where(Account.username == username).values(last_groups=["old"]))


def test_a_run_records_its_progress_while_it_reads(tmp_path, directory, monkeypatch):
    monkeypatch.setattr("gateway.registry.sync.PROGRESS_EVERY", 1)
    with gateway_services(tmp_path, directory) as services:
        for name in ("alice", "bob"):
            log_in(services, "corp", name)
        runs = SyncRuns(services.database)
        reported: list[tuple[str, int]] = []
        record = runs.progress

        def progress(run_id: int, provider: str, checked: int) -> None:
            reported.append((provider, checked))
            assert runs.get(run_id).state == "running"
            record(run_id, provider, checked)

        monkeypatch.setattr(runs, "progress", progress)
        result = sync_over(services, [services.federation.provider("corp")], RecordingPush(), runs).run()
        assert result.total("checked") == 2
        assert reported[0] == ("corp", 0) and ("corp", 1) in reported
        assert [checked for _, checked in reported] == sorted(checked for _, checked in reported)
        assert runs.get(result.run_id).result.get("progress") is None  # the outcome replaced it


def test_a_directory_outage_changes_nothing(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "alice")
        directory.stop()
        result = services.directory_sync().run()
        assert result.state == "failed" and result.directories[0].failed
        assert result.total("disabled") == 0
        assert not services.accounts.owner_of("alice").disabled
        assert services.app_passwords.list("alice")


def test_sync_reenables_only_the_users_it_disabled(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "alice")
        log_in(services, "corp", "bob")
        lock = "changetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 20260101000000Z\n"
        unlock = "changetype: modify\ndelete: pwdAccountLockedTime\n"
        directory.modify_ldif(f"dn: {data.ALICE_DN}\n{lock}")
        services.user_operations().set_enabled("bob", False, actor="root")  # an administrator's choice
        runner = services.directory_sync()
        assert runner.run().directories[0].names["disabled"] == ["alice"]
        directory.modify_ldif(f"dn: {data.ALICE_DN}\n{unlock}")
        result = runner.run()
        assert result.directories[0].names["reenabled"] == ["alice"]
        assert not services.accounts.owner_of("alice").disabled
        assert services.accounts.owner_of("bob").disabled


def test_two_processes_never_run_at_once(tmp_path, directory):
    with gateway_services(tmp_path, directory) as services:
        log_in(services, "corp", "alice")
        runs = SyncRuns(services.database)
        entered, release = threading.Event(), threading.Event()

        class Slow:
            directories = ["corp"]

            def run(self, **_options):
                entered.set()
                release.wait(10)
                return "first"

        first = SyncRunner(Slow(), runs, holder="replica-a")  # type: ignore[arg-type]
        second = SyncRunner(services.directory_sync().sync, runs, holder="replica-b")
        outcome: list[Any] = []
        worker = threading.Thread(target=lambda: outcome.append(first.run()))
        worker.start()
        assert entered.wait(10)
        with pytest.raises(SyncBusy):
            second.run()
        release.set()
        worker.join(10)
        assert outcome == ["first"]
        assert second.run().state == "done"  # free again once the first ended
        assert runs.acquire("replica-a", timedelta(seconds=-1))  # an expired lease is taken over
        assert runs.acquire("replica-b", timedelta(minutes=1))


def test_an_ad_account_disabled_by_user_account_control_is_disabled(tmp_path):
    server = SlapdServer.start(tmp_path / "ad", dataset=data.ad_shaped_dataset())
    try:
        with gateway_services(tmp_path, server) as services:
            ad = ad_shaped(server)
            identity = ad.check_password("ann", data.password_for("ann"))
            assert isinstance(identity, Identity)
            services.accounts.claim(identity)
            push = RecordingPush()
            sync = sync_over(services, [ad], push, SyncRuns(services.database))
            assert sync.run().total("unchanged") == 1
            server.modify_ldif(
                f"dn: {data.AD_ANN_DN}\nchangetype: modify\nreplace: userAccountControl\n"
                f"userAccountControl: {data.UAC_DISABLED}\n"
            )
            result = sync.run()
            assert result.directories[0].names["disabled"] == ["ann"]
            assert services.accounts.owner_of("ann").disabled
            ad.close()
    finally:
        server.stop()


class RecordingPush(RegistryPush):
    """A push that records what it was asked to queue."""

    def __init__(self):
        super().__init__(enabled=True)
        object.__setattr__(self, "calls", [])

    def answer(self, session, username, answer):
        self.calls.append(("answer", username, answer))

    def deactivated(self, session, username):
        self.calls.append(("deactivated", username))

    def organizations(self, session, username, organizations):
        self.calls.append(("organizations", username, dict(organizations)))


def sync_over(services, directories, push, runs, mapping=None) -> DirectorySync:
    return DirectorySync(
        database=services.database,
        directories=directories,
        operations=services.user_operations(),
        mapping=mapping or services.mapping,
        push=push,
        audit=services.audit,
        runs=runs,
    )


DATABASE_MODE_CONFIG = """\
registry:
  sync: {interval_seconds: 1}
mapping:
  default_roles: []
"""


@contextlib.contextmanager
def two_processes(tmp_path):
    """Two gateway processes on one database with its providers there (``provider_source:
    database``): one an admin changes providers on, one that serves no request and runs the
    scheduled sync."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = tmp_path / "gateway.yaml"
    config.write_text(DATABASE_MODE_CONFIG)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_INSTANCE_DIR=str(instance), GATEWAY_CONFIG=str(config), GATEWAY_DOTENV="/nonexistent")
    settings = load_settings(env, read_dotenv=False)
    admin_side = build_services(settings, load_config(settings.config_path, env))
    admin_side.prepare(migrate=True)
    sync_side = build_services(settings, load_config(settings.config_path, env))
    try:
        sync_side.prepare(migrate=False)
        yield admin_side, sync_side
    finally:
        sync_side.close()
        admin_side.close()


def _ldap(directory: SlapdServer, password: str = data.SERVICE_PASSWORD) -> dict[str, Any]:
    return {
        "preset": "openldap",
        "servers": [directory.url],
        "bind": {"dn": data.SERVICE_DN, "password": password},
        "user": {"base": data.PEOPLE_DN},
        "groups": {"base": data.GROUPS_DN, "strategies": ["member_of"]},
        "operation_timeout_seconds": 2,
        "connect_timeout_seconds": 1,
    }


def test_the_scheduled_sync_uses_the_providers_in_force_after_an_admin_changes_them(tmp_path, directory):
    """The sync's thread serves no request, so it refreshes the provider set itself before each
    round: a directory added, edited or disabled by an admin on another process is what its
    next run reads, with the new settings."""
    with two_processes(tmp_path) as (admin_side, sync_side):
        schedule = sync_side.sync_schedule()
        assert schedule.enabled  # no directory yet, but one may be added
        assert schedule.run_if_due() is None

        configs = admin_side.provider_configs()
        configs.create("admin", "corp", "ldap", _ldap(directory))
        log_in(admin_side, "corp", "alice")

        first = wait_for(schedule.run_if_due, message="the sync never read the added directory")
        assert [(d.provider, d.checked, d.failed) for d in first.directories] == [("corp", 1, None)]

        configs.update("admin", "corp", _ldap(directory, password="not-the-password"))
        failed = wait_for(
            lambda: (result := schedule.run_if_due()) is not None and result.directories[0].failed,
            message="the sync kept the directory's old settings",
        )
        assert failed  # the service bind with the new (wrong) password is refused

        configs.set_enabled("admin", "corp", False)
        wait_for(lambda: sync_side.directory_sync().sync.directories == [], message="still reads it")
        assert schedule.run_if_due() is None
        assert not sync_side.accounts.owner_of("alice").disabled  # a failed read changed nothing
