#!/usr/bin/env python3
"""Per-request cost of the token path, in process, without a server or a load generator.

    python benchmarks/token_profile.py [--requests N] [--profile cprofile|none] [--top K]

Prepares a temp instance the way ``benchmarks/run.py`` does (``db upgrade``, the local user
``bench``, ``tokens mint bench``), imports ``gateway.wsgi:app`` (what gunicorn serves) and calls
it ``N`` times directly as a WSGI app with ``POST /api/authenticate`` and ``token=...``, the
request the Registry relays. It prints the CPU time per request, or with ``--profile cprofile``
the functions the requests spend it in.

The wall-clock benchmark is noisy on a shared machine; for steady figures, count instructions:
run this twice under callgrind with different ``--requests`` and divide the difference of the
two totals by the difference of the counts (start-up cost cancels out)::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/a.out \
        python benchmarks/token_profile.py --requests 200
    valgrind --tool=callgrind --callgrind-out-file=/tmp/b.out \
        python benchmarks/token_profile.py --requests 1200

To measure another checkout, set ``PYTHONPATH`` and ``TOKEN_PROFILE_REPO`` to its root.
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO = Path(os.environ.get("TOKEN_PROFILE_REPO", BENCH_DIR.parent))


def prepare(workdir: Path) -> tuple[dict[str, str], str]:
    """The environment of a fresh instance in ``workdir`` and a token minted for its user."""
    config = workdir / "config.yaml"
    config.write_text("providers:\n  - id: local\n    type: local\n    credential_cache_seconds: 0\n")
    env = {
        "GATEWAY_INSTANCE_DIR": str(workdir / "instance"),
        "GATEWAY_ADMIN_PASSWORD": "Adm1n-" + secrets.token_urlsafe(18),
        "GATEWAY_LOG_LEVEL": "INFO",  # production level: one JSON line per attempt
        "GATEWAY_CONFIG": str(config),
        "GATEWAY_DOTENV": str(workdir / "no.env"),
    }
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | env

    def cli(*arguments: str, stdin: str | None = None) -> str:
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", *arguments]
        done = subprocess.run(
            cmd, cwd=str(REPO), env=child_env, input=stdin, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"gateway {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    cli("db", "upgrade")
    cli("users", "create", "bench", "--password-stdin", stdin="pw-" + secrets.token_hex(12) + "\n")
    token = cli("tokens", "mint", "bench").strip().splitlines()[-1].strip()
    return env, token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before measuring (default 200)")
    parser.add_argument("--profile", choices=("none", "cprofile"), default="none")
    parser.add_argument("--top", type=int, default=40, help="rows of the profile to print")
    parser.add_argument("--dump", type=Path, help="with --profile cprofile: also save the stats here")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="gateway-token-profile-"))
    env, token = prepare(workdir)
    for name in [name for name in os.environ if name.startswith("GATEWAY_")]:
        del os.environ[name]
    os.environ.update(env)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    from gateway.wsgi import app  # what gunicorn serves

    body = urlencode({"token": token}).encode()
    base = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/authenticate",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def one() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        result = app(environ, start_response)
        try:
            for _chunk in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    for _ in range(args.warmup):
        one()
    if statuses[-1] != "200 OK":
        raise SystemExit(f"the gateway refused the token: {statuses[-1]}")
    statuses.clear()

    if args.profile == "cprofile":
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.requests):
        one()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if args.profile == "cprofile":
        profiler.disable()
        if args.dump:
            profiler.dump_stats(str(args.dump))
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    if set(statuses) != {"200 OK"}:
        raise SystemExit(f"unexpected answers: {sorted(set(statuses))}")
    print(
        f"{args.requests} token requests: {cpu / args.requests * 1e6:.1f} us CPU, "
        f"{wall / args.requests * 1e6:.1f} us wall per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
