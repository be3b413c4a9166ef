"""The admin UI's directory sync page (``/admin/sync``) in headless Chromium against the
gateway under gunicorn and a real slapd: the schedule, a dry run that names a leaver and
changes nothing, a run that disables them, the message while another run is under way, and
the page by keyboard and on a phone (screenshots ``admin-40-sync-*``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.registry.syncruns import SyncRuns
from tests.integration.admin.test_admin_ui_browser import CSRF, focused, http_sign_in, shoot, sign_in
from tests.support import ldapdata as data
from tests.support.adminapi import ADMIN_PASSWORD, PASSWORD, AdminClient
from tests.support.ldapserver import SlapdServer
from tests.support.syncgateway import leave_directory, start_sync_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    server = SlapdServer.start(tmp_path_factory.mktemp("sync-ui-slapd"), dataset=data.openldap_dataset())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(directory, tmp_path_factory):
    gateway = start_sync_gateway(tmp_path_factory.mktemp("admin-ui-sync"), directory)
    yield gateway
    gateway.stop()


def test_an_admin_dry_runs_then_runs_the_sync(gateway, directory, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.click("#nav-sync")
    page.wait_for_url(f"{gateway.url}/admin/sync")
    assert page.text_content("#sync-directories").strip() == "directory"
    assert page.text_content("#sync-periodic").strip() == "off"
    assert "No runs yet" in page.text_content("#sync-runs caption")
    shoot(page, "40-sync-empty")

    leave_directory(directory, "frank")
    page.click("#sync-dry-run")
    page.wait_for_url(f"{gateway.url}/admin/sync?run=*")
    notice = page.text_content("#notice")
    assert "Dry run finished (done); nothing was changed" in notice and "would disable 1" in notice
    first_row = page.locator("#sync-runs tbody tr").first
    assert "Dry run" in first_row.text_content() and "would disable frank" in first_row.text_content()
    assert AdminClient.login(gateway.url).get("/users/frank").json()["enabled"] is True
    shoot(page, "41-sync-dry-run")

    page.click("#sync-run")
    page.wait_for_load_state()
    assert "Run finished (done): 1 disabled" in page.text_content("#notice")
    assert page.locator("#sync-runs tbody tr").count() == 2
    assert AdminClient.login(gateway.url).get("/users/frank").json()["enabled"] is False
    shoot(page, "42-sync-run")

    page.reload()  # the run was a redirect: reloading shows it again, it does not run again
    assert page.locator("#sync-runs tbody tr").count() == 2


def test_a_run_while_another_is_under_way_says_so(gateway, page):
    services = gateway.services()
    runs = SyncRuns(services.database)
    try:
        assert runs.acquire("another-replica", timedelta(minutes=5))
        sign_in(page, gateway.url, "admin", ADMIN_PASSWORD, path="/login?next=/admin/sync")
        page.wait_for_url(f"{gateway.url}/admin/sync")
        assert "A run is under way" in page.text_content("#sync-running")
        response_status = []
        page.on("response", lambda response: response_status.append(response.status))
        page.click("#sync-run")
        page.wait_for_load_state()
        assert 409 in response_status
        assert "already running" in page.text_content("#sync-error")
        shoot(page, "43-sync-busy")
    finally:
        runs.release("another-replica")
        services.close()


def test_the_buttons_are_reached_by_keyboard(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD, path="/login?next=/admin/sync")
    page.wait_for_url(f"{gateway.url}/admin/sync")
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(focused(page))
        if reached[-1] == "sync-dry-run":
            break
    assert reached[-2:] == ["sync-run", "sync-dry-run"], reached


def test_the_page_is_for_admins_and_its_form_needs_the_csrf_token(gateway):
    alice = http_sign_in(gateway, "alice", PASSWORD)
    assert alice.get(f"{gateway.url}/admin/sync", timeout=10).status_code == 403
    assert alice.post(f"{gateway.url}/admin/sync/run", data={"dry_run": "1"}, timeout=10).status_code == 403
    admin = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = admin.get(f"{gateway.url}/admin/sync", timeout=10)
    before = page.text.count('id="sync-run-')
    run_url = f"{gateway.url}/admin/sync/run"
    forged = admin.post(run_url, data={"dry_run": "1"}, allow_redirects=False, timeout=10)
    assert forged.status_code == 403
    ran = admin.post(
        f"{gateway.url}/admin/sync/run",
        data={"dry_run": "1", "csrf_token": CSRF.search(page.text).group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert ran.status_code == 303 and ran.headers["Location"].startswith("/admin/sync?run=")
    assert admin.get(f"{gateway.url}/admin/sync", timeout=10).text.count('id="sync-run-') == before + 1
