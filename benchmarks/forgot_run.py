#!/usr/bin/env python3
"""Does ``POST /password/forgot`` take the same time whether or not anyone matches?

    python benchmarks/forgot_run.py [--quick] [--pairs N] [--out FILE] [--keep]
    python benchmarks/forgot_run.py --url https://gateway.example.com --match alice [--pairs N]

By default the script starts its own gateway (under gunicorn, the embedded SQLite database,
``self_service.password_reset`` on, the throttle raised so it never answers 429) and a real SMTP
server on loopback (aiosmtpd) that receives the reset mails; with ``--url`` it measures a gateway
already running (``--match``: a username or address that has an account with an e-mail
address there; mind its throttle, ``max_requests_per_address``).

Each pair is one request for a name or address that matches and one for a name that matches
nobody, in a random order; before each, the form is fetched (not timed) for its CSRF token, as
a browser does. Only the ``POST`` is timed. The report gives each side's latency distribution
(mean, p50, p90, p99), the ratios matching / not matching, and the probability that a matching
request is slower than a non-matching one (0.5: the two cannot be told apart by time). The
answers are also compared byte for byte apart from the CSRF token, and (own gateway) the mails
received are counted: every matching request must have sent one, or the run measured nothing.

Nothing is asserted: a probability more than three standard errors away from 0.5 is reported
("TIMES DIFFER"), the exit code is 0 whenever the measurement worked.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for path in (str(BENCH_DIR), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)

import requests  # noqa: E402
from run import load_average, log, remove_workdir, report_header, write_report  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MATCHING_USERS = 8
# How many standard errors from 0.5 the probability that a matching request is slower may be
# before the two sides are called different (the Mann-Whitney normal approximation).
SIGNIFICANCE_SE = 3.0


def config(smtp_port: int) -> str:
    return f"""
email:
  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none}}
  sender: registry@example.org
self_service:
  password_reset: true
  max_requests_per_address: 1000
  max_requests_per_client: 100000
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def slower_probability(first: list[float], second: list[float]) -> float:
    """P(a sample of ``first`` > a sample of ``second``), ties counted half (the Mann-Whitney
    U statistic over n*m)."""
    greater = sum((a > b) + 0.5 * (a == b) for a in first for b in second)
    return greater / (len(first) * len(second))


def slower_standard_error(n1: int, n2: int) -> float:
    """The standard error of :func:`slower_probability` when both samples come from one
    distribution."""
    return ((n1 + n2 + 1) / (12 * n1 * n2)) ** 0.5


def summary(milliseconds: list[float]) -> dict:
    return {
        "n": len(milliseconds),
        "mean_ms": round(statistics.fmean(milliseconds), 3),
        "p50_ms": round(percentile(milliseconds, 0.5), 3),
        "p90_ms": round(percentile(milliseconds, 0.9), 3),
        "p99_ms": round(percentile(milliseconds, 0.99), 3),
        "min_ms": round(min(milliseconds), 3),
    }


class Asker:
    """Fetches the form and times the ``POST`` of one name or address."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False

    def ask(self, identifier: str) -> tuple[float, int, str]:
        """(milliseconds the POST took, its status, its body without the CSRF token)."""
        form = self.http.get(f"{self.base_url}/password/forgot", timeout=30)
        if form.status_code != 200:
            raise SystemExit(f"GET /password/forgot answered {form.status_code}: is password_reset on?")
        token = CSRF.search(form.text)
        if token is None:
            raise SystemExit("the forgot-password form has no CSRF token")
        data = {"csrf_token": token.group(1), "identifier": identifier}
        started = time.perf_counter()
        answer = self.http.post(f"{self.base_url}/password/forgot", data=data, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, answer.status_code, CSRF.sub('name="csrf_token" value=""', answer.text)


def measure(asker: Asker, matching: list[str], pairs: int, warmup: int) -> dict:
    """``pairs`` alternating pairs (random order within each) after ``warmup`` unmeasured ones."""
    rng = random.Random(17)
    times: dict[str, list[float]] = {"match": [], "no_match": []}
    statuses: dict[str, set[int]] = {"match": set(), "no_match": set()}
    bodies: dict[str, set[str]] = {"match": set(), "no_match": set()}
    for index in range(warmup + pairs):
        nobody = f"nobody-{secrets.token_hex(4)}" + ("@example.org" if index % 2 else "")
        order = [("match", matching[index % len(matching)]), ("no_match", nobody)]
        rng.shuffle(order)
        for side, identifier in order:
            elapsed, status, body = asker.ask(identifier)
            if index >= warmup:
                times[side].append(elapsed)
                statuses[side].add(status)
                bodies[side].add(body)
    every_body = bodies["match"] | bodies["no_match"]
    return {
        "match": summary(times["match"]),
        "no_match": summary(times["no_match"]),
        "ratio_p50": round(percentile(times["match"], 0.5) / percentile(times["no_match"], 0.5), 3),
        "ratio_mean": round(statistics.fmean(times["match"]) / statistics.fmean(times["no_match"]), 3),
        "ratio_p90": round(percentile(times["match"], 0.9) / percentile(times["no_match"], 0.9), 3),
        "p_match_slower": round(slower_probability(times["match"], times["no_match"]), 3),
        "p_match_slower_se": round(slower_standard_error(len(times["match"]), len(times["no_match"])), 3),
        "statuses": {side: sorted(found) for side, found in statuses.items()},
        "same_page": len(every_body) == 1,
        "distinct_pages": len(every_body),
    }


def own_gateway(args: argparse.Namespace, workdir: Path) -> dict:
    """Start aiosmtpd and the gateway, measure, count the mails."""
    from tests.support.adminapi import start_admin_gateway
    from tests.support.servers import free_port, wait_for
    from tests.support.smtpserver import SmtpServer

    users = [
        {"username": f"pilot{number}", "email": f"pilot{number}@example.org"}
        for number in range(MATCHING_USERS)
    ]
    # Half the matching requests name a user, half an address, as the non-matching ones do.
    matching = [user["username"] if number % 2 else user["email"] for number, user in enumerate(users)]
    (workdir / "smtp").mkdir()
    (workdir / "gateway").mkdir()
    smtp = SmtpServer(workdir / "smtp").start()
    gateway = None
    try:
        port = free_port()
        gateway = start_admin_gateway(
            workdir / "gateway",
            config(smtp.port),
            users=users,
            port=port,
            extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "GATEWAY_LOG_LEVEL": "INFO"},
        )
        log(f"gateway on {gateway.url}, SMTP on 127.0.0.1:{smtp.port}; {args.pairs} pairs")
        figures = measure(Asker(gateway.url), matching, args.pairs, args.warmup)
        expected = args.pairs + args.warmup
        try:
            wait_for(lambda: len(smtp.messages) >= expected, timeout=120, interval=0.2)
        except TimeoutError:
            pass
        figures["mails_expected"] = expected
        figures["mails_received"] = len(smtp.messages)
        figures["workers"] = 1
        return figures
    finally:
        if gateway is not None:
            gateway.stop()
        smtp.stop()


def markdown(report: dict) -> str:
    figures = report["figures"]
    rows = [
        "| | n | mean ms | p50 ms | p90 ms | p99 ms | min ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for side, label in (("match", "someone matches"), ("no_match", "nobody matches")):
        cells = [figures[side][key] for key in ("n", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms")]
        rows.append(f"| {label} | " + " | ".join(str(cell) for cell in cells) + " |")
    distance = abs(figures["p_match_slower"] - 0.5)
    verdict = (
        "indistinguishable" if distance <= SIGNIFICANCE_SE * figures["p_match_slower_se"] else "TIMES DIFFER"
    )
    lines = [
        "## POST /password/forgot: matching vs not matching",
        "",
        *rows,
        "",
        f"ratio matching / not matching: p50 {figures['ratio_p50']}, "
        f"mean {figures['ratio_mean']}, p90 {figures['ratio_p90']}",
        f"P(a matching request is slower) = {figures['p_match_slower']} "
        f"(0.5 +- {SIGNIFICANCE_SE:g} x {figures['p_match_slower_se']}: {verdict})",
        f"answers: statuses {figures['statuses']}, "
        + (
            "the same page byte for byte apart from the CSRF token"
            if figures["same_page"]
            else f"PAGES DIFFER ({figures['distinct_pages']} distinct)"
        ),
    ]
    if "mails_received" in figures:
        lines.append(f"mails received {figures['mails_received']} of {figures['mails_expected']} expected")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="60 pairs: checks the benchmark works")
    parser.add_argument("--pairs", type=int, help="measured pairs of requests (default 400; --quick 60)")
    parser.add_argument("--url", help="measure this running gateway instead of starting one")
    parser.add_argument("--match", help="with --url: a username or address that has an account there")
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR / "results" / "forgot.json",
        help="where to write the JSON figures",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args(argv)
    args.pairs = args.pairs or (60 if args.quick else 400)
    args.warmup = 10 if args.quick else 40
    if args.pairs < 10:
        parser.error("--pairs must be at least 10")
    if bool(args.url) != bool(args.match):
        parser.error("--url and --match go together")

    started = time.monotonic()
    load_before = os.getloadavg()
    if args.url:
        figures = measure(Asker(args.url), [args.match], args.pairs, args.warmup)
    else:
        for name in [name for name in os.environ if name.startswith("GATEWAY_")]:
            del os.environ[name]  # only the settings of the run count
        workdir = Path(tempfile.mkdtemp(prefix="gateway-forgot-bench-"))
        try:
            figures = own_gateway(args, workdir)
        finally:
            remove_workdir(workdir, args.keep)
    report = {
        **report_header(),
        "settings": {"pairs": args.pairs, "warmup_pairs": args.warmup, "url": args.url or "own gateway"},
        "figures": figures,
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_average": load_average(load_before),
    }
    return write_report(report, args.out, markdown)


if __name__ == "__main__":
    sys.exit(main())
