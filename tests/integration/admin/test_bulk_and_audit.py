"""Bulk actions on users (issue 17) through the admin API and the admin UI, the users list's
per-user figures, and the audit (issue 18): one row per event whichever client creates a user,
event and outcome offered as choices, CSV and JSON lines export buttons that keep the filters.

Integration tests: the gateway under gunicorn, the CLI as an operator runs it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid

import pytest
import requests

from tests.integration.admin.test_one_operation import _audit_rows
from tests.support.adminapi import (
    CSRF,
    PASSWORD,
    AdminClient,
    admin_ui_browser,
    registry_answer,
    registry_token,
    start_admin_gateway,
)
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_admin_gateway(tmp_path_factory.mktemp("bulk-audit"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


@pytest.fixture(scope="module")
def ui(gateway) -> requests.Session:
    return admin_ui_browser(gateway.url)


def _new_users(admin, count: int) -> list[str]:
    names = [f"b{uuid.uuid4().hex[:8]}" for _ in range(count)]
    for name in names:
        assert admin.post("/users", json={"userName": name, "password": PASSWORD}).status_code == 201
    return names


def _csrf(gateway, ui) -> str:
    return CSRF.search(ui.get(f"{gateway.url}/admin/users", timeout=10).text).group(1)


# -- audit: one row per event --------------------------------------------------------------------


def test_creating_a_user_is_audited_once_from_every_client(gateway, admin, ui):
    api_name, cli_name, ui_name = (f"a{uuid.uuid4().hex[:8]}" for _ in range(3))
    assert admin.post("/users", json={"userName": api_name, "password": PASSWORD}).status_code == 201
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "users", "create", cli_name, "--password-stdin"],
        cwd=REPO_ROOT,
        env=gateway.env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = ui.post(
        f"{gateway.url}/admin/new-user",
        data={"csrf_token": _csrf(gateway, ui), "userName": ui_name, "password": PASSWORD, "roles": "pilot"},
        allow_redirects=False,
        timeout=30,
    )
    assert created.status_code == 303
    for name in (api_name, cli_name, ui_name):
        events = [event for event, _ in _audit_rows(gateway, name)]
        assert events == ["user_created"], (name, events)


def test_disabling_through_the_users_api_is_one_row(gateway, admin):
    (name,) = _new_users(admin, 1)
    assert admin.put(f"/users/{name}", json={"enabled": False}).status_code == 200
    assert admin.put(f"/users/{name}", json={"enabled": True, "email": "x@example.org"}).status_code == 200
    events = [event for event, _ in _audit_rows(gateway, name)]
    assert events == ["user_created", "user_disabled", "user_enabled", "user_updated"], events


def test_audit_filters_are_choices_and_export_keeps_them(gateway, admin, ui):
    (name,) = _new_users(admin, 1)
    page = ui.get(
        f"{gateway.url}/admin/audit", params={"event": "user_created", "username": name}, timeout=10
    )
    assert page.status_code == 200
    assert '<select id="f-event" name="event">' in page.text and '<select id="f-outcome"' in page.text
    assert '<option value="user_created" title="a user created" selected>' in page.text
    links = {kind: _href(page.text, f"export-{kind}") for kind in ("csv", "jsonl")}
    assert "event=user_created" in links["csv"] and f"username={name}" in links["csv"]

    exported = ui.get(f"{gateway.url}{links['csv']}", timeout=30)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["event"], row["username"]) for row in rows] == [("user_created", name)]

    lines = ui.get(f"{gateway.url}{links['jsonl']}", timeout=30)
    assert lines.headers["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line)["username"] for line in lines.text.splitlines()] == [name]

    # The export is itself audited, with the admin who asked.
    exports = admin.get("/audit", params={"event": "audit_exported", "actor": "admin"}).json()
    assert exports["total"] >= 2
    # A hand-edited link: an unknown event still shows (as a choice), a bad format or date is a 400 page.
    odd = ui.get(f"{gateway.url}/admin/audit", params={"event": "<b>made-up</b>"}, timeout=10)
    assert odd.status_code == 200 and "&lt;b&gt;made-up&lt;/b&gt;" in odd.text
    assert (
        ui.get(f"{gateway.url}/admin/audit/export", params={"format": "xml"}, timeout=10).status_code == 400
    )
    bad_day = ui.get(f"{gateway.url}/admin/audit/export", params={"since": "yesterday"}, timeout=10)
    assert bad_day.status_code == 400 and "Traceback" not in bad_day.text
    assert (
        requests.get(f"{gateway.url}/admin/audit/export", allow_redirects=False, timeout=10).status_code
        == 303
    )


def _href(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    tag = html[html.rindex("<a", 0, start) : html.index(">", start)]
    return tag.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


# -- bulk actions: admin API ---------------------------------------------------------------------


def test_bulk_disable_enable_and_group_through_the_api(gateway, admin):
    names = _new_users(admin, 3)
    tokens = {name: registry_token(gateway, name) for name in names}
    answer = admin.post(
        "/users/bulk", json={"action": "disable", "userNames": [*names, "admin", "nobody-here"]}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["done"] == 3 and body["refused"] == 2
    by_name = {item["userName"]: item for item in body["results"]}
    assert by_name["admin"]["status"] == 409 and "yourself" in by_name["admin"]["message"]
    assert by_name["nobody-here"]["status"] == 404
    for name in names:
        assert registry_answer(gateway, token=tokens[name]).status_code == 401
        assert registry_answer(gateway, username=name, password=PASSWORD).status_code in (401, 403)
        assert [e for e, _ in _audit_rows(gateway, name)].count("user_disabled") == 1

    assert admin.post("/users/bulk", json={"action": "enable", "userNames": names}).json()["done"] == 3
    assert registry_answer(gateway, username=names[0], password=PASSWORD).status_code == 200

    grouped = admin.post(
        "/users/bulk", json={"action": "add_to_group", "userNames": names[:2], "group": "drone-pilots"}
    ).json()
    assert grouped["done"] == 2
    assert set(names[:2]) <= set(admin.get("/groups/drone-pilots").json()["members"])

    deleted = admin.post("/users/bulk", json={"action": "delete", "userNames": names}).json()
    assert deleted["done"] == 3 and all(admin.get(f"/users/{n}").status_code == 404 for n in names)


@pytest.mark.parametrize(
    "payload, status",
    [
        ({"action": "explode", "userNames": ["alice"]}, 400),
        ({"action": "disable", "userNames": []}, 400),
        ({"action": "disable", "userNames": "alice"}, 400),
        ({"action": "disable", "userNames": ["x" * 128]}, 400),
        ({"action": "disable", "userNames": [f"u{n}" for n in range(201)]}, 400),
        ({"action": "disable", "userNames": ["ali\x00ce"]}, 400),
        ({"action": "add_to_group", "userNames": ["alice"]}, 400),
        ({"action": "add_to_group", "userNames": ["alice"], "group": "no-such-group"}, 404),
        ({"action": "disable", "userNames": ["alice"], "extra": 1}, 400),
    ],
)
def test_bulk_refuses_hostile_input(gateway, admin, payload, status):
    answer = admin.post("/users/bulk", json=payload)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json") and "error" in answer.json()
    assert admin.get("/users/alice").json()["enabled"] is True


def test_bulk_refuses_to_remove_the_last_admin_but_does_the_rest(gateway, admin):
    (name,) = _new_users(admin, 1)
    bob = AdminClient.login(gateway.url, "bob", PASSWORD)
    assert bob.post("/users/bulk", json={"action": "disable", "userNames": [name]}).status_code == 403
    result = admin.post("/users/bulk", json={"action": "delete", "userNames": ["admin", name]}).json()
    assert [(r["userName"], r["ok"]) for r in result["results"]] == [("admin", False), (name, True)]


# -- bulk actions: admin UI ----------------------------------------------------------------------


def test_bulk_disable_in_the_ui_confirms_then_applies_once(gateway, admin, ui):
    names = _new_users(admin, 2)
    token = _csrf(gateway, ui)
    listing = ui.get(f"{gateway.url}/admin/users", params={"sort": "-createdAt"}, timeout=10).text
    assert listing.index(names[1]) < listing.index("alice")  # newest first
    assert 'value="admin" id="select-' not in listing  # no checkbox for yourself
    assert "App passwords</th>" in listing and "Last activity</th>" in listing

    review = ui.post(
        f"{gateway.url}/admin/users/bulk",
        data={"csrf_token": token, "action": "disable", "user": [*names, "admin"]},
        timeout=30,
    )
    assert review.status_code == 200
    assert all(name in review.text for name in names) and "signed out everywhere" in review.text
    assert "you cannot disable yourself" in review.text
    assert admin.get(f"/users/{names[0]}").json()["enabled"] is True  # nothing done yet

    applied = ui.post(
        f"{gateway.url}/admin/users/bulk/apply",
        data={"csrf_token": token, "action": "disable", "user": names},
        allow_redirects=False,
        timeout=30,
    )
    assert applied.status_code == 303 and applied.headers["Location"].endswith("/admin/users/bulk/done")
    summary = ui.get(f"{gateway.url}/admin/users/bulk/done", allow_redirects=False, timeout=10)
    assert summary.status_code == 200 and "Done for 2 users" in summary.text
    # A reload shows the list and repeats nothing.
    again = ui.get(f"{gateway.url}/admin/users/bulk/done", allow_redirects=False, timeout=10)
    assert again.status_code == 303 and again.headers["Location"].endswith("/admin/users")
    for name in names:
        assert admin.get(f"/users/{name}").json()["enabled"] is False
        assert [e for e, _ in _audit_rows(gateway, name)].count("user_disabled") == 1


def test_bulk_form_refusals_in_the_ui(gateway, ui):
    token = _csrf(gateway, ui)
    nobody = ui.post(
        f"{gateway.url}/admin/users/bulk", data={"csrf_token": token, "action": "disable"}, timeout=30
    )
    assert (
        nobody.status_code == 400
        and "Select at least one user" in nobody.text
        and 'id="bulk-error"' in nobody.text
    )
    no_group = ui.post(
        f"{gateway.url}/admin/users/bulk",
        data={"csrf_token": token, "action": "add_to_group", "user": "alice"},
        timeout=30,
    )
    assert no_group.status_code == 400 and "Choose the group" in no_group.text
    forged = ui.post(
        f"{gateway.url}/admin/users/bulk/apply",
        data={"action": "disable", "user": "alice"},
        allow_redirects=False,
        timeout=30,
    )
    assert forged.status_code == 403
    odd = ui.post(
        f"{gateway.url}/admin/users/bulk",
        data={"csrf_token": token, "action": "<script>", "user": "alice\x00"},
        timeout=30,
    )
    assert odd.status_code == 400 and "<script>" not in odd.text
    # A summary cookie from elsewhere (forged or another session's) shows nothing.
    ui.cookies.set("gw_bulk_result", "forged", path="/admin")
    assert (
        ui.get(f"{gateway.url}/admin/users/bulk/done", allow_redirects=False, timeout=10).status_code == 303
    )
