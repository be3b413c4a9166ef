"""Property-based run of the admin API against its own OpenAPI document (schemathesis): for
every documented operation, generated requests (valid and invalid) sent with an admin's API
key never get a 5xx, and every answer matches the documented status codes, content type and
response schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.adminapi import start_admin_gateway

pytestmark = pytest.mark.integration
EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgres-redis"])
def gateway(request, tmp_path_factory):
    """On the embedded default and on PostgreSQL + Redis (PostgreSQL refuses NUL characters
    in text, which generated input is full of)."""
    options = {}
    if request.param == "postgres-redis":
        options = {
            "database_url": request.getfixturevalue("postgres_server").create_database("admin_schemathesis"),
            "redis_url": request.getfixturevalue("redis_server").url,
        }
    gateway = start_admin_gateway(tmp_path_factory.mktemp("schemathesis"), **options)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def api_key(gateway):
    """An API key, not a session token: generated calls that end sessions cannot lock the
    run out."""
    services = gateway.services()
    try:
        _, secret = services.api_keys.create("admin", "schemathesis")
    finally:
        services.close()
    return secret


def test_every_operation_answers_as_documented(gateway, api_key):
    # Schemathesis's pytest plugin (from_fixture) does not run on pytest 9, so the operations
    # are driven through their hypothesis strategies directly: the same generation and checks.
    schema = schemathesis.openapi.from_url(f"{gateway.url}/admin/api/openapi.json")
    headers = {"Authorization": f"Bearer {api_key}"}
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case):
            case.call_and_validate(base_url=gateway.url, headers=headers, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as failure:
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
