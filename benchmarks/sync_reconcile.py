"""The reconcile side of ``benchmarks/sync_run.py``: a whole directory sync run, as the gateway
runs it, over every user of the generated directory.

Run in a process of its own (``sync_run.py --measure reconcile``). It builds the gateway's
services on an SQLite database in a temporary directory, with the directory as an ``ldap``
provider (the reader side's settings) and a ``registry:`` section (nothing listens at its URL:
nothing is delivered, but every Registry write is queued in the outbox as in production).
Untimed, it then records an account for every user as their first login would (their id,
groups and details, and the organizations the login queued for the Registry), with a changed group list
for one in 50 (so the run re-maps them) and 100 accounts whose entries no longer exist
(leavers). The timed part is one :meth:`gateway.registry.syncschedule.SyncRunner.run`: the
paged read, the comparison with every account, the disables (sessions ended, app passwords
revoked, the Registry told), the re-mappings and the organizations queued, each change
audited.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

LEAVERS = 100
REMAP_EVERY = 50


def config_text(url: str, people: str, groups: str, bind_dn: str, bind_password: str) -> str:
    """The gateway's config: the directory read as the reader side reads it, a Registry link
    and rules whose roles and organizations depend on the groups."""
    return f"""
providers:
  - id: corp
    type: ldap
    preset: openldap
    servers: ["{url}"]
    bind: {{dn: "{bind_dn}", password: "{bind_password}"}}
    user: {{base: "{people}", quota_attribute: registryQuotaMB}}
    groups: {{base: "{groups}", strategies: [member], nested: true}}
    account_state: openldap
    operation_timeout_seconds: 30
registry:
  url: http://127.0.0.1:9
  service_account: {{username: hub-sync, password: not-used-here}}
  sync: {{enabled: false}}
mapping:
  default_roles: [viewer]
  rules:
    - name: division-1
      match: {{group: sync-division-0001}}
      roles: [pilot]
      organizations: [{{slug: division-one, permissions: read-only}}]
    - name: teams
      match: {{group_glob: "sync-team-00*"}}
      roles: [surveyor]
      maxStorageMB: 2048
"""


def seed_accounts(services, provider_id: str) -> dict:
    """An account per directory user as their first login would record it (see the module doc),
    in one bulk insert; what was seeded."""
    from gateway.login.accounts import details_of
    from gateway.storage.models import Account
    from gateway.storage.registrystate import RegistryOrgTarget

    provider = services.federation.provider(provider_id)
    now = datetime.now(UTC)
    rows = []
    targets = []
    remapped = 0
    for index, entry in enumerate(provider.directory_reader().users()):
        identity = entry.identity
        if identity is None:
            continue
        granted = dict(services.mapping.evaluate(identity).organizations)
        if granted:  # what the login queued for the Registry
            targets.append({"username": identity.username, "organizations": granted, "queued_at": now})
        groups = list(identity.groups)
        if index % REMAP_EVERY == 0 and groups:
            groups = groups[:-1]  # a group they have joined since their last login
            remapped += 1
        rows.append(
            {
                "username": identity.username,
                "provider": provider_id,
                "subject": identity.subject,
                "disabled": False,
                "created_at": now,
                "last_login_at": now,
                "last_groups": groups,
                "last_details": details_of(identity),
            }
        )
    for number in range(1, LEAVERS + 1):
        rows.append(
            {
                "username": f"gone{number:04d}",
                "provider": provider_id,
                "subject": f"00000000-0000-0000-0000-{number:012d}",
                "disabled": False,
                "created_at": now,
                "last_login_at": now,
                "last_groups": ["sync-team-0001"],
                "last_details": None,
            }
        )
    with services.database.engine.begin() as connection:
        connection.execute(insert(Account), rows)
        if targets:
            connection.execute(insert(RegistryOrgTarget), targets)
    return {"accounts": len(rows), "stale_groups": remapped, "leavers": LEAVERS}


def measure_reconcile(url: str, page_size: int, peak_rss) -> dict:
    """One real (not dry) sync run over the seeded accounts; its figures."""
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.registry.outbox import TABLE as OUTBOX
    from gateway.services import build_services
    from tests.support import ldapdata

    workdir = Path(tempfile.mkdtemp(prefix="gateway-sync-reconcile-"))
    config = workdir / "gateway.yaml"
    config.write_text(
        config_text(
            url, ldapdata.PEOPLE_DN, ldapdata.GROUPS_DN, ldapdata.SERVICE_DN, ldapdata.SERVICE_PASSWORD
        )
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(
        GATEWAY_INSTANCE_DIR=str(workdir / "instance"),
        GATEWAY_CONFIG=str(config),
        GATEWAY_DOTENV="/nonexistent",
    )
    (workdir / "instance").mkdir()
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        services.prepare(migrate=True)
        seeded = seed_accounts(services, "corp")
        provider = services.federation.provider("corp")
        readers = []
        read = provider.directory_reader

        def counted_reader(*args, **kwargs):
            reader = read(*args, page_size=page_size)
            readers.append(reader)
            return reader

        provider.directory_reader = counted_reader  # to read its LDAP counters afterwards
        start_rss = peak_rss()
        began = time.perf_counter()
        result = services.directory_sync().run()
        seconds = time.perf_counter() - began
        with services.database.engine.connect() as connection:
            queued = connection.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
        (outcome,) = result.directories
        counters = readers[0].counters
        return {
            "seconds": round(seconds, 3),
            "state": result.state,
            "seeded": seeded,
            "checked": outcome.checked,
            "unchanged": outcome.unchanged,
            "disabled": result.total("disabled"),
            "remapped": result.total("remapped"),
            "reenabled": result.total("reenabled"),
            "problems": result.total("problems"),
            "registry_writes_queued": queued,
            "searches": counters.searches,
            "group_pages": counters.group_pages,
            "user_pages": counters.user_pages,
            "users_per_s": round(outcome.checked / seconds, 1),
            "start_rss_mib": start_rss,
            "peak_rss_mib": peak_rss(),
        }
    finally:
        services.close()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
