"""Container health check: ``python deploy/healthcheck.py [PATH [SECONDS]]``; exit 0 when the
local gateway answers PATH (default ``/healthz``) with 200 within SECONDS (default 4), 1 otherwise.
``/readyz`` may take longer than 4 s (its first call in a worker waits for the first provider
check, then checks the database): deploy/compose gives it 15 s.

The slim Python image has no curl, so the Dockerfile's HEALTHCHECK and the compose file run
this with the image's own Python. The port comes from GATEWAY_BIND (as gunicorn binds it).
Proxy variables are ignored: the check always talks to 127.0.0.1 directly. Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_SECONDS = 4


def url(path: str = "/healthz", bind: str | None = None) -> str:
    bind = bind or os.environ.get("GATEWAY_BIND") or "127.0.0.1:8080"
    port = bind.rsplit(":", 1)[-1] if ":" in bind else "8080"
    return f"http://127.0.0.1:{port}{path}"


def main(argv: list[str]) -> int:
    target = url(argv[1] if len(argv) > 1 else "/healthz")
    timeout = float(argv[2]) if len(argv) > 2 else TIMEOUT_SECONDS
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(target, timeout=timeout) as response:
            if response.status == 200:
                return 0
            print(f"unhealthy: {target} answered {response.status}", file=sys.stderr)
    except Exception as error:
        print(f"unhealthy: {target}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
