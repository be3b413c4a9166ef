"""A temporary password (``mustChangePassword``) set by an admin through the API, the UI and
the CLI: the Registry's password path answers 403 with a JSON error (also when the account's
credentials were cached a moment before, and on every repeat), ``POST /api/token`` too; the
sign-in form sends the person to choose their own password before anything else, after which
the new password works everywhere and the temporary one nowhere."""

from __future__ import annotations

import re

import pytest
import requests

from tests.integration.admin.test_admin_ui_browser import http_sign_in, shoot
from tests.integration.cli.test_cli import run
from tests.support.adminapi import (
    ADMIN_PASSWORD,
    ADMIN_SEED_USERS,
    PASSWORD,
    AdminClient,
    registry_answer,
    start_admin_gateway,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

TEMPORARY = "temporary-cobalt-48-meadow"
OWN = "my-own-saffron-93-harbour"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("temporary-password"),
        users=ADMIN_SEED_USERS + [{"username": "dora"}],
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def sign_in(gateway, session, username: str, password: str) -> requests.Response:
    form = session.get(f"{gateway.url}/login", timeout=10)
    return session.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": username, "password": password},
        allow_redirects=False,
        timeout=30,
    )


def test_the_registry_path_refuses_a_temporary_password_and_the_form_changes_it(gateway):
    assert registry_answer(gateway, username="alice", password=PASSWORD).status_code == 200  # now cached
    admin = AdminClient.login(gateway.url)
    set_it = admin.put("/users/alice/changepwd", json={"newPassword": TEMPORARY, "mustChangePassword": True})
    assert set_it.status_code == 204, set_it.text
    assert admin.get("/users/alice").json()["mustChangePassword"] is True
    assert registry_answer(gateway, username="alice", password=PASSWORD).status_code == 401
    for _ in range(3):  # never answered from the verified-credentials cache
        refused = registry_answer(gateway, username="alice", password=TEMPORARY)
        assert refused.status_code == 403
        assert "password change required" in refused.json()["error"]
    token = requests.post(
        f"{gateway.url}/api/token", json={"username": "alice", "password": TEMPORARY}, timeout=30
    )
    assert token.status_code == 403

    session = browser()
    answer = sign_in(gateway, session, "alice", TEMPORARY)
    assert answer.status_code == 303 and answer.headers["Location"] == "/password/change"
    assert not [c for c in session.cookies if c.name.endswith("gw_session")]  # no session yet
    form = session.get(f"{gateway.url}/password/change", timeout=10)
    assert form.status_code == 200 and 'id="change-form"' in form.text
    csrf = CSRF.search(form.text).group(1)
    mismatch = session.post(
        f"{gateway.url}/password/change",
        data={"csrf_token": csrf, "password": OWN, "confirm": "x"},
        timeout=10,
    )
    assert mismatch.status_code == 400
    weak = session.post(
        f"{gateway.url}/password/change",
        data={"csrf_token": csrf, "password": "abc", "confirm": "abc"},
        timeout=10,
    )
    assert weak.status_code == 400 and "cannot be used" in weak.text
    done = session.post(
        f"{gateway.url}/password/change",
        data={"csrf_token": csrf, "password": OWN, "confirm": OWN},
        timeout=30,
    )
    assert done.status_code == 200 and 'id="change-done"' in done.text

    assert registry_answer(gateway, username="alice", password=OWN).status_code == 200
    assert registry_answer(gateway, username="alice", password=TEMPORARY).status_code == 401
    assert AdminClient.login(gateway.url).get("/users/alice").json()["mustChangePassword"] is False
    # The ticket is spent: the change form is gone.
    again = session.get(f"{gateway.url}/password/change", allow_redirects=False, timeout=10)
    assert again.status_code == 303
    assert sign_in(gateway, browser(), "alice", OWN).headers["Location"] in ("/account", "/admin")


def test_a_forged_or_missing_ticket_changes_nothing(gateway):
    session = browser()
    form = session.get(f"{gateway.url}/login", timeout=10)
    csrf = CSRF.search(form.text).group(1)
    session.cookies.set("gw_pwchange", "9999999999.deadbeef.carol")
    answer = session.post(
        f"{gateway.url}/password/change",
        data={"csrf_token": csrf, "password": OWN, "confirm": OWN},
        timeout=10,
    )
    assert answer.status_code == 410
    assert registry_answer(gateway, username="carol", password=PASSWORD).status_code == 200
    assert (
        session.post(f"{gateway.url}/password/change", data={"password": OWN}, timeout=10).status_code == 403
    )


def test_the_admin_ui_sets_a_temporary_password(gateway):
    session = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = session.get(f"{gateway.url}/admin/users/bob", timeout=10)
    assert 'id="mustChangePassword"' in page.text
    answer = session.post(
        f"{gateway.url}/admin/users/bob/password",
        data={
            "csrf_token": CSRF.search(page.text).group(1),
            "newPassword": TEMPORARY,
            "confirmPassword": TEMPORARY,
            "mustChangePassword": "1",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    assert registry_answer(gateway, username="bob", password=TEMPORARY).status_code == 403


def test_the_cli_sets_a_temporary_password(gateway):
    result = run(
        gateway.env, "users", "set-password", "carol", "--password-stdin", "--temporary", stdin=TEMPORARY
    )
    assert result.returncode == 0, result.stderr
    assert registry_answer(gateway, username="carol", password=TEMPORARY).status_code == 403


def test_the_change_form_in_chromium(gateway, page):
    admin = AdminClient.login(gateway.url)
    assert (
        admin.put(
            "/users/dora/changepwd", json={"newPassword": TEMPORARY, "mustChangePassword": True}
        ).status_code
        == 204
    )
    page.goto(f"{gateway.url}/login")
    page.fill("#username", "dora")
    page.fill("#password", TEMPORARY)
    page.click("#sign-in")
    page.wait_for_selector("#change-form")
    assert page.url == f"{gateway.url}/password/change"
    shoot(page, "66-password-change")
    page.fill("#password", OWN)
    page.fill("#confirm", OWN)
    page.click("#change-password")
    page.wait_for_selector("#change-done")
    assert registry_answer(gateway, username="dora", password=OWN).status_code == 200
