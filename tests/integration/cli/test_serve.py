"""Integration tests: the README's first command, ``gateway serve`` on the embedded default."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.paths import REPO_ROOT
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.integration
REPO = REPO_ROOT


def _serve(instance: Path, port: int, **extra) -> subprocess.Popen:
    env = {
        **os.environ,
        "GATEWAY_INSTANCE_DIR": str(instance),
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_DOTENV": "/nonexistent",
        **extra,
    }
    for name in ("GATEWAY_ADMIN_PASSWORD", "GATEWAY_CONFIG", "GATEWAY_DATABASE_URL", "GATEWAY_REDIS_URL"):
        if name not in extra:
            env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    return stderr


def test_embedded_default_serves_and_prints_the_admin_password_once(tmp_path):
    port = free_port()
    process = _serve(tmp_path / "instance", port)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).ok, timeout=30)
        assert requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=5).json()["keys"]
    finally:
        first_stderr = _stop(process)
    match = re.search(r"with password: (\S+)", first_stderr)
    assert match, first_stderr[-2000:]
    password = match.group(1)
    assert (tmp_path / "instance" / "gateway.db").exists()
    assert oct((tmp_path / "instance" / "key-encryption.key").stat().st_mode & 0o777) == "0o600"

    process = _serve(tmp_path / "instance", port)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).ok, timeout=30)
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/authenticate",
            data={"username": "admin", "password": password},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["roles"] == ["admin"]
    finally:
        second_stderr = _stop(process)
    assert password not in second_stderr  # shown exactly once, never logged afterwards


def test_bad_configuration_stops_start_up_naming_the_key(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("tokens:\n  algorithm: HS256\n")
    process = _serve(tmp_path / "instance", free_port(), GATEWAY_CONFIG=str(config))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"{config}: tokens.algorithm:" in stderr
    assert "Traceback" not in stderr


def test_a_port_already_in_use_fails_at_once_with_exit_code_2(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        started = time.monotonic()
        process = _serve(tmp_path / "instance", port)
        _, stderr = process.communicate(timeout=30)
        elapsed = time.monotonic() - started
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and "Retrying" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: the port is already in use (is another gateway "
        "running?); stop that process or choose another address with --bind or GATEWAY_BIND"
    )
    assert elapsed < 15  # gunicorn alone retries for ~5 s after preparing everything
