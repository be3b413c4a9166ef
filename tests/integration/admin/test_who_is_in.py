"""Who is in (issue 18): each way in records the user's last sign-in (time, client address,
user agent), a tile stream does not write per request, addresses come from trusted proxies
only; the activity view in the API and the UI, the Sessions page and the user page show it.

Integration tests: the gateway under gunicorn, spoken to over HTTP as the Registry, a browser
and an admin API client would.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.adminapi import (
    CSRF,
    PASSWORD,
    AdminClient,
    admin_ui_browser,
    registry_token,
    start_admin_gateway,
)

pytestmark = pytest.mark.integration
FLUSH_WAIT = 30.0  # the background flush runs every 2 s; generous for a loaded machine


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """Trusts 127.0.0.1 as a proxy: a forwarded address from the test is believed."""
    server = start_admin_gateway(
        tmp_path_factory.mktemp("who-is-in"),
        users=[
            {"username": "alice", "groups": ["drone-pilots"]},
            {"username": "bob"},
            {"username": "carol"},
            {"username": "tiles"},
            {"username": "hostile"},
        ],
        extra={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1, ::1"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory):
    """Trusts only 10.0.0.0/8: the test's loopback peer is no proxy, its header is ignored."""
    server = start_admin_gateway(
        tmp_path_factory.mktemp("who-is-in-untrusting"),
        users=[{"username": "dora"}],
        extra={"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _rows(gateway, username: str) -> dict[str, tuple]:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select path, at, client_address, user_agent from user_last_signin where username = ?",
                (username,),
            ).all()
    finally:
        services.close()
    return {row[0]: tuple(row[1:]) for row in rows}


def _wait_for(gateway, username: str, path: str, check=lambda row: True) -> tuple:
    deadline = time.monotonic() + FLUSH_WAIT
    while True:
        row = _rows(gateway, username).get(path)
        if row is not None and check(row):
            return row
        assert time.monotonic() < deadline, (username, path, _rows(gateway, username))
        time.sleep(0.25)


def _registry(gateway, headers=None, **form) -> requests.Response:
    return requests.post(f"{gateway.url}/api/authenticate", data=form, headers=headers or {}, timeout=30)


def test_every_way_in_records_its_last_sign_in(gateway, admin):
    agent = {"User-Agent": "QGIS/3.34 (test)"}
    assert _registry(gateway, agent, username="alice", password=PASSWORD).status_code == 200
    own = AdminClient.login(gateway.url, "alice", PASSWORD)  # admin_api
    app_password = own.post("/me/app-passwords", json={"name": "qgis"}).json()["secret"]
    assert _registry(gateway, agent, username="alice", password=app_password).status_code == 200
    assert _registry(gateway, agent, token=registry_token(gateway, "alice")).status_code == 200
    browser = requests.Session()
    browser.headers["User-Agent"] = "Firefox/133 (test)"
    form = browser.get(f"{gateway.url}/login", timeout=10)
    signed = browser.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "alice", "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed.status_code == 303

    for path in ("registry_password", "app_password", "registry_token", "browser", "admin_api"):
        at, address, user_agent = _wait_for(gateway, "alice", path)
        assert address == "127.0.0.1", path
        assert at is not None
    assert _rows(gateway, "alice")["browser"][2] == "Firefox/133 (test)"
    assert _rows(gateway, "alice")["registry_password"][2] == "QGIS/3.34 (test)"

    detail = admin.get("/users/alice").json()
    assert {item["path"] for item in detail["lastSignIns"]} == {
        "registry_password",
        "app_password",
        "registry_token",
        "browser",
        "admin_api",
    }
    assert detail["lastActivityAt"] is not None and detail["appPasswords"] == 1
    assert detail["activeSessions"] >= 2  # the admin API token's and the browser's

    page = admin.get("/activity", params={"path": "app_password"}).json()
    assert [(item["username"], item["path"]) for item in page["items"]] == [("alice", "app_password")]
    assert page["items"][0]["userAgent"] == "QGIS/3.34 (test)" and page["total"] == 1


def test_refused_sign_ins_record_nothing(gateway):
    assert _registry(gateway, username="bob", password="wrong-password-123").status_code == 401
    time.sleep(3)
    assert _rows(gateway, "bob") == {}


def test_a_tile_stream_writes_at_most_once_a_minute(gateway):
    agent = {"User-Agent": "QGIS tiles"}
    assert _registry(gateway, agent, username="tiles", password=PASSWORD).status_code == 200
    first = _wait_for(gateway, "tiles", "registry_password")
    time.sleep(1.2)
    for _ in range(30):  # cached hits: the verified-credentials cache answers
        assert _registry(gateway, agent, username="tiles", password=PASSWORD).status_code == 200
    time.sleep(4)  # two flushes
    assert _rows(gateway, "tiles")["registry_password"] == first
    # Another client (a new user agent) is news: written at once, not a minute later.
    _registry(gateway, {"User-Agent": "ddb/1.2"}, username="tiles", password=PASSWORD)
    changed = _wait_for(gateway, "tiles", "registry_password", lambda row: row[2] == "ddb/1.2")
    assert changed[0] > first[0]


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(gateway, untrusting):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert _registry(gateway, forwarded, username="carol", password=PASSWORD).status_code == 200
    assert _wait_for(gateway, "carol", "registry_password")[1] == "203.0.113.9"
    # A chain: the rightmost hop that is not a trusted proxy is the client; what the client
    # itself wrote further left is not believed.
    chain = {"X-Forwarded-For": "192.0.2.66, 198.51.100.7, 127.0.0.1"}
    assert _registry(gateway, chain, token=registry_token(gateway, "carol")).status_code == 200
    assert _wait_for(gateway, "carol", "registry_token")[1] == "198.51.100.7"

    assert _registry(untrusting, forwarded, username="dora", password=PASSWORD).status_code == 200
    assert _wait_for(untrusting, "dora", "registry_password")[1] == "127.0.0.1"


def test_user_agent_is_bounded_and_escaped_on_the_pages(gateway):
    hostile = "<script>alert(1)</script>" + "x" * 600
    assert (
        _registry(gateway, {"User-Agent": hostile}, username="hostile", password=PASSWORD).status_code == 200
    )
    stored = _wait_for(gateway, "hostile", "registry_password")[2]
    assert len(stored) == 255 and stored.startswith("<script>")
    ui = admin_ui_browser(gateway.url)
    for url in ("/admin/users/hostile", "/admin/activity", "/admin/sessions?user=hostile"):
        page = ui.get(f"{gateway.url}{url}", timeout=10)
        assert page.status_code == 200, url
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text, url


def test_sessions_page_shows_a_registry_password_sign_in(gateway):
    """A person who only signed in to the Registry with a password has no gateway session,
    but the Sessions page shows them among the latest sign-ins."""
    _registry(gateway, username="carol", password=PASSWORD)
    _wait_for(gateway, "carol", "registry_password")
    ui = admin_ui_browser(gateway.url)
    page = ui.get(f"{gateway.url}/admin/sessions?user=carol", timeout=10)
    assert page.status_code == 200
    assert 'id="session-signins"' in page.text and "Registry password" in page.text


def test_activity_page_filters_and_refuses_nothing_it_does_not_know(gateway, admin):
    ui = admin_ui_browser(gateway.url)
    page = ui.get(f"{gateway.url}/admin/activity", params={"path": "browser"}, timeout=10)
    assert page.status_code == 200 and 'id="activity-table"' in page.text
    assert "Registry password</td>" not in page.text
    odd = ui.get(f"{gateway.url}/admin/activity", params={"path": "<x>", "page": "99999"}, timeout=10)
    assert odd.status_code == 200
    assert admin.get("/activity", params={"path": "nope"}).status_code == 400
    assert admin.get("/activity", params={"limit": "0"}).status_code == 400
    assert admin.get("/activity", params={"limit": "201"}).status_code == 400
    assert AdminClient(gateway.url).get("/activity").status_code == 401
    bob = AdminClient.login(gateway.url, "bob", PASSWORD)
    assert bob.get("/activity").status_code == 403
    spec = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=10).json()
    assert "/admin/api/activity" in spec["paths"] and "/admin/api/users/bulk" in spec["paths"]


def test_last_sign_ins_and_figures_on_postgresql(postgres_server):
    """The upsert (update, else insert in a savepoint) and the one-query figures (a UNION ALL
    with typed NULLs) on PostgreSQL, as on the embedded SQLite above."""
    from gateway.admin.activity import Activity
    from gateway.login.apppasswords import AppPasswords
    from gateway.login.lastsignin import Client, LastSignIns
    from gateway.storage.db import Database

    database = Database(postgres_server.create_database("who_is_in"))
    try:
        database.upgrade()
        recorder = LastSignIns(database, flush_seconds=3600)
        recorder.record("ann", "browser", Client.of("192.0.2.1", "Firefox"))
        assert recorder.flush() == 1
        recorder.record("ann", "browser", Client.of("192.0.2.3", "Chrome"))
        assert recorder.flush() == 1
        AppPasswords(database).create("ann", "qgis")
        figures = Activity(database).figures(["ann", "bob"])
        assert figures["ann"].app_passwords == 1 and figures["ann"].last_activity is not None
        assert figures["bob"].last_activity is None
        (only,), total = Activity(database).recent(path="browser")
        assert total == 1 and (only.client_address, only.user_agent) == ("192.0.2.3", "Chrome")
    finally:
        database.dispose()
