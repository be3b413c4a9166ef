"""Integration tests: /metrics, /readyz, /healthz and the JSON logs of a gateway under gunicorn.

Real parts: gunicorn with two workers on PostgreSQL + Redis (so the counters must add up across
worker processes), a private PostgreSQL and Redis that are stopped to see readiness change, and
an LDAP provider pointed at a port where nothing listens to see a degraded provider.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness import ADMIN_PASSWORD, CONTRACT_CONFIG, PASSWORD, start_gateway
from tests.support.servers import PostgresServer, RedisServer, free_port, wait_for

pytestmark = pytest.mark.integration

METRICS_TOKEN = "metrics-bearer-token-0123456789"
WRONG = "not-the-password-at-all"


def _dead_ldap_provider(port: int) -> str:
    return f"""
  - id: corp
    type: ldap
    preset: openldap
    servers: ["ldap://127.0.0.1:{port}"]
    connect_timeout_seconds: 0.5
    login_timeout_seconds: 2
    bind: {{dn: "cn=gateway,dc=example,dc=com", password: "service-secret"}}
    user: {{base: "ou=people,dc=example,dc=com"}}
    groups: {{base: "ou=groups,dc=example,dc=com", strategies: [member_of]}}
"""


def config_with(*providers: str) -> str:
    return "providers:\n" + "".join(providers) + CONTRACT_CONFIG


LOCAL = "  - id: local\n    type: local\n"


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    base = tmp_path_factory.mktemp("observability")
    postgres = PostgresServer.start(base / "postgres")
    redis_server = RedisServer.start(base / "redis")
    yield postgres, redis_server
    redis_server.resume()
    redis_server.stop()
    postgres.stop()


@pytest.fixture(scope="module")
def gateway(backends, tmp_path_factory):
    postgres, redis_server = backends
    server = start_gateway(
        tmp_path_factory.mktemp("observed"),
        config_with(LOCAL, _dead_ldap_provider(free_port())),
        database_url=postgres.create_database("observed"),
        redis_url=redis_server.url,
        workers=2,
        extra={"GATEWAY_METRICS_TOKEN": METRICS_TOKEN},
    )
    yield server
    server.stop()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = requests.get(
        f"{url}/metrics", timeout=10, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape_when(url: str, ready, timeout: float = 30.0) -> dict[tuple[str, tuple], float]:
    """The samples of /metrics once ``ready(samples)`` holds, else (after ``timeout``) the last
    ones, for the test's assertions to say what is missing. Each worker applies its attempt
    and token counts in a background thread every 50 ms, later on a loaded machine: a scrape
    right after the requests may not see another worker's counts yet."""
    last: dict[tuple[str, tuple], float] = {}

    def attempt() -> bool:
        nonlocal last
        last = scrape(url)
        return ready(last)

    try:
        wait_for(attempt, timeout=timeout, interval=0.1)
    except TimeoutError:
        pass
    return last


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_add_up_across_both_workers(gateway):
    before = scrape(gateway.url)
    for _ in range(12):  # enough that both workers serve some (new connection each time)
        assert gateway.authenticate({"username": "alice", "password": PASSWORD}).status_code == 200
    for _ in range(3):
        assert gateway.authenticate({"username": "carol", "password": WRONG}).status_code == 401
    token = "not.a.token"
    assert gateway.authenticate({"token": token}).status_code == 401
    expected = [  # (count, metric, labels): what the test counts below, once applied
        (12, "gateway_auth_attempts_total", dict(path="password", provider="local", outcome="success")),
        (3, "gateway_auth_attempts_total", dict(path="password", provider="none", outcome="rejected")),
        (1, "gateway_auth_attempts_total", dict(path="token", provider="none", outcome="rejected")),
        (12, "gateway_auth_duration_seconds_count", dict(path="password", provider="local")),
        (12, "gateway_auth_duration_seconds_bucket", dict(path="password", provider="local", le="+Inf")),
        (1, "gateway_token_verifications_total", dict(kind="gateway", result="malformed")),
    ]
    after = scrape_when(
        gateway.url,
        lambda now: all(
            value(now, name, **labels) - value(before, name, **labels) >= count
            for count, name, labels in expected
        ),
    )

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gateway_auth_attempts_total", path="password", provider="local", outcome="success") == 12
    assert delta("gateway_auth_attempts_total", path="password", provider="none", outcome="rejected") == 3
    assert delta("gateway_auth_attempts_total", path="token", provider="none", outcome="rejected") == 1
    assert delta("gateway_auth_duration_seconds_count", path="password", provider="local") == 12
    assert delta("gateway_auth_duration_seconds_bucket", path="password", provider="local", le="+Inf") == 12
    assert delta("gateway_token_verifications_total", kind="gateway", result="malformed") == 1
    assert delta("gateway_throttle_events_total", event="failure_counted") == 3


def test_throttle_lockouts_and_refusals_are_counted(gateway):
    before = scrape(gateway.url)
    statuses = [gateway.authenticate({"username": "frank", "password": WRONG}).status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5 and 429 in statuses
    throttled = dict(path="password", provider="none", outcome="throttled")
    after = scrape_when(gateway.url, lambda now: value(now, "gateway_auth_attempts_total", **throttled) >= 1)
    assert value(after, "gateway_throttle_events_total", event="lockout_started") > value(
        before, "gateway_throttle_events_total", event="lockout_started"
    )
    assert (
        value(after, "gateway_auth_attempts_total", path="password", provider="none", outcome="throttled")
        >= 1
    )


def test_token_path_success_is_counted_as_a_valid_gateway_token(gateway):
    from tests.support.adminapi import registry_token

    token = registry_token(gateway, "alice")
    before = scrape(gateway.url)
    assert gateway.authenticate({"token": token}).status_code == 200
    valid = dict(kind="gateway", result="valid")
    success = dict(path="token", provider="local", outcome="success")
    after = scrape_when(
        gateway.url,
        lambda now: (
            value(now, "gateway_token_verifications_total", **valid)
            >= value(before, "gateway_token_verifications_total", **valid) + 1
            and value(now, "gateway_auth_attempts_total", **success) >= 1
        ),
    )
    assert (
        value(after, "gateway_token_verifications_total", **valid)
        == value(before, "gateway_token_verifications_total", **valid) + 1
    )
    assert value(after, "gateway_auth_attempts_total", **success) >= 1


def test_provider_health_and_key_ages_are_gauges(gateway):
    samples = scrape(gateway.url)
    assert value(samples, "gateway_provider_up", provider="local", type="local") == 1
    assert ("gateway_provider_up", (("provider", "corp"), ("type", "ldap"))) in samples
    assert value(samples, "gateway_provider_up", provider="corp", type="ldap") == 0
    ages = [
        v
        for (name, labels), v in samples.items()
        if name == "gateway_signing_key_age_seconds" and ("state", "active") in labels
    ]
    assert ages and all(0 <= age < 3600 for age in ages)


def test_no_label_carries_a_username_or_a_secret(gateway):
    gateway.authenticate({"username": "mallory-was-here", "password": WRONG})
    text = requests.get(
        f"{gateway.url}/metrics", timeout=10, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ).text
    for secret in ("mallory-was-here", "alice", WRONG, PASSWORD, METRICS_TOKEN):
        assert secret not in text


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token-wrong-token", "Basic abc", f"Bearer {METRICS_TOKEN}x", "Bearer"]
)
def test_metrics_need_the_bearer_token_when_one_is_set(gateway, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{gateway.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "metrics need the bearer token"}
    assert "gateway_auth" not in response.text


def test_readyz_is_degraded_not_failing_while_another_provider_serves(gateway):
    response = requests.get(f"{gateway.url}/readyz", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True and body["redis"]["ok"] is True
    assert body["providers"] == [
        {"id": "local", "type": "local", "healthy": True},
        {"id": "corp", "type": "ldap", "healthy": False},
    ]
    assert "127.0.0.1" not in response.text  # no internal addresses to anonymous callers


def test_readyz_fails_when_no_provider_serves(tmp_path):
    server = start_gateway(tmp_path, config_with(_dead_ldap_provider(free_port())), users=[])
    try:
        response = requests.get(f"{server.url}/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()


def test_readyz_ready_on_the_embedded_default(tmp_path):
    server = start_gateway(tmp_path)
    try:
        response = requests.get(f"{server.url}/readyz", timeout=10)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "database": response.json()["database"],
            "providers": [{"id": "local", "type": "local", "healthy": True}],
        }
        # No token configured: metrics are open (and docs/operations.md says to keep them internal).
        assert server.authenticate({"username": "alice", "password": PASSWORD}).status_code == 200
        assert "gateway_auth_attempts" in requests.get(f"{server.url}/metrics", timeout=10).text
    finally:
        server.stop()


def test_redis_down_is_degraded_and_database_down_is_unavailable(tmp_path):
    postgres = PostgresServer.start(tmp_path / "postgres")
    redis_server = RedisServer.start(tmp_path / "redis")
    server = start_gateway(
        tmp_path / "gw",
        config_with(LOCAL),
        database_url=postgres.create_database("outage"),
        redis_url=redis_server.url,
        workers=1,
    )
    try:
        assert requests.get(f"{server.url}/readyz", timeout=10).json()["status"] == "ready"
        redis_server.stop()
        response = requests.get(f"{server.url}/readyz", timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "degraded" and response.json()["redis"]["ok"] is False
        postgres.stop()
        started = time.monotonic()
        response = requests.get(f"{server.url}/readyz", timeout=30)
        assert response.status_code == 503 and response.json()["database"]["ok"] is False
        assert time.monotonic() - started < 10
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()
        redis_server.stop()
        postgres.stop()


def _complete_lines(gateway) -> list[str]:
    """The lines of the gateway's log written so far (not a last one still being written)."""
    text = gateway.server.stderr_path.read_text()
    lines = text.splitlines()
    return lines if text.endswith("\n") else lines[:-1]


def _auth_entries(gateway) -> list[dict]:
    return [
        entry
        for entry in (json.loads(line) for line in _complete_lines(gateway) if line.strip())
        if entry["logger"] == "gateway.auth"
    ]


def test_every_log_line_is_json_and_each_attempt_is_one_line_with_its_request_id(gateway):
    request_id = f"obs-{time.monotonic_ns()}"
    response = gateway.authenticate(
        {"username": "alice", "password": PASSWORD}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 200 and response.headers["X-Request-ID"] == request_id
    wrong_id = request_id + "-wrong"
    gateway.authenticate({"username": "alice", "password": WRONG}, headers={"X-Request-ID": wrong_id})
    # Attempt lines are written in batches every 50 ms by a background thread (later on a
    # loaded machine): wait for both lines, then read what has been written by then.
    wait_for(
        lambda: {request_id, wrong_id} <= {entry.get("request_id") for entry in _auth_entries(gateway)},
        timeout=30,
        message="the attempt lines of the two requests were not written",
    )
    lines = _complete_lines(gateway)
    entries = [json.loads(line) for line in lines if line.strip()]  # every line parses
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["logger"].startswith("gunicorn") for entry in entries)

    mine = [
        entry
        for entry in entries
        if entry.get("request_id") == request_id and entry["logger"] == "gateway.auth"
    ]
    assert len(mine) == 1
    attempt = mine[0]
    assert attempt["logger"] == "gateway.auth"
    assert attempt["auth_user"] == "alice" and attempt["auth_provider"] == "local"
    assert attempt["auth_path"] == "password" and attempt["auth_outcome"] == "success"
    assert attempt["auth_class"] == "success" and attempt["duration_ms"] > 0
    failed = [
        entry
        for entry in entries
        if entry.get("request_id") == wrong_id and entry["logger"] == "gateway.auth"
    ]
    assert len(failed) == 1 and failed[0]["auth_class"] == "rejected"
    text = "\n".join(lines)
    for secret in (PASSWORD, WRONG, ADMIN_PASSWORD, "$argon2"):
        assert secret not in text
