#!/usr/bin/env python3
"""Benchmark of the gateway against a bare baseline, measured in one run.

    python benchmarks/run.py [--quick] [--duration S] [--connections N] [--out FILE]

1. Token path: ``POST /api/authenticate`` with ``token=...`` on the gateway vs ``POST /verify``
   on ``benchmarks/baseline_app.py`` (form parsing + one ``jwt.decode``, same key and algorithm).
   Target: gateway >= 0.8x baseline.
2. Password path: ``POST /api/authenticate`` with ``username=bench&password=...`` (a local user,
   the verified-credentials cache off so that every login is verified) vs ``POST /login`` on
   the baseline (form parsing + one argon2id verify, same parameters).
   Target: gateway >= 0.9x baseline.
3. Memory: a burst of concurrent password logins against fresh gateways with different
   thread/hash-slot settings; peak resident memory (VmHWM) of every gunicorn worker.

Both apps run under gunicorn with the same worker count, worker class (gthread) and threads;
the load comes from ``wrk``. Scenarios run one at a time, each after a warm-up, and baseline
and gateway alternate (the best run of each counts) to even out noise on a small machine
where wrk shares the CPU with the servers. Missing a target is reported ("BELOW TARGET") but
is not a failure: the exit code is 0 whenever the measurement itself worked.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from gateway.config.settings import usable_cores  # noqa: E402
from tests.support.servers import GunicornGateway, ServerStartError, free_port, wait_for  # noqa: E402

TARGETS = {"token": 0.8, "password": 0.9}
# The gateway's defaults (``gateway serve``): one worker process per usable core, 4 threads.
WORKERS = min(16, usable_cores())
THREADS = 4
ARGON2 = {"time_cost": 2, "memory_cost_kib": 19456, "parallelism": 1}  # gateway defaults
# (threads per worker, hash slots per worker) for the memory burst: the default, more threads
# behind the same cap, and a cap as wide as the thread pool (effectively uncapped).
MEMORY_CONFIGS = ((4, 2), (16, 2), (16, 16))
BURST_CONNECTIONS = 64
FORM = "application/x-www-form-urlencoded"
HTTP = requests.Session()
HTTP.trust_env = False  # no HTTP(S)_PROXY detour for 127.0.0.1

WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"non_2xx":%d,"latency_mean_us":%.1f,"latency_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- tools -------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of wrk, installing the Debian package if it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if apt and prefix is not None:
        log("wrk not found; installing the Debian package 'wrk' with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = prefix + [apt, "install", "-y", "-q", "--no-install-recommends", "wrk"]
        result = subprocess.run(install, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:  # perhaps stale package lists
            subprocess.run(
                prefix + [apt, "update", "-q"], env=env, capture_output=True, stdin=subprocess.DEVNULL
            )
            subprocess.run(install, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(
        "benchmarks/run.py: the load generator 'wrk' is not installed and could not be "
        "installed automatically; install the Debian package: apt-get install wrk"
    )


def gunicorn_isolation_args() -> list[str]:
    """gunicorn >= 24 opens a control socket at a fixed per-user path; switch it off (as
    tests.support.servers does for the gateway) so the two servers are started identically."""
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return []
    if any("--no-control-socket" in (s.cli or []) for s in KNOWN_SETTINGS):
        return ["--no-control-socket"]
    return []


# ---- the baseline server -----------------------------------------------------------------


class BaselineServer:
    """benchmarks/baseline_app.py under gunicorn, flags identical to tests.support.servers.GunicornGateway."""

    def __init__(self, proc: subprocess.Popen, port: int, log_dir: Path):
        self.proc, self.port, self.log_dir = proc, port, log_dir
        self.base_url = f"http://127.0.0.1:{port}"
        atexit.register(self.stop)

    @classmethod
    def start(
        cls,
        log_dir: Path,
        env: dict[str, str],
        workers: int,
        threads: int,
        check: tuple[str, str],
        app: str = "baseline_app:app",
    ) -> BaselineServer:
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--chdir",
            str(BENCH_DIR),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--timeout",
            "30",
            "--graceful-timeout",
            "5",
            *gunicorn_isolation_args(),
        ]
        with open(log_dir / "stdout.log", "ab") as out, open(log_dir / "stderr.log", "ab") as err:
            proc = subprocess.Popen(
                cmd,
                env={**os.environ, **env},
                cwd=str(BENCH_DIR),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        server = cls(proc, port, log_dir)
        path, body = check

        def ready():
            if proc.poll() is not None:
                raise ServerStartError("exited")
            response = HTTP.post(server.base_url + path, data=body, timeout=2, headers={"Content-Type": FORM})
            return response.status_code == 200

        try:
            wait_for(ready, timeout=30, interval=0.1)
        except (TimeoutError, ServerStartError):
            server.stop()
            tail = (log_dir / "stderr.log").read_text(errors="replace")[-4000:]
            raise ServerStartError(f"the baseline app did not come up:\n{tail}") from None
        return server

    @property
    def pid(self) -> int:
        return self.proc.pid

    STOP_GRACE_SECONDS = 10

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


# ---- load generation ---------------------------------------------------------------------


@dataclass
class Run:
    target: str  # "gateway" or "baseline"
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    raw: dict = field(repr=False)
    worker_cpu_share: list[float] = field(default_factory=list)
    # Worker CPU seconds (user + system, all workers) per request, in microseconds: steadier
    # than req/s on a shared machine, because time the CPU spends elsewhere is not counted.
    cpu_us_per_request: float | None = None

    @property
    def balanced(self) -> bool:
        """Whether every worker did a fair part of the work.

        gunicorn's gthread workers race to accept wrk's connections, which are opened all at
        once and kept alive; now and then one worker takes all of them and the other idles,
        halving throughput for the whole run. That says nothing about the app, so such runs
        do not count when a balanced one exists.
        """
        shares = self.worker_cpu_share
        return not shares or min(shares) >= 0.5 / len(shares)

    @property
    def ok_rps(self) -> float:
        """Successful (2xx) responses per second: what the ratios compare."""
        return max(self.requests - self.non_2xx, 0) / self.duration_s

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "req_per_s": round(self.ok_rps, 1),
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "worker_cpu_share": self.worker_cpu_share,
            "balanced": self.balanced,
            "cpu_us_per_request": self.cpu_us_per_request,
            "latency_ms": {"p50": self.p50_ms, "p90": self.p90_ms, "p99": self.p99_ms, "mean": self.mean_ms},
        }


class Wrk:
    def __init__(self, binary: str, workdir: Path, script: str = WRK_SCRIPT, name: str = "post_form.lua"):
        self.binary = binary
        self.script = workdir / name
        self.script.write_text(script)

    def run(
        self, target: str, url: str, body: str, seconds: float, connections: int, master: int | None = None
    ) -> Run:
        """One wrk run; with ``master`` (a gunicorn master pid) also each worker's CPU share."""
        workers = gunicorn_workers(master) if master else []
        cpu_before = {pid: cpu_ticks(pid) for pid in workers}
        threads = max(1, min(2, connections))
        cmd = [
            self.binary,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "15s",
            "-s",
            str(self.script),
            url,
        ]
        result = subprocess.run(
            cmd,
            env={**os.environ, "BENCH_BODY": body},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            stdin=subprocess.DEVNULL,
        )
        line = next((part for part in result.stdout.splitlines() if part.startswith("BENCH_JSON ")), None)
        if result.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
        data = json.loads(line[len("BENCH_JSON ") :])
        used = [max(cpu_ticks(pid) - cpu_before[pid], 0) for pid in workers]
        shares = [round(u / sum(used), 3) for u in used] if sum(used) else []
        ms = lambda us: round(us / 1000.0, 2)  # noqa: E731
        cpu_us = (
            round(sum(used) / os.sysconf("SC_CLK_TCK") / data["requests"] * 1e6, 1)
            if workers and data["requests"]
            else None
        )
        return Run(
            worker_cpu_share=shares,
            cpu_us_per_request=cpu_us,
            target=target,
            requests=data["requests"],
            duration_s=data["duration_us"] / 1e6,
            non_2xx=data["non_2xx"],
            socket_errors=data["errors_connect"]
            + data["errors_read"]
            + data["errors_write"]
            + data["errors_timeout"],
            p50_ms=ms(data["p50_us"]),
            p90_ms=ms(data["p90_us"]),
            p99_ms=ms(data["p99_us"]),
            mean_ms=ms(data["latency_mean_us"]),
            raw=data,
        )


# ---- worker memory -----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gunicorn_workers(pid: int) -> list[int]:
    """The worker processes of the gunicorn master ``pid`` (or of one below a launcher)."""
    master = pid
    if "gunicorn" not in _cmdline(pid):
        master = next((child for child in _children(pid) if "gunicorn" in _cmdline(child)), pid)
    return sorted(_children(master))


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` so far, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of ``pid`` in KiB; empty once it is gone."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, amount = line.split(":", 1)
                    values[name] = int(amount.split()[0])
    except OSError:
        pass
    return values


class MemorySampler(threading.Thread):
    """Samples every worker's VmHWM/VmRSS every ``interval`` s (workers may be replaced)."""

    def __init__(self, master: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.master, self.interval = master, interval
        self.peaks: dict[int, dict[str, int]] = {}
        self._halt = threading.Event()

    def sample(self) -> None:
        for pid in gunicorn_workers(self.master):
            now = memory_kib(pid)
            if not now:
                continue
            peak = self.peaks.setdefault(pid, {"VmHWM": 0, "VmRSS": 0})
            peak["VmHWM"] = max(peak["VmHWM"], now.get("VmHWM", 0))
            peak["VmRSS"] = max(peak["VmRSS"], now.get("VmRSS", 0))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def finish(self) -> dict[int, dict[str, int]]:
        self._halt.set()
        self.join()
        self.sample()
        return self.peaks


# ---- the benchmark -----------------------------------------------------------------------


def _settled(runs: list[Run], agreement: float = 0.9) -> bool:
    """Whether each side's best run is confirmed by a second one within 10 %.

    Competing load on the machine only ever lowers a run's throughput, so the best run is the
    estimate; a best that no other run comes near may still be below the quiet figure of the
    other side, so the caller adds rounds (up to twice the requested number) until it is not.
    """
    for target in ("gateway", "baseline"):
        rates = sorted((r.ok_rps for r in runs if r.target == target and r.balanced), reverse=True)
        if len(rates) < 2 or rates[1] < agreement * rates[0]:
            return False
    return True


def _counted(runs: list[Run], target: str) -> list[Run]:
    """``target``'s balanced runs, or all of its runs if none was balanced."""
    mine = [r for r in runs if r.target == target]
    return [r for r in mine if r.balanced] or mine


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, wrk: Wrk):
        self.args, self.workdir, self.wrk = args, workdir, wrk
        self.instance = workdir / "instance"
        self.password = "pw-" + secrets.token_hex(12)  # must not contain the username
        self.env = {
            "GATEWAY_INSTANCE_DIR": str(self.instance),
            "GATEWAY_ADMIN_PASSWORD": "Adm1n-" + secrets.token_urlsafe(18),
            "GATEWAY_WORKERS": str(WORKERS),
            "GATEWAY_THREADS": str(THREADS),
            "GATEWAY_LOG_LEVEL": "INFO",  # production level: one JSON line per attempt
            "GATEWAY_CONFIG": str(self.config_file(2)),
            "GATEWAY_DOTENV": str(workdir / "no.env"),  # never pick up a developer's .env
        }

    def config_file(self, slots: int) -> Path:
        path = self.workdir / f"config-slots{slots}.yaml"
        if not path.exists():
            # The verified-credentials cache off: this benchmark measures verification (one
            # argon2 per login); benchmarks/tile_run.py measures the cached tile path.
            path.write_text(
                "providers:\n  - id: local\n    type: local\n"
                "    credential_cache_seconds: 0\n"
                f"    hashing:\n      slots: {slots}\n"
            )
        return path

    def cli(self, *arguments: str, stdin: str | None = None) -> str:
        # gateway/cli.py has no ``__main__`` guard and the project may not be pip-installed
        # (no ``gateway`` console script), so call its click group directly from the repo.
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", *arguments]
        result = subprocess.run(
            cmd,
            cwd=str(REPO),
            env={**os.environ, **self.env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"gateway {' '.join(arguments)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def prepare(self) -> None:
        log(f"preparing an instance in {self.instance}")
        self.cli("db", "upgrade")
        self.cli("users", "create", "bench", "--password-stdin", stdin=self.password + "\n")
        self.token = self.cli("tokens", "mint", "bench").strip().splitlines()[-1].strip()

    def start_gateway(self, name: str, threads: int, slots: int) -> GunicornGateway:
        env = dict(self.env, GATEWAY_THREADS=str(threads), GATEWAY_CONFIG=str(self.config_file(slots)))
        return GunicornGateway.start(
            self.workdir / name,
            env=env,
            workers=WORKERS,
            cwd=str(REPO),
            extra_args=["--threads", str(threads)],
        )

    def baseline_env(self, gateway: GunicornGateway) -> dict[str, str]:
        import jwt
        from argon2 import PasswordHasher

        kid = jwt.get_unverified_header(self.token)["kid"]
        jwks = HTTP.get(gateway.base_url + "/.well-known/jwks.json", timeout=5).json()
        jwk = next(key for key in jwks["keys"] if key.get("kid") == kid)
        jwk_file = self.workdir / "gateway-public-jwk.json"
        jwk_file.write_text(json.dumps(jwk))
        claims = jwt.decode(self.token, options={"verify_signature": False})
        audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
        stored = PasswordHasher(
            time_cost=ARGON2["time_cost"],
            memory_cost=ARGON2["memory_cost_kib"],
            parallelism=ARGON2["parallelism"],
        ).hash(self.password)
        return {
            "BENCH_JWK_FILE": str(jwk_file),
            "BENCH_AUDIENCE": audience,
            "BENCH_ISSUER": claims["iss"],
            "BENCH_PASSWORD_HASH": stored,
        }

    # -- throughput ----------------------------------------------------------------------

    def throughput(self) -> dict:
        gateway = self.start_gateway("gateway", THREADS, 2)
        baseline = None
        try:
            token_body = urlencode({"token": self.token})
            password_body = urlencode({"username": "bench", "password": self.password})
            check = HTTP.post(
                gateway.base_url + "/api/authenticate",
                data=token_body,
                headers={"Content-Type": FORM},
                timeout=10,
            )
            if check.status_code != 200:
                raise RuntimeError(
                    f"gateway refused the benchmark token: {check.status_code} "
                    f"{check.text}\n{gateway.log_text()[-3000:]}"
                )
            check = HTTP.post(
                gateway.base_url + "/api/authenticate",
                data=password_body,
                headers={"Content-Type": FORM},
                timeout=30,
            )
            if check.status_code != 200:
                raise RuntimeError(
                    f"gateway refused the benchmark password: {check.status_code} {check.text}"
                )
            baseline = BaselineServer.start(
                self.workdir / "baseline",
                self.baseline_env(gateway),
                WORKERS,
                THREADS,
                ("/verify", token_body),
            )
            check = HTTP.post(
                baseline.base_url + "/login", data=password_body, headers={"Content-Type": FORM}, timeout=30
            )
            if check.status_code != 200:
                raise RuntimeError(f"baseline refused the benchmark password: {check.status_code}")
            return {
                "token": self.scenario(
                    "token",
                    gateway,
                    gateway.base_url + "/api/authenticate",
                    baseline,
                    baseline.base_url + "/verify",
                    token_body,
                ),
                "password": self.scenario(
                    "password",
                    gateway,
                    gateway.base_url + "/api/authenticate",
                    baseline,
                    baseline.base_url + "/login",
                    password_body,
                ),
            }
        finally:
            if baseline is not None:
                baseline.stop()
            gateway.stop()

    def scenario(
        self,
        name: str,
        gateway: GunicornGateway,
        gateway_url: str,
        baseline: BaselineServer,
        baseline_url: str,
        body: str,
    ) -> dict:
        args = self.args
        masters = {"gateway": gateway.pid, "baseline": baseline.pid}
        log(f"{name} path: warm-up ({args.warmup:g} s each)")
        for target, url in (("baseline", baseline_url), ("gateway", gateway_url)):
            self.wrk.run(target, url, body, args.warmup, args.connections)
        runs: list[Run] = []
        round_ = 0
        while round_ < args.repeats or (round_ < 2 * args.repeats and not _settled(runs)):
            order = [("baseline", baseline_url), ("gateway", gateway_url)]
            if round_ % 2:
                order.reverse()  # ABBA: neither side always goes first
            for target, url in order:
                run = self.wrk.run(target, url, body, args.duration, args.connections, masters[target])
                log(
                    f"{name} path, round {round_ + 1}: {target:<8} {run.ok_rps:8.1f} req/s "
                    f"p50 {run.p50_ms} ms p99 {run.p99_ms} ms"
                    + (f" worker CPU {run.cpu_us_per_request} us/req" if run.cpu_us_per_request else "")
                    + (
                        ""
                        if run.balanced
                        else f" (unbalanced: worker CPU shares {run.worker_cpu_share}; not counted)"
                    )
                    + (f" non-2xx {run.non_2xx}" if run.non_2xx else "")
                    + (f" socket errors {run.socket_errors}" if run.socket_errors else "")
                )
                runs.append(run)
            round_ += 1
        best = {
            target: max(_counted(runs, target), key=lambda r: r.ok_rps) for target in ("gateway", "baseline")
        }
        ratio = best["gateway"].ok_rps / best["baseline"].ok_rps if best["baseline"].ok_rps else 0.0
        cpu = {
            target: statistics.median(costs)
            if (costs := [r.cpu_us_per_request for r in _counted(runs, target) if r.cpu_us_per_request])
            else None
            for target in ("gateway", "baseline")
        }
        cpu_ratio = cpu["baseline"] / cpu["gateway"] if cpu["gateway"] and cpu["baseline"] else None
        spread = {
            target: [
                round(min(r.ok_rps for r in runs if r.target == target), 1),
                round(max(r.ok_rps for r in runs if r.target == target), 1),
            ]
            for target in ("gateway", "baseline")
        }
        return {
            "gateway": best["gateway"].as_dict(),
            "baseline": best["baseline"].as_dict(),
            "spread_req_per_s": spread,
            "rounds": round_,
            "settled": _settled(runs),
            "unbalanced_runs": sum(not r.balanced for r in runs),
            "ratio": round(ratio, 3),
            "target": TARGETS[name],
            "cpu_us_per_request": cpu,
            "cpu_ratio": round(cpu_ratio, 3) if cpu_ratio else None,
            "meets_target": ratio >= TARGETS[name],
            "runs": [r.as_dict() for r in runs],
        }

    # -- memory ----------------------------------------------------------------------------

    def memory(self) -> dict:
        body = urlencode({"username": "bench", "password": self.password})
        results = []
        for threads, slots in MEMORY_CONFIGS:
            log(
                f"memory burst: threads={threads} slots={slots}, {BURST_CONNECTIONS} connections "
                f"for {self.args.burst:g} s"
            )
            gateway = self.start_gateway(f"gateway-t{threads}-s{slots}", threads, slots)
            try:
                master = gateway.pid
                workers = wait_for(
                    lambda master=master: (w := gunicorn_workers(master)) and len(w) >= WORKERS and w,
                    timeout=10,
                )
                time.sleep(0.3)  # let the workers settle after boot
                before = {pid: memory_kib(pid) for pid in workers}
                sampler = MemorySampler(master)
                sampler.start()
                run = self.wrk.run(
                    "gateway",
                    gateway.base_url + "/api/authenticate",
                    body,
                    self.args.burst,
                    BURST_CONNECTIONS,
                )
                peaks = sampler.finish()
            finally:
                gateway.stop()
            per_worker = []
            for pid, peak in sorted(peaks.items()):
                idle = before.get(pid, {}).get("VmRSS")
                per_worker.append(
                    {
                        "pid": pid,
                        "rss_before_mib": round(idle / 1024, 1) if idle else None,
                        "peak_rss_mib": round(peak["VmHWM"] / 1024, 1),
                        "growth_mib": round((peak["VmHWM"] - idle) / 1024, 1) if idle else None,
                    }
                )
            peak_max = max(w["peak_rss_mib"] for w in per_worker)
            growth_max = max(
                (w["growth_mib"] for w in per_worker if w["growth_mib"] is not None), default=None
            )
            concurrent = min(threads, slots)
            bound = concurrent * ARGON2["memory_cost_kib"] / 1024
            results.append(
                {
                    "threads": threads,
                    "slots": slots,
                    "workers": per_worker,
                    "max_peak_rss_mib": peak_max,
                    "max_growth_mib": growth_max,
                    "max_concurrent_hashes_per_worker": concurrent,
                    "argon2_bound_mib": round(bound, 1),
                    # Growth beyond the argon2 buffers the cap allows means the cap does not bound
                    # memory. Slack for everything else: half a buffer plus 1 MiB per thread.
                    "within_bound": growth_max is not None
                    and growth_max <= bound + ARGON2["memory_cost_kib"] / 2048 + threads,
                    "burst": run.as_dict(),
                }
            )
            log(
                f"  per-worker peak RSS: {', '.join(str(w['peak_rss_mib']) for w in per_worker)}"
                f" MiB (growth up to {growth_max} MiB); {run.requests} logins, "
                f"{run.non_2xx} non-2xx"
            )
        return {
            "argon2": ARGON2,
            "argon2_memory_cost_mib": round(ARGON2["memory_cost_kib"] / 1024, 1),
            "burst_connections": BURST_CONNECTIONS,
            "burst_seconds": self.args.burst,
            "workers_per_gateway": WORKERS,
            "configs": results,
        }


# ---- reporting ---------------------------------------------------------------------------


def markdown(report: dict) -> str:
    lines = [
        "## Throughput (successful req/s; best of the alternating runs)",
        "",
        "| scenario | gateway req/s | baseline req/s | ratio | target | gateway p50/p99 ms "
        "| baseline p50/p99 ms | | worker CPU us/req gateway / baseline (cost ratio) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    labels = {"token": "token path (vs jwt.decode)", "password": "local login (vs argon2 verify)"}
    for name, result in report["throughput"].items():
        gw, base = result["gateway"], result["baseline"]
        verdict = "ok" if result["meets_target"] else "**BELOW TARGET**"
        lines.append(
            f"| {labels[name]} | {gw['req_per_s']:.1f} | {base['req_per_s']:.1f} | "
            f"{result['ratio']:.2f} | ≥ {result['target']:.1f} | "
            f"{gw['latency_ms']['p50']:.1f} / {gw['latency_ms']['p99']:.1f} | "
            f"{base['latency_ms']['p50']:.1f} / {base['latency_ms']['p99']:.1f} | {verdict} | "
            + (
                f"{result['cpu_us_per_request']['gateway']:.0f} / "
                f"{result['cpu_us_per_request']['baseline']:.0f} ({result['cpu_ratio']:.2f}) |"
                if result.get("cpu_ratio")
                else "- |"
            )
        )
    lines += [
        "",
        "All runs (req/s, min–max): "
        + "; ".join(
            f"{name}: gateway {r['spread_req_per_s']['gateway'][0]}–{r['spread_req_per_s']['gateway'][1]}"
            f", baseline {r['spread_req_per_s']['baseline'][0]}–{r['spread_req_per_s']['baseline'][1]}"
            f" ({r['rounds']} rounds"
            + (f", {r['unbalanced_runs']} unbalanced not counted" if r["unbalanced_runs"] else "")
            + ("" if r["settled"] else ", NOISY: a best run was not confirmed")
            + ")"
            for name, r in report["throughput"].items()
        ),
    ]
    memory = report["memory"]
    lines += [
        "",
        f"## Worker memory under a burst of {memory['burst_connections']} concurrent "
        f"local logins ({memory['burst_seconds']:g} s, {memory['workers_per_gateway']} "
        f"workers; argon2 memory_cost {memory['argon2']['memory_cost_kib']} KiB = "
        f"{memory['argon2_memory_cost_mib']} MiB per hash)",
        "",
        "| threads | hash slots | idle RSS MiB (per worker) | peak RSS MiB (per worker) "
        "| max growth MiB | argon2 bound MiB | growth within bound | logins | non-2xx "
        "| p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for config in memory["configs"]:
        idle = ", ".join(str(w["rss_before_mib"]) for w in config["workers"])
        peak = ", ".join(str(w["peak_rss_mib"]) for w in config["workers"])
        burst = config["burst"]
        lines.append(
            f"| {config['threads']} | {config['slots']} | {idle} | {peak} | "
            f"{config['max_growth_mib']} | {config['argon2_bound_mib']} | "
            f"{'yes' if config['within_bound'] else '**NO**'} | "
            f"{burst['requests']} | {burst['non_2xx']} | {burst['latency_ms']['p99']} |"
        )
    lines += [
        "",
        "argon2 bound = min(threads, slots) x memory_cost: the most argon2 memory one "
        "worker should hold at once; growth = peak RSS (VmHWM) - RSS before the burst.",
    ]
    if any(not c["within_bound"] for c in memory["configs"]):
        lines += [
            "MEMORY ABOVE BOUND: peak growth exceeds what the hash-slot cap allows for: "
            + ", ".join(
                f"threads={c['threads']} slots={c['slots']}"
                for c in memory["configs"]
                if not c["within_bound"]
            )
        ]
    below = [name for name, result in report["throughput"].items() if not result["meets_target"]]
    lines += [
        "",
        "BELOW TARGET: "
        + ", ".join(f"{name} ({report['throughput'][name]['ratio']:.2f} < {TARGETS[name]})" for name in below)
        if below
        else "All throughput targets met.",
    ]
    return "\n".join(lines)


def source_state() -> dict:
    """The commit measured and the files changed on top of it (read-only git calls)."""

    def git(*arguments: str) -> str:
        try:
            result = subprocess.run(
                ["git", "--no-optional-locks", *arguments],
                cwd=str(REPO),
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return result.stdout if result.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "changed_files": [path for path in changed if path.startswith(("gateway/", "providers/", "deploy/"))],
    }


def report_header() -> dict:
    """The first entries of every report: when it was measured, on what machine, from what source."""
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "source": source_state(),
    }


def load_average(before: tuple[float, float, float]) -> dict:
    """How busy the machine was at the start (``before``, from ``os.getloadavg()``) and now:
    other processes competing for the CPU make the figures noisy."""
    return {"before": [round(x, 2) for x in before], "after": [round(x, 2) for x in os.getloadavg()]}


def remove_workdir(workdir: Path, keep: bool) -> None:
    """Delete the run's scratch folder, or (``--keep``) leave it and say where it is."""
    if keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def write_report(report: dict, out: Path, render) -> int:
    """Write the JSON figures to ``out``, print the tables ``render`` makes of them; exit code 0."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"\n(figures written to {out})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s per run, 4 connections: checks the benchmark works"
    )
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 16)")
    parser.add_argument(
        "--repeats", type=int, help="alternating baseline/gateway rounds per scenario (default 3; --quick: 2)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR / "results" / "latest.json",
        help="where to write the JSON figures",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 10.0)
    args.connections = args.connections or (4 if args.quick else 16)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.warmup = 1.0 if args.quick else 2.0
    args.burst = 2.0 if args.quick else 3.0
    if args.connections < 1 or args.duration < 1 or args.repeats < 1:
        parser.error("--duration, --connections and --repeats must be at least 1")

    for name in [name for name in os.environ if name.startswith("GATEWAY_")]:
        del os.environ[name]  # only the settings below count
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    wrk_binary = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        bench = Bench(args, workdir, Wrk(wrk_binary, workdir))
        bench.prepare()
        throughput = bench.throughput()
        memory = bench.memory()
    finally:
        remove_workdir(workdir, args.keep)

    from importlib.metadata import version

    report = {
        **report_header(),
        "versions": {
            name: version(dist)
            for name, dist in (
                ("gunicorn", "gunicorn"),
                ("flask", "flask"),
                ("pyjwt", "pyjwt"),
                ("argon2-cffi", "argon2-cffi"),
            )
        },
        "settings": {
            "quick": args.quick,
            "duration_s": args.duration,
            "connections": args.connections,
            "repeats": args.repeats,
            "warmup_s": args.warmup,
            "workers": WORKERS,
            "threads": THREADS,
            "worker_class": "gthread",
            "hash_slots": 2,
            "load_generator": "wrk",
        },
        "throughput": throughput,
        "memory": memory,
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_average": load_average(load_before),
    }
    return write_report(report, args.out, markdown)


if __name__ == "__main__":
    sys.exit(main())
