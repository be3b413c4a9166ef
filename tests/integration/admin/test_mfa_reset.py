"""Resetting a user's two-step sign-in is one operation whichever client asks (the ``gateway``
command, the admin API, the admin UI's form): every factor and recovery code goes, the
Registry's password path takes the user's own password again, and the audit log has exactly
one ``mfa_reset`` row naming who did it."""

from __future__ import annotations

import pyotp
import pytest

from tests.integration.admin.test_one_operation import _actor_is, _api, _audit_rows, _cli, _ui
from tests.support.adminapi import (
    PASSWORD,
    AdminClient,
    admin_ui_browser,
    registry_answer,
    start_admin_gateway,
)

pytestmark = pytest.mark.integration

RESET = {
    "cli": lambda gw, api, ui, name: _cli(gw, "users", "reset-factors", name, "--yes"),
    "api": lambda gw, api, ui, name: _api(api.delete(f"/users/{name}/factors")),
    "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/users/{name}/factors/reset", {}),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_admin_gateway(tmp_path_factory.mktemp("mfa-reset"))
    yield server
    server.stop()


@pytest.mark.parametrize("client", list(RESET))
def test_resetting_factors_has_the_same_consequences_from_every_client(gateway, client):
    admin = AdminClient.login(gateway.url)
    name = f"mfa{client}"
    assert admin.post("/users", json={"userName": name, "password": PASSWORD}).status_code == 201
    services = gateway.services()
    try:
        services.mfa.factors.add_totp(name, "phone", pyotp.random_base32(32))
        services.mfa.factors.new_recovery_codes(name)
    finally:
        services.close()
    assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 403
    listed = admin.get(f"/users/{name}/factors").json()["factors"]
    assert [f["type"] for f in listed] == ["totp"]

    RESET[client](gateway, admin, admin_ui_browser(gateway.url), name)

    assert admin.get(f"/users/{name}/factors").json() == {"factors": []}
    assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 200
    services = gateway.services()
    try:
        assert services.mfa.factors.recovery_codes_left(name) == 0
    finally:
        services.close()
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == "mfa_reset"]
    assert len(rows) == 1 and rows[0]["factors_removed"] == 1, rows
    assert _actor_is(client, rows[0].get("actor")), rows


def test_an_unknown_user_has_no_factors_to_reset(gateway):
    admin = AdminClient.login(gateway.url)
    assert admin.delete("/users/nobody-here/factors").status_code == 404
    assert admin.get("/users/nobody-here/factors").status_code == 404
