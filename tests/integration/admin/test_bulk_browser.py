"""In headless Chromium: bulk-disable two users from the users list (check them, review the
confirmation that lists who is affected and what happens, confirm, read the summary), and the
Recent activity view. Screenshots of the users list and the activity view at desktop (1280)
and phone (390) width go to test-artifacts/screenshots/ (``who-*``); the phone ones must not
scroll sideways."""

from __future__ import annotations

import pytest
import requests

from tests.support.adminapi import ADMIN_PASSWORD, PASSWORD, AdminClient, start_admin_gateway
from tests.support.browser import save_screenshot
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    server = start_admin_gateway(
        tmp_path_factory.mktemp("bulk-browser"),
        port=port,
        users=[
            {"username": "alice", "email": "alice@example.org", "groups": ["drone-pilots"]},
            {"username": "bob", "groups": ["drone-admins"]},
            {"username": "carol"},
            {"username": "dave", "groups": ["drone-pilots"]},
        ],
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "GATEWAY_TRUSTED_PROXIES": "127.0.0.1"},
    )
    yield server
    server.stop()


def _shoot(page, name: str) -> None:
    page.set_viewport_size(DESKTOP)
    save_screenshot(page, f"who-{name}-desktop")
    page.set_viewport_size(PHONE)
    save_screenshot(page, f"who-{name}-phone")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
    page.set_viewport_size(DESKTOP)


def test_bulk_disable_with_the_confirmation(gateway, page):
    # Some activity to show: a map client, a command line behind a proxy, an API script.
    for username, agent, forwarded in (
        ("alice", "QGIS/3.34.4-Prizren (Linux)", "203.0.113.10"),
        ("carol", "ddb/1.4.2 (dronedb-cli)", "198.51.100.23"),
        ("dave", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "192.0.2.44"),
    ):
        answer = requests.post(
            f"{gateway.url}/api/authenticate",
            data={"username": username, "password": PASSWORD},
            headers={"User-Agent": agent, "X-Forwarded-For": forwarded},
            timeout=30,
        )
        assert answer.status_code == 200
    AdminClient.login(gateway.url, "bob", PASSWORD)

    page.set_viewport_size(DESKTOP)
    page.goto(f"{gateway.url}/login?next=/admin/users")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{gateway.url}/admin/users")
    page.wait_for_timeout(3000)  # the last sign-ins are written in the background
    page.goto(f"{gateway.url}/admin/users?sort=-createdAt")
    assert page.locator("input[name=user][value=admin]").count() == 0  # not yourself
    page.check("input[name=user][value=carol]")
    page.check("input[name=user][value=dave]")
    page.select_option("#bulk-action", "disable")
    _shoot(page, "users")

    page.click("#bulk-review")
    page.wait_for_url(f"{gateway.url}/admin/users/bulk")
    assert page.text_content("#bulk-title").strip() == "Disable: 2 users"
    assert "signed out everywhere" in page.text_content("#bulk-consequences")
    assert page.locator("#bulk-affected tbody tr").count() == 2
    _shoot(page, "bulk-confirm")

    page.click("#bulk-confirm")
    page.wait_for_url(f"{gateway.url}/admin/users/bulk/done")
    done = page.text_content("#bulk-done")
    assert "Done for 2 users" in done and "carol" in done and "dave" in done
    _shoot(page, "bulk-done")
    page.reload()  # the summary is shown once; a reload repeats nothing
    page.wait_for_url(f"{gateway.url}/admin/users")

    admin = AdminClient.login(gateway.url)
    assert [admin.get(f"/users/{name}").json()["enabled"] for name in ("carol", "dave", "alice")] == [
        False,
        False,
        True,
    ]

    page.click("#nav-activity")
    page.wait_for_url(f"{gateway.url}/admin/activity")
    table = page.text_content("#activity-table")
    assert "203.0.113.10" in table and "QGIS/3.34.4" in table and "Admin API token" in table
    _shoot(page, "activity")
