"""Keeps ``benchmarks/run.py`` runnable: a ``--quick`` run must finish and report every figure.

Speed is never asserted here (the figures are measurements, compared with a bare baseline in
the same run); only that the benchmark works and its JSON has the numbers it promises.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

REPO = REPO_ROOT


def _positive(value) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _run_quick(script: str, out: Path, timeout: float):
    """Run ``benchmarks/<script> --quick``; its completed process and its JSON report."""
    try:
        result = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out", str(out)],
            cwd=str(REPO),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"benchmarks/{script} --quick did not finish within {timeout:g} s:\n"
            f"{(expired.stderr or b'')[-4000:]!r}"
        )
    assert result.returncode == 0, (
        f"benchmarks/{script} --quick exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    assert out.exists(), "no JSON written to --out"
    return result, json.loads(out.read_text())


@pytest.mark.benchmark
def test_quick_benchmark_runs_and_reports_every_figure(tmp_path):
    result, report = _run_quick("run.py", tmp_path / "bench.json", timeout=180)

    for scenario in ("token", "password"):
        figures = report["throughput"][scenario]
        assert _positive(figures["ratio"]), (scenario, figures["ratio"])
        assert _positive(figures["gateway"]["req_per_s"]), (scenario, figures["gateway"])
        assert _positive(figures["baseline"]["req_per_s"]), (scenario, figures["baseline"])
        assert figures["target"] in (0.8, 0.9)

    memory = report["memory"]
    assert memory["argon2"]["memory_cost_kib"] == 19456
    assert memory["configs"], "no memory burst was measured"
    assert any(c["slots"] == 2 for c in memory["configs"]), "the default cap was not measured"
    for config in memory["configs"]:
        assert config["workers"], config
        for worker in config["workers"]:
            assert _positive(worker["peak_rss_mib"]), worker
        assert _positive(config["max_peak_rss_mib"]), config
        assert config["burst"]["requests"] > 0, config

    # The human-readable tables are printed too.
    assert "| token path" in result.stdout and "| local login" in result.stdout


@pytest.mark.benchmark
def test_quick_ldap_benchmark_runs_and_reports_every_figure(tmp_path):
    """Keeps ``benchmarks/ldap_run.py`` runnable (real slapd, gunicorn, wrk); no speed asserted."""
    result, report = _run_quick("ldap_run.py", tmp_path / "ldap-bench.json", timeout=240)
    three = report["three_endpoints"]
    for name in ("gateway", "lean", "naive"):
        assert _positive(three["endpoints"][name]["req_per_s"]), (name, three["endpoints"][name])
        assert three["endpoints"][name]["non_2xx"] == 0, (name, three["endpoints"][name])
    assert _positive(three["ratio_vs_lean"]) and _positive(three["ratio_vs_naive"])
    assert (three["target_vs_lean"], three["target_vs_naive"]) == (0.8, 4.0)
    sizes = report["directory_size"]["sizes"]
    assert [row["directory_users"] for row in sizes] == [200, 2000]
    assert all(_positive(row["gateway_req_per_s"]) and _positive(row["lean_req_per_s"]) for row in sizes)
    groups = report["many_groups"]
    assert _positive(groups["few_groups"]["req_per_s"]) and _positive(
        groups["hundreds_of_groups"]["req_per_s"]
    )
    assert "| gateway |" in result.stdout and "| naive |" in result.stdout


@pytest.mark.benchmark
def test_quick_tile_benchmark_runs_and_reports_every_figure(tmp_path):
    result, report = _run_quick("tile_run.py", tmp_path / "tile.json", timeout=240)

    assert set(report["scenarios"]) == {"local", "ldap", "app_password"}
    for name, figures in report["scenarios"].items():
        assert _positive(figures["ratio"]), (name, figures)
        assert _positive(figures["gateway"]["req_per_s"]), (name, figures["gateway"])
        assert _positive(figures["baseline"]["req_per_s"]), (name, figures["baseline"])
        assert figures["target"] == 0.8 and isinstance(figures["non_2xx"], int)
        assert _positive(figures["idle_p99_ms"]) and _positive(figures["burst_p99_ms"])
        assert _positive(figures["memory_bound_mib"])
        assert figures["max_worker_growth_mib"] is not None
    assert "Tile burst" in result.stdout


@pytest.mark.benchmark
def test_quick_sync_benchmark_runs_and_reports_every_figure(tmp_path):
    """Keeps ``benchmarks/sync_run.py`` runnable (real slapd); no speed asserted."""
    result, report = _run_quick("sync_run.py", tmp_path / "sync.json", timeout=180)
    shape = report["directory"]
    assert (shape["users"], shape["groups"]) == (1000, 100)
    reader, baseline = report["reader"], report["baseline"]
    for figure in ("seconds", "users_per_s", "searches", "user_pages", "group_pages", "peak_rss_mib"):
        assert _positive(reader[figure]), (figure, reader)
    assert reader["users"] >= shape["users"] and reader["problems"] == 0
    assert reader["disabled"] >= shape["locked_users"]
    assert reader["searches"] == reader["group_pages"] + reader["user_pages"] + reader["name_reads"]
    for figure in ("seconds", "entries", "searches", "peak_rss_mib"):
        assert _positive(baseline[figure]), (figure, baseline)
    assert _positive(report["ratio"]) and report["target_seconds"] == 60
    assert isinstance(report["within_target"], bool)
    reconcile = report["reconcile"]
    assert (
        reconcile["state"] == "done"
        and _positive(reconcile["seconds"])
        and _positive(reconcile["peak_rss_mib"])
    )
    seeded = reconcile["seeded"]
    # Every account checked; the leavers and the locked users disabled, each told to the Registry.
    assert reconcile["checked"] == seeded["accounts"] == reader["users"] + seeded["leavers"]
    assert reconcile["disabled"] == seeded["leavers"] + reader["disabled"]
    assert reconcile["remapped"] >= 1 and reconcile["problems"] == 0
    assert reconcile["registry_writes_queued"] >= reconcile["disabled"]
    assert reconcile["searches"] == reader["searches"]  # pages, not users
    assert "| reader |" in result.stdout and "| bare paged search |" in result.stdout
    assert "| reconcile (whole run) |" in result.stdout


@pytest.mark.benchmark
def test_quick_forgot_password_benchmark_runs_and_reports_every_figure(tmp_path):
    """Keeps ``benchmarks/forgot_run.py`` runnable (gunicorn, aiosmtpd); no speed asserted."""
    result, report = _run_quick("forgot_run.py", tmp_path / "forgot.json", timeout=240)
    figures = report["figures"]
    for side in ("match", "no_match"):
        assert figures[side]["n"] == 60
        for figure in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms"):
            assert _positive(figures[side][figure]), (side, figure, figures[side])
    for figure in ("ratio_p50", "ratio_mean", "ratio_p90", "p_match_slower", "p_match_slower_se"):
        assert _positive(figures[figure]), (figure, figures)
    # What the benchmark itself promises (not speed): one page for both, every mail sent.
    assert figures["statuses"] == {"match": [200], "no_match": [200]} and figures["same_page"] is True
    assert figures["mails_received"] == figures["mails_expected"] == 70
    assert "| someone matches |" in result.stdout and "| nobody matches |" in result.stdout
