#!/usr/bin/env python3
"""Benchmark of reading a whole directory for the sync, against a bare paged search, in one run.

    python benchmarks/sync_run.py [--quick] [--users N] [--groups N] [--page-size N] [--out FILE]

Starts one real ``slapd`` (tests.support.ldapserver, on loopback) holding the test directory
plus ``--users`` generated people (default 10,000; ``--quick`` 1,000) in ``--groups`` groups
(default 1,000; ``--quick`` 100): nine in ten are teams of people (each person in two teams),
the rest departments holding teams and divisions holding departments (nesting two levels
deep). Then, each in a fresh process so that its peak memory is its own:

1. **reader**: :meth:`LdapProvider.directory_reader` with the openldap preset's settings
   (``member`` strategy, nesting on, ppolicy account state): every user with its canonical
   username, state and groups (transitive), as a login would see them;
2. **baseline**: a bare ldap3 paged search of the same entries with the same attributes
   (the groups, then the people), nothing done with them;
3. **reconcile**: a whole real sync run as the gateway runs it (benchmarks/sync_reconcile.py):
   the read, the comparison with an account for every user, the leavers and locked users
   disabled, the re-mapped users' answers and organizations queued for the Registry.

Reported: seconds (target: the reconcile run within 60 s for 10,000 users in 1,000 groups;
the reader's time is its share), the ratio reader / baseline, LDAP searches and pages, users
per second, changes made, and peak RSS. Missing the target is reported, not a failure: the
exit code is 0 whenever measuring worked.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for path in (str(REPO), str(BENCH_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

from run import log, remove_workdir, report_header, write_report  # noqa: E402

from tests.support import ldapdata  # noqa: E402

TARGET_SECONDS = 60.0
TEAMS_PER_PERSON = 2


# ---- the directory ----------------------------------------------------------------------


def sync_dataset(users: int, groups: int) -> tuple[ldapdata.Dataset, dict]:
    """The test directory plus ``users`` people in ``groups`` groups (see the module doc)."""
    dataset = ldapdata.openldap_dataset()
    divisions = max(1, groups // 100)
    departments = max(1, groups // 10 - divisions)
    teams = groups - departments - divisions
    people = []
    for i in range(1, users + 1):
        uid = f"sync{i:05d}"
        dn = f"uid={uid},{ldapdata.PEOPLE_DN}"
        attributes = {
            "objectClass": ["top", "inetOrgPerson", "registryUser"],
            "uid": uid,
            "cn": f"Sync {i:05d}",
            "sn": f"{i:05d}",
            "displayName": f"Sync {i:05d}",
            "mail": f"{uid}@{ldapdata.MAIL_DOMAIN}",
            "registryQuotaMB": str(100 + i % 900),
        }
        if i % 100 == 0:
            attributes["pwdAccountLockedTime"] = ldapdata.LOCKED_TIME
        dataset.add(dn, attributes)
        people.append(dn)

    def group(kind: str, number: int, members: list[str]) -> str:
        dn = f"cn=sync-{kind}-{number:04d},{ldapdata.GROUPS_DN}"
        dataset.add(
            dn, {"objectClass": ["top", "groupOfNames"], "cn": f"sync-{kind}-{number:04d}", "member": members}
        )
        return dn

    members: list[list[str]] = [[] for _ in range(teams)]
    for i, dn in enumerate(people):
        for step in range(TEAMS_PER_PERSON):
            members[(i + step * (i // teams + 1)) % teams].append(dn)
    team_dns = [group("team", j + 1, m or [ldapdata.OPENLDAP_SUFFIX]) for j, m in enumerate(members)]
    department_dns = [group("dept", j + 1, team_dns[j::departments]) for j in range(departments)]
    for j in range(divisions):
        group("division", j + 1, department_dns[j::divisions])
    shape = {
        "users": users,
        "groups": teams + departments + divisions,
        "teams": teams,
        "departments": departments,
        "divisions": divisions,
        "memberships": users * TEAMS_PER_PERSON,
        "locked_users": users // 100,
        "entries": len(dataset),
    }
    return dataset, shape


def provider_settings(url: str):
    from providers.ldap import GroupSettings, LdapSettings, UserSettings

    return LdapSettings(
        servers=(url,),
        user=UserSettings(
            base=ldapdata.PEOPLE_DN,
            filter="(&(objectClass=inetOrgPerson)(uid={username}))",
            quota_attribute="registryQuotaMB",
        ),
        groups=GroupSettings(strategies=("member",), base=ldapdata.GROUPS_DN, nested=True),
        bind_dn=ldapdata.SERVICE_DN,
        bind_password=ldapdata.SERVICE_PASSWORD,
        account_state="openldap",
    )


# ---- the two measured sides, each run in a process of its own -----------------------------


def _peak_rss_mib() -> float:
    """This process's high-water mark of resident memory (VmHWM: per address space, so unlike
    getrusage's ru_maxrss not inherited from the parent that started it), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_reader(url: str, page_size: int) -> dict:
    from gateway.login.usernames import UsernamePolicy
    from providers.ldap import LdapProvider

    start_rss = _peak_rss_mib()
    directory = LdapProvider("bench", provider_settings(url), UsernamePolicy().canonical)
    reader = directory.directory_reader(page_size=page_size)
    began = time.perf_counter()
    users = disabled = memberships = problems = 0
    for user in reader.users():
        users += 1
        disabled += user.disabled is not None
        problems += user.problem is not None
        memberships += len(user.groups)
    seconds = time.perf_counter() - began
    counters = reader.counters
    return {
        "seconds": round(seconds, 3),
        "users": users,
        "disabled": disabled,
        "problems": problems,
        "group_names_per_user": round(memberships / max(users, 1), 2),
        "users_per_s": round(users / seconds, 1),
        "searches": counters.searches,
        "group_pages": counters.group_pages,
        "user_pages": counters.user_pages,
        "name_reads": counters.name_reads,
        "groups_in_memory": counters.groups,
        "start_rss_mib": start_rss,
        "peak_rss_mib": _peak_rss_mib(),
    }


def measure_baseline(url: str, page_size: int) -> dict:
    """The same entries and attributes by plain ldap3 paged searches, nothing done with them."""
    import ldap3

    start_rss = _peak_rss_mib()
    settings = provider_settings(url)
    # What the reader asks for: the provider's user attributes (uid, mail, entryUUID, ...).
    user_attributes = ["displayName", "entryUUID", "mail", "pwdAccountLockedTime", "registryQuotaMB", "uid"]
    began = time.perf_counter()
    server = ldap3.Server(url, get_info=ldap3.NONE)
    connection = ldap3.Connection(server, settings.bind_dn, settings.bind_password, auto_bind=True)
    searches = entries = 0
    for base, search_filter, attributes in (
        (settings.groups.base, "(|(member=*)(uniqueMember=*))", ["cn", "member", "uniqueMember"]),
        (settings.user.base, "(&(objectClass=inetOrgPerson)(uid=*))", user_attributes),
    ):
        cookie = None
        while True:
            connection.search(
                base, search_filter, attributes=attributes, paged_size=page_size, paged_cookie=cookie
            )
            searches += 1
            entries += sum(1 for item in connection.response if item.get("type") == "searchResEntry")
            controls = connection.result.get("controls") or {}
            cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not cookie:
                break
    connection.unbind()
    return {
        "seconds": round(time.perf_counter() - began, 3),
        "entries": entries,
        "searches": searches,
        "start_rss_mib": start_rss,
        "peak_rss_mib": _peak_rss_mib(),
    }


def measure_reconcile(url: str, page_size: int) -> dict:
    from sync_reconcile import measure_reconcile as reconcile

    return reconcile(url, page_size, _peak_rss_mib)


def in_child(side: str, url: str, page_size: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--measure", side, "--url", url, "--page-size", str(page_size)],
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{side} measurement failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- report -------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    shape, reader, baseline = report["directory"], report["reader"], report["baseline"]
    reconcile = report["reconcile"]
    verdict = "within target" if report["within_target"] else "**BELOW TARGET**"
    return "\n".join(
        [
            f"Directory sync read: {shape['users']} users in {shape['groups']} groups "
            f"({shape['memberships']} memberships, nesting 2 deep), "
            f"page size {report['settings']['page_size']}",
            "",
            "| side | seconds | searches (pages) | users/s | peak RSS MiB |",
            "|---|---:|---:|---:|---:|",
            f"| reader | {reader['seconds']} | {reader['searches']} | {reader['users_per_s']} | "
            f"{reader['peak_rss_mib']} |",
            f"| bare paged search | {baseline['seconds']} | {baseline['searches']} | - | "
            f"{baseline['peak_rss_mib']} |",
            f"| reconcile (whole run) | {reconcile['seconds']} | {reconcile['searches']} | "
            f"{reconcile['users_per_s']} | {reconcile['peak_rss_mib']} |",
            "",
            f"reader / baseline: {report['ratio']} x the time. Reconcile run: {reconcile['checked']} "
            f"accounts checked, {reconcile['disabled']} disabled, {reconcile['remapped']} re-mapped, "
            f"{reconcile['registry_writes_queued']} Registry writes queued; {reconcile['seconds']} s "
            f"against the {report['target_seconds']:g} s target: {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 users in 100 groups: checks it works")
    parser.add_argument("--users", type=int, help="generated users (default 10,000)")
    parser.add_argument("--groups", type=int, help="generated groups (default 1,000)")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "sync-latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (slapd's files and log)")
    parser.add_argument("--measure", choices=("reader", "baseline", "reconcile"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure = {"reader": measure_reader, "baseline": measure_baseline, "reconcile": measure_reconcile}[
            args.measure
        ]
        print(json.dumps(measure(args.url, args.page_size)))
        return 0
    args.users = args.users or (1000 if args.quick else 10000)
    args.groups = args.groups or (100 if args.quick else 1000)

    from tests.support.ldapserver import SlapdServer

    workdir = Path(tempfile.mkdtemp(prefix="gateway-sync-bench-"))
    started = time.monotonic()
    server = None
    try:
        dataset, shape = sync_dataset(args.users, args.groups)
        server = SlapdServer.start(workdir / "slapd", dataset=dataset, timeout=300)
        del dataset
        log(f"slapd: {shape['entries']} entries loaded and serving in {time.monotonic() - started:.1f} s")
        # Warm slapd's caches once, so that neither side pays for the first read from disk.
        in_child("baseline", server.url, args.page_size)
        reader = in_child("reader", server.url, args.page_size)
        baseline = in_child("baseline", server.url, args.page_size)
        reconcile = in_child("reconcile", server.url, args.page_size)
    finally:
        if server is not None:
            server.stop()
        remove_workdir(workdir, args.keep)
    report = {
        **report_header(),
        "settings": {
            "quick": args.quick,
            "page_size": args.page_size,
            "strategies": ["member"],
            "nested": True,
        },
        "directory": shape,
        "reader": reader,
        "baseline": baseline,
        "reconcile": reconcile,
        "ratio": round(reader["seconds"] / baseline["seconds"], 2),
        "target_seconds": TARGET_SECONDS,
        "within_target": reconcile["seconds"] <= TARGET_SECONDS and reconcile["state"] == "done",
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    return write_report(report, args.out, markdown)


if __name__ == "__main__":
    sys.exit(main())
