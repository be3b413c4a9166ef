"""Integration tests: a ``require`` rule turns "valid but not in an allowed group" into 403."""

from __future__ import annotations

import pytest

from tests.support.harness import ADMIN_PASSWORD, PASSWORD, start_gateway

pytestmark = pytest.mark.integration

CONFIG = """
mapping:
  rules:
    - name: staff-only
      require:
        group: [staff]
    - name: staff-role
      match: {group: staff}
      roles: [user]
      maxStorageMB: 1024
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = start_gateway(
        tmp_path_factory.mktemp("require"),
        CONFIG,
        users=[
            {"username": "ivy", "groups": ["staff"]},
            {"username": "jon", "groups": ["contractors"]},
        ],
    )
    yield gw
    gw.stop()


def test_member_of_required_group_is_granted(gateway):
    response = gateway.authenticate({"username": "ivy", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json() == {"username": "ivy", "roles": ["user"], "maxStorageMB": 1024}


def test_outsider_with_right_password_is_403(gateway):
    response = gateway.authenticate({"username": "jon", "password": PASSWORD})
    assert response.status_code == 403
    assert response.json() == {"error": "access denied"}


def test_outsider_with_wrong_password_is_plain_401(gateway):
    assert gateway.authenticate({"username": "jon", "password": "nope-nope-nope"}).status_code == 401


def test_require_applies_to_the_bootstrap_admin_too(gateway):
    """The admin's roles come from an override, but require rules still gate it: operators who
    add a require rule must include the admin (documented in docs/mapping.md)."""
    assert gateway.authenticate({"username": "admin", "password": ADMIN_PASSWORD}).status_code == 403
