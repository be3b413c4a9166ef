"""Integration test: with ``usernames.lowercase: false`` names keep their case, and the Registry
finds its accounts by the upper-cased name (docs/registry-contract.md §2.1), so ``Ann`` and
``ann`` would be one Registry account. The gateway refuses the second spelling when it is
created, and the Registry stand-in, relaying to the gateway under gunicorn, keeps one account.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.adminapi import PASSWORD, AdminClient, start_admin_gateway
from tests.support.registry import RegistryStub

pytestmark = pytest.mark.integration


def test_a_name_differing_only_by_case_cannot_be_a_second_user(tmp_path):
    gateway = start_admin_gateway(tmp_path, "usernames: {lowercase: false}\n", users=[{"username": "ann"}])
    registry = RegistryStub.start(f"{gateway.url}/api/authenticate", issue_tokens=True)
    try:
        admin = AdminClient.login(gateway.url)
        twin = admin.post("/users", json={"userName": "Ann", "password": PASSWORD})
        assert 400 <= twin.status_code < 500, twin.text
        assert "Ann" in twin.json()["error"]
        assert admin.get("/users/Ann").status_code == 404  # nothing half-made either

        def registry_login(typed):
            form = {"username": typed, "password": PASSWORD}
            return requests.post(f"{registry.url}/users/authenticate", data=form, timeout=30)

        assert registry_login("ann").status_code == 200
        assert registry_login("Ann").status_code == 401  # no such user at the gateway
        assert list(registry.users) == ["ann"]
    finally:
        registry.stop()
        gateway.stop()
