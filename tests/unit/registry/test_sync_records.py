"""Unit tests (SQLite, no sockets): what a directory sync run records and how administrators
see it: the result and record serialisation, the lease holder, the overview and a run started
by an admin (over a stand-in for the directory read: the real read is tested against slapd in
tests/integration/registry/test_directory_sync.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.admin.errors import AdminError
from gateway.config.registrysync import SyncSettings
from gateway.http.adminapi.registrysync import shape_overview, shape_run
from gateway.registry.syncadmin import SyncAdmin
from gateway.registry.syncmetrics import observe_run
from gateway.registry.syncresult import MAX_NAMES, DirectoryOutcome, SyncResult
from gateway.registry.syncruns import RunRecord, SyncRuns
from gateway.registry.syncschedule import SyncRunner

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULTS = SyncSettings()


def outcome(provider="corp", disabled=(), remapped=(), problems=(), failed=None) -> DirectoryOutcome:
    found = DirectoryOutcome(provider, checked=10, unchanged=10 - len(disabled) - len(remapped))
    for name in disabled:
        found.changed("disabled", name)
    for name in remapped:
        found.changed("remapped", name)
    for text in problems:
        found.problem(text)
    if failed:  # a read that failed checked nothing (as DirectorySync records it)
        found.failed, found.checked, found.unchanged = failed, 0, 0
    return found


class RecordingSync:
    """Does what DirectorySync.run does with the history, for the result it is given."""

    def __init__(self, runs: SyncRuns, result: SyncResult, directories=("corp",)):
        self.runs, self.result, self.directories = runs, result, list(directories)
        self.calls: list[tuple[bool, str]] = []

    def run(self, *, dry_run=False, trigger="manual") -> SyncResult:
        self.calls.append((dry_run, trigger))
        result = SyncResult(dry_run, list(self.result.directories), 0.25)
        result.run_id = self.runs.start(trigger, dry_run)
        self.runs.finish(result.run_id, result.state, result.duration_seconds, result.to_dict())
        return result


# ---- the result ------------------------------------------------------------------------------


def test_a_result_counts_exactly_and_keeps_capped_name_lists():
    many = [f"user{i}" for i in range(MAX_NAMES + 5)]
    corp = outcome(disabled=many, problems=["x: no id"] * (MAX_NAMES + 1))
    shown = corp.to_dict()
    assert shown["disabled"] == MAX_NAMES + 5 and shown["users"]["disabled"] == many[:MAX_NAMES]
    assert shown["problems"] == MAX_NAMES + 1 and len(shown["problem_details"]) == MAX_NAMES
    assert shown["users"]["reenabled"] == [] and shown["failed"] is None


def test_a_result_has_totals_and_a_state():
    result = SyncResult(False, [outcome(disabled=["alice"]), outcome("ad", failed="unreachable")], 1.23456)
    result.run_id = 7
    shown = result.to_dict()
    assert shown["state"] == "partial" and shown["run_id"] == 7 and shown["duration_seconds"] == 1.235
    assert shown["totals"] == {
        "checked": 10,
        "unchanged": 9,
        "disabled": 1,
        "reenabled": 0,
        "remapped": 0,
        "problems": 0,
    }
    assert [d["provider"] for d in shown["directories"]] == ["corp", "ad"]
    assert SyncResult(False, [outcome(failed="down")]).state == "failed"
    assert SyncResult(True).state == "failed"  # nothing configured: nothing was read
    assert SyncResult(True, [outcome()]).state == "done"


def test_a_record_serialises_with_iso_times():
    record = RunRecord(3, NOW, NOW + timedelta(seconds=2), "admin", True, "done", 2.0, {"x": 1})
    assert record.to_dict() == {
        "id": 3,
        "started_at": "2026-03-01T12:00:00+00:00",
        "finished_at": "2026-03-01T12:00:02+00:00",
        "trigger": "admin",
        "dry_run": True,
        "state": "done",
        "duration_seconds": 2.0,
        "result": {"x": 1},
    }


# ---- the API's shapes ------------------------------------------------------------------------


def test_the_api_shows_a_finished_run_in_camel_case():
    result = SyncResult(False, [outcome(disabled=["alice"], remapped=["bob"], problems=["eve: no id"])], 0.5)
    record = RunRecord(4, NOW, NOW + timedelta(seconds=1), "schedule", False, "done", 0.5, result.to_dict())
    shown = shape_run(record)
    assert shown["id"] == 4 and shown["trigger"] == "schedule" and shown["dryRun"] is False
    assert shown["startedAt"] == "2026-03-01T12:00:00+00:00" and shown["durationSeconds"] == 0.5
    assert shown["totals"]["disabled"] == 1 and shown["totals"]["remapped"] == 1
    (corp,) = shown["directories"]
    assert corp == {
        "provider": "corp",
        "checked": 10,
        "unchanged": 8,
        "disabled": 1,
        "reenabled": 0,
        "remapped": 1,
        "problems": 1,
        "users": {"disabled": ["alice"], "reenabled": [], "remapped": ["bob"]},
        "problemDetails": ["eve: no id"],
        "failed": None,
    }


def test_the_api_shows_a_run_under_way_without_totals():
    shown = shape_run(RunRecord(5, NOW, None, "cli:root", False, "running", None, None))
    assert shown["state"] == "running" and shown["finishedAt"] is None
    assert shown["totals"] is None and shown["directories"] == []


# ---- the lease and the history ---------------------------------------------------------------


def test_the_lease_holder_is_known_until_released_or_expired(database):
    runs = SyncRuns(database)
    assert runs.holder() is None
    assert runs.acquire("replica-a", timedelta(minutes=5))
    assert runs.holder() == "replica-a"
    assert runs.holder(datetime.now(UTC) + timedelta(minutes=6)) is None  # a holder that died
    runs.release("replica-a")
    assert runs.holder() is None


def test_a_run_is_found_by_id_until_forgotten(database):
    runs = SyncRuns(database, keep=2)
    first = runs.start("schedule", False)
    assert runs.get(first).state == "running"
    runs.finish(first, "done", 1.0, {"totals": {}})
    assert runs.get(first).result == {"totals": {}}
    for _ in range(2):
        runs.finish(runs.start("schedule", False), "done", 1.0, {})
    assert runs.get(first) is None and runs.get(10_000) is None


# ---- the admin service -----------------------------------------------------------------------


def admin_over(database, settings=DEFAULTS, directories=("corp",), clock=lambda: NOW):
    runs = SyncRuns(database)
    sync = RecordingSync(runs, SyncResult(False, [outcome(disabled=["alice"])]), directories)
    return SyncAdmin(SyncRunner(sync, runs, holder="this-process"), settings, clock=clock), sync, runs


def test_an_admin_run_is_recorded_with_who_started_it(database):
    admin, sync, _ = admin_over(database)
    record = admin.run(dry_run=True, actor="admin")
    assert sync.calls == [(True, "admin")]
    assert record.dry_run and record.trigger == "admin" and record.state == "done"
    assert record.result["directories"][0]["users"]["disabled"] == ["alice"]
    overview = admin.overview()
    assert [run.id for run in overview.runs] == [record.id] and not overview.running


def test_an_admin_run_while_another_is_under_way_is_a_409(database):
    admin, sync, runs = admin_over(database)
    assert runs.acquire("other-replica", timedelta(minutes=5))
    assert admin.overview().running
    with pytest.raises(AdminError) as busy:
        admin.run(dry_run=False, actor="admin")
    assert busy.value.status == 409 and sync.calls == []
    admin.run(dry_run=True, actor="admin")  # a dry run needs no lease
    assert sync.calls == [(True, "admin")]


def test_without_a_directory_a_run_is_a_400_and_the_schedule_is_off(database):
    admin, sync, _ = admin_over(database, directories=())
    with pytest.raises(AdminError) as refused:
        admin.run(dry_run=True, actor="admin")
    assert refused.value.status == 400 and sync.calls == []
    schedule = admin.overview().schedule
    assert not schedule.enabled and schedule.next_due is None


def test_the_schedule_is_due_an_interval_after_the_last_real_run(database):
    clock = {"now": NOW}
    admin, _, _ = admin_over(database, SyncSettings(interval_seconds=600), clock=lambda: clock["now"])
    never = admin.overview().schedule
    assert never.enabled and never.last_run_at is None and never.next_due == NOW  # due at once
    admin.run(dry_run=True, actor="admin")
    assert admin.overview().schedule.last_run_at is None  # dry runs do not count
    admin.run(dry_run=False, actor="admin")
    schedule = admin.overview().schedule
    assert schedule.last_run_at is not None
    assert schedule.next_due == max(NOW, schedule.last_run_at + timedelta(seconds=600))
    clock["now"] = schedule.last_run_at + timedelta(hours=1)  # overdue: due now
    assert admin.overview().schedule.next_due == clock["now"]
    shown = shape_overview(admin.overview())
    assert shown["schedule"]["intervalSeconds"] == 600 and shown["directories"] == ["corp"]
    assert [run["dryRun"] for run in shown["runs"]] == [False, True]


def test_a_configured_off_schedule_is_shown_off(database):
    admin, _, _ = admin_over(database, SyncSettings(enabled=False))
    schedule = admin.overview().schedule
    assert not schedule.enabled and schedule.next_due is None and schedule.interval_seconds == 900


def test_the_page_says_per_directory_what_a_run_changed():
    from gateway.http.adminui.sync import run_details

    many = [f"u{i}" for i in range(MAX_NAMES + 3)]
    result = SyncResult(
        False,
        [
            outcome(disabled=["alice"], remapped=many, problems=["eve: no id"]),
            outcome("quiet"),
            outcome("ad", failed="unreachable"),
        ],
    )
    record = RunRecord(1, NOW, NOW, "admin", False, result.state, 0.1, result.to_dict())
    corp, quiet, ad = run_details(record)
    assert corp[0] == "corp" and corp[1].startswith("disabled alice; re-mapped u0, u1, ")
    assert corp[1].endswith(f"u{MAX_NAMES - 1} and 3 more; problem: eve: no id")
    assert quiet == ("quiet", "no change")
    assert ad == ("ad", "not read, nothing changed: unreachable")
    assert run_details(RunRecord(2, NOW, None, "schedule", False, "running", None, None)) == []
    dry = RunRecord(
        3, NOW, NOW, "admin", True, "done", 0.1, SyncResult(True, [outcome(disabled=["bob"])]).to_dict()
    )
    assert run_details(dry) == [("corp", "would disable bob")]


# ---- metrics ---------------------------------------------------------------------------------


def test_a_run_is_counted_in_the_metrics_and_a_dry_run_is_not():
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    provider = "metrics-corp"  # a provider id no other test counts under
    before = (
        sample("gateway_directory_sync_duration_seconds_count"),
        sample("gateway_directory_sync_runs_total", state="done"),
    )
    result = SyncResult(False, [outcome(provider, disabled=["a"], remapped=["b", "c"])], 2.5)
    observe_run(result)
    observe_run(SyncResult(True, [outcome(provider, disabled=["z"])], 1.0))  # dry: not counted
    assert sample("gateway_directory_sync_duration_seconds_count") == before[0] + 1
    assert sample("gateway_directory_sync_runs_total", state="done") == before[1] + 1
    assert sample("gateway_directory_sync_users_checked_total", provider=provider) == 10
    assert sample("gateway_directory_sync_changes_total", provider=provider, kind="disabled") == 1
    assert sample("gateway_directory_sync_changes_total", provider=provider, kind="remapped") == 2


def test_a_run_under_way_shows_its_progress_until_it_finishes(database):
    runs = SyncRuns(database)
    run_id = runs.start("schedule", False)
    runs.progress(run_id, "corp", 2000)
    shown = shape_run(runs.get(run_id))
    assert shown["state"] == "running" and shown["progress"] == {"directory": "corp", "checked": 2000}
    runs.finish(run_id, "done", 1.0, SyncResult(False, [outcome()], 1.0).to_dict())
    runs.progress(run_id, "corp", 3000)  # a late report never overwrites the outcome
    finished = shape_run(runs.get(run_id))
    assert finished["progress"] is None and finished["totals"]["checked"] == 10
