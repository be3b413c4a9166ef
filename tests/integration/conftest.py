"""Fixtures for integration tests: gateways under gunicorn on real databases and Redis."""

from __future__ import annotations

import pytest

from tests.integration.harness import start_gateway


@pytest.fixture(scope="module", params=["sqlite-memory", "postgres-redis"])
def contract_gateway(request, tmp_path_factory):
    """The contract gateway, once on the embedded default and once on PostgreSQL + Redis."""
    options = {}
    if request.param == "postgres-redis":
        postgres = request.getfixturevalue("postgres_server")
        redis_server = request.getfixturevalue("redis_server")
        name = f"contract_{request.module.__name__.rsplit('.', 1)[-1]}"[:60]
        options = {"database_url": postgres.create_database(name), "redis_url": redis_server.url}
    gateway = start_gateway(tmp_path_factory.mktemp(request.param), **options)
    gateway.backend = request.param
    yield gateway
    gateway.stop()
