#!/usr/bin/env python3
"""The tile burst: one user's correct credentials, repeated, as the Registry relays a GIS
client's Basic credentials on every map tile (docs/registry-contract.md section 1).

    python benchmarks/tile_run.py [--quick] [--duration S] [--out FILE]

The gateway runs as ``gateway serve`` runs it (its defaults: the embedded SQLite database, one
worker per usable core, 4 threads each); the baseline is ``benchmarks/tile_baseline_app.py``
(form parsing, one HMAC-SHA256, a dict look-up, the JSON object) under gunicorn with the same
workers, worker class and threads. Both get the same ``POST`` over 16 connections from ``wrk``;
rounds alternate and the best run of each side counts (see ``benchmarks/run.py``).

Scenarios: a local user, an LDAP user (a real slapd) and an app password. For each: the ratio of
successful requests per second (target >= 0.8), non-2xx answers (target 0), the burst's p99
against the idle p99 (one connection; target <= 3x), and every worker's resident memory growth
under the burst against the hash-slot bound plus the cache's cap. Missing a target is reported
("BELOW TARGET"), not a failure: the exit code is 0 whenever the measurement itself worked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for path in (str(BENCH_DIR), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)

from run import (  # noqa: E402
    ARGON2,
    FORM,
    HTTP,
    THREADS,
    WORKERS,
    BaselineServer,
    MemorySampler,
    Run,
    Wrk,
    _counted,
    ensure_wrk,
    gunicorn_workers,
    log,
    memory_kib,
    remove_workdir,
    source_state,
    write_report,
)

from tests.support import ldapdata  # noqa: E402
from tests.support.ldapserver import SlapdServer  # noqa: E402
from tests.support.servers import ServerStartError, free_port, wait_for  # noqa: E402

TARGET_RATIO = 0.8
TARGET_P99_FACTOR = 3.0
CONNECTIONS = 16
# An entry of the verified-credentials cache (an Identity and its key) is well under 4 KiB.
CACHE_ENTRY_KIB = 4
CACHE_MAX_ENTRIES = 10_000
LDAP_PASSWORD = "dolphin-meadow-58-granite"
LOCAL_PASSWORD = "purple-anchor-42-windmill"


class ServedGateway(BaselineServer):
    """``python -m gateway serve`` in a process group of its own (its master is that process)."""

    STOP_GRACE_SECONDS = 35  # gateway serve's graceful timeout is 30 s

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path) -> ServedGateway:  # type: ignore[override]
        port = free_port()
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--bind", f"127.0.0.1:{port}"],
                cwd=str(REPO),
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        gateway = cls(proc, port, log_path.parent)

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServerStartError("exited")
            workers = gunicorn_workers(proc.pid)
            return (
                len(workers) >= WORKERS
                and HTTP.get(gateway.base_url + "/healthz", timeout=2).status_code == 200
            )

        try:
            wait_for(ready, timeout=60, interval=0.2)
        except (TimeoutError, ServerStartError):
            gateway.stop()
            raise ServerStartError(
                "gateway serve did not come up:\n" + log_path.read_text(errors="replace")[-4000:]
            ) from None
        return gateway


class TileBench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args, self.workdir = args, workdir
        self.wrk = Wrk(ensure_wrk(), workdir)
        self.slapd: SlapdServer | None = None
        self.env = {
            "GATEWAY_INSTANCE_DIR": str(workdir / "instance"),
            "GATEWAY_ADMIN_PASSWORD": "Adm1n-" + secrets.token_urlsafe(18),
            "GATEWAY_LOG_LEVEL": "INFO",  # production level: one JSON line per attempt
            "GATEWAY_CONFIG": str(workdir / "gateway.yaml"),
            "GATEWAY_DOTENV": str(workdir / "no.env"),
        }

    def prepare(self) -> None:
        dataset = ldapdata.contract_dataset(
            [{"username": "lena", "groups": ["drone-pilots"]}], LDAP_PASSWORD, extra_groups=["drone-pilots"]
        )
        self.slapd = SlapdServer.start(self.workdir / "slapd", dataset=dataset)
        (self.workdir / "gateway.yaml").write_text(f"""
providers:
  - id: local
    type: local
  - id: directory
    type: ldap
    preset: openldap
    servers: ["{self.slapd.url}"]
    bind: {{dn: "{ldapdata.CONTRACT_SERVICE_DN}", password: "{ldapdata.SERVICE_PASSWORD}"}}
    user: {{base: "{ldapdata.CONTRACT_PEOPLE_DN}"}}
    groups: {{base: "{ldapdata.CONTRACT_GROUPS_DN}", strategies: [member_of]}}
mapping:
  default_roles: [user]
  rules:
    - {{name: pilots, match: {{group: drone-pilots}}, roles: [pilot], maxStorageMB: 51200}}
""")
        self.cli("db", "upgrade")
        self.cli("groups", "create", "drone-pilots")
        self.cli(
            "users",
            "create",
            "tess",
            "--group",
            "drone-pilots",
            "--password-stdin",
            stdin=LOCAL_PASSWORD + "\n",
        )

    def cli(self, *arguments: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "gateway", *arguments],
            cwd=str(REPO),
            env={**os.environ, **self.env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"gateway {' '.join(arguments)}: {result.stderr}")
        return result.stdout

    def app_password(self, gateway: ServedGateway) -> str:
        token = HTTP.post(
            gateway.base_url + "/api/token", timeout=30, json={"username": "tess", "password": LOCAL_PASSWORD}
        ).json()
        created = HTTP.post(
            gateway.base_url + "/admin/api/me/app-passwords",
            timeout=30,
            json={"name": "qgis"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        created.raise_for_status()
        return created.json()["secret"]

    def run(self) -> dict:
        gateway = ServedGateway.start(self.env, self.workdir / "gateway.log")
        baseline = None
        try:
            credentials = {
                "local": ("tess", LOCAL_PASSWORD),
                "ldap": ("lena", LDAP_PASSWORD),
                "app_password": ("tess", self.app_password(gateway)),
            }
            baseline = BaselineServer.start(
                self.workdir / "baseline",
                {"BENCH_CREDENTIALS": "\n".join(f"{u}:{p}" for u, p in credentials.values())},
                WORKERS,
                THREADS,
                ("/login", urlencode(dict(zip(("username", "password"), credentials["local"], strict=True)))),
                app="tile_baseline_app:app",
            )
            results = {}
            for name, (username, password) in credentials.items():
                body = urlencode({"username": username, "password": password})
                for url in (gateway.base_url + "/api/authenticate", baseline.base_url + "/login"):
                    answer = HTTP.post(url, data=body, headers={"Content-Type": FORM}, timeout=30)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url} refused {name}: {answer.status_code} {answer.text}")
                results[name] = self.scenario(name, gateway, baseline, body)
            return results
        finally:
            if baseline is not None:
                baseline.stop()
            gateway.stop()

    def scenario(self, name: str, gateway: ServedGateway, baseline: BaselineServer, body: str) -> dict:
        args = self.args
        urls = {"gateway": gateway.base_url + "/api/authenticate", "baseline": baseline.base_url + "/login"}
        masters = {"gateway": gateway.pid, "baseline": baseline.pid}
        log(f"{name}: warm-up, then the idle p99 (1 connection)")
        for target, url in urls.items():
            self.wrk.run(target, url, body, args.warmup, CONNECTIONS)
            self.wrk.run(target, url, body, args.warmup, 1)  # and one connection's own path
        idle = {target: self.wrk.run(target, url, body, args.idle, 1) for target, url in urls.items()}
        workers = gunicorn_workers(gateway.pid)
        before = {pid: memory_kib(pid).get("VmRSS", 0) for pid in workers}
        sampler = MemorySampler(gateway.pid)
        sampler.start()
        runs: list[Run] = []
        for round_ in range(args.repeats):
            order = ["baseline", "gateway"] if round_ % 2 == 0 else ["gateway", "baseline"]
            for target in order:
                run = self.wrk.run(target, urls[target], body, args.duration, CONNECTIONS, masters[target])
                log(
                    f"{name}, round {round_ + 1}: {target:<8} {run.ok_rps:8.1f} req/s "
                    f"p99 {run.p99_ms} ms non-2xx {run.non_2xx}"
                )
                runs.append(run)
        peaks = sampler.finish()
        best = {
            target: max(_counted(runs, target), key=lambda r: r.ok_rps) for target in ("gateway", "baseline")
        }
        ratio = best["gateway"].ok_rps / best["baseline"].ok_rps if best["baseline"].ok_rps else 0.0
        gateway_runs = [r for r in runs if r.target == "gateway"]
        non_2xx = sum(r.non_2xx + r.socket_errors for r in gateway_runs)
        p99_factor = best["gateway"].p99_ms / idle["gateway"].p99_ms if idle["gateway"].p99_ms else None
        baseline_factor = (
            best["baseline"].p99_ms / idle["baseline"].p99_ms if idle["baseline"].p99_ms else None
        )
        growth = max(
            ((peaks[pid]["VmHWM"] - rss) / 1024 for pid, rss in before.items() if pid in peaks and rss),
            default=None,
        )
        bound = 2 * ARGON2["memory_cost_kib"] / 1024 + CACHE_MAX_ENTRIES * CACHE_ENTRY_KIB / 1024
        return {
            "gateway": best["gateway"].as_dict(),
            "baseline": best["baseline"].as_dict(),
            "ratio": round(ratio, 3),
            "target": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "non_2xx": non_2xx,
            "idle_p99_ms": idle["gateway"].p99_ms,
            "burst_p99_ms": best["gateway"].p99_ms,
            "p99_factor": round(p99_factor, 2) if p99_factor else None,
            "baseline_idle_p99_ms": idle["baseline"].p99_ms,
            "baseline_p99_factor": round(baseline_factor, 2) if baseline_factor else None,
            "p99_within": p99_factor is not None and p99_factor <= TARGET_P99_FACTOR,
            "max_worker_growth_mib": round(growth, 1) if growth is not None else None,
            "memory_bound_mib": round(bound, 1),
            "memory_within": growth is not None and growth <= bound,
            "runs": [r.as_dict() for r in runs],
        }

    def stop(self) -> None:
        if self.slapd is not None:
            self.slapd.stop()


def markdown(report: dict) -> str:
    lines = [
        f"## Tile burst: one user's credentials over {CONNECTIONS} connections "
        f"({report['settings']['workers']} workers x {THREADS} threads, both sides)",
        "",
        "| credentials | gateway req/s | baseline req/s | ratio | non-2xx | gateway p99 burst / "
        "idle ms (factor) | baseline's factor | worker growth MiB (bound) | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, result in report["scenarios"].items():
        good = (
            result["meets_target"]
            and not result["non_2xx"]
            and result["p99_within"]
            and result["memory_within"]
        )
        lines.append(
            f"| {name} | {result['gateway']['req_per_s']:.0f} | {result['baseline']['req_per_s']:.0f}"
            f" | {result['ratio']:.2f} (≥ {result['target']}) | {result['non_2xx']} | "
            f"{result['burst_p99_ms']} / {result['idle_p99_ms']} ({result['p99_factor']}, ≤ 3) | "
            f"{result['baseline_p99_factor']} | "
            f"{result['max_worker_growth_mib']} ({result['memory_bound_mib']}) | "
            f"{'ok' if good else '**BELOW TARGET**'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: checks it works")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 8)")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default 3; quick: 1)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "tile-latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.warmup = 1.0 if args.quick else 2.0
    args.idle = 1.0 if args.quick else 3.0
    for name in [name for name in os.environ if name.startswith("GATEWAY_")]:
        del os.environ[name]  # the defaults, as `gateway serve` has them
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    workdir = Path(tempfile.mkdtemp(prefix="gateway-tile-bench-"))
    started = time.monotonic()
    bench = TileBench(args, workdir)
    try:
        bench.prepare()
        scenarios = bench.run()
    finally:
        bench.stop()
        remove_workdir(workdir, args.keep)
    report = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "source": source_state(),
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "repeats": args.repeats,
            "connections": CONNECTIONS,
            "workers": WORKERS,
            "threads": THREADS,
        },
        "scenarios": scenarios,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    return write_report(report, args.out, markdown)


if __name__ == "__main__":
    sys.exit(main())
