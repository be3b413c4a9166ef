"""The admin sessions and audit APIs over HTTP against the gateway under gunicorn: listing and
ending sessions (which the Registry's contract endpoint sees at once), searching and exporting
the audit trail, and that no password ever comes out of it."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from gateway.admin.auditlog import AuditFilter
from tests.support.adminapi import (
    ADMIN_PASSWORD,
    PASSWORD,
    AdminClient,
    admin_api_works,
    registry_answer,
    start_admin_gateway,
)
from tests.support.harness import gateway_env, seed

pytestmark = pytest.mark.integration
DISTINCTIVE = "Quokka-Marmalade-8841-Zephyr"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("admin-sessions-audit"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    """An admin on a personal API key: no session of its own, so revoking everyone's sessions
    cannot sign it out."""
    services = gateway.services()
    try:
        _, key = services.api_keys.create("admin", "tests")
    finally:
        services.close()
    return AdminClient(gateway.url, key)


def _token(gateway, username: str, password: str = PASSWORD) -> str:
    response = requests.post(
        f"{gateway.url}/api/token", json={"username": username, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _sid(token: str) -> str:
    """The session a token is bound to (its ``sid`` claim; the signature is not checked)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def _works(gateway, token: str) -> bool:
    return admin_api_works(gateway, token)


def _sessions(admin: AdminClient, **query) -> dict:
    response = admin.get("/sessions", params=query)
    assert response.status_code == 200, response.text
    return response.json()


# -- who may call ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/sessions"),
        ("DELETE", "/sessions/abc"),
        ("DELETE", "/sessions?all=true"),
        ("GET", "/audit"),
        ("GET", "/audit/export"),
    ],
)
def test_admin_routes_need_a_token_and_the_admin_role(gateway, method, path):
    assert requests.request(method, f"{gateway.url}/admin/api{path}", timeout=30).status_code == 401
    alice = AdminClient(gateway.url, _token(gateway, "alice"))
    assert alice.request(method, path).status_code == 403


def test_every_route_is_in_the_openapi_document(gateway):
    paths = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()["paths"]
    assert {"get", "delete"} <= set(paths["/admin/api/sessions"])
    assert "delete" in paths["/admin/api/sessions/{session_id}"]
    assert "get" in paths["/admin/api/audit"] and "get" in paths["/admin/api/audit/export"]


# -- sessions -------------------------------------------------------------------------------


def test_sessions_are_listed_newest_first_and_paged(gateway, admin):
    first, second = _token(gateway, "carol"), _token(gateway, "carol")
    page = _sessions(admin, username="carol")
    assert page["total"] == 2 and page["offset"] == 0 and page["limit"] == 100
    items = page["items"]
    assert [item["username"] for item in items] == ["carol", "carol"]
    assert items[0]["createdAt"] >= items[1]["createdAt"]
    assert set(items[0]) == {
        "id",
        "username",
        "provider",
        "createdAt",
        "expiresAt",
        "revokedAt",
        "active",
        "current",
    }
    assert all(item["active"] and item["revokedAt"] is None and not item["current"] for item in items)
    assert items[0]["provider"] == "local"
    one = _sessions(admin, username="carol", limit=1, offset=1)
    assert one["total"] == 2 and [i["id"] for i in one["items"]] == [items[1]["id"]]
    assert _sessions(admin)["total"] >= 2
    assert _works(gateway, first) and _works(gateway, second)
    admin.delete("/sessions", params={"username": "carol"})


def test_the_callers_own_session_is_marked_current(gateway):
    caller = AdminClient(gateway.url, _token(gateway, "admin", ADMIN_PASSWORD))
    items = _sessions(caller, username="admin")["items"]
    assert [item["current"] for item in items].count(True) == 1


def test_ending_one_session_ends_its_tokens_at_the_contract_endpoint(gateway, admin):
    doomed, spared = _token(gateway, "alice"), _token(gateway, "alice")
    doomed_id = _sid(doomed)
    assert doomed_id in [s["id"] for s in _sessions(admin, username="alice")["items"]]
    assert admin.delete(f"/sessions/{doomed_id}").status_code == 204
    assert not _works(gateway, doomed) and _works(gateway, spared)
    assert admin.delete(f"/sessions/{doomed_id}").status_code == 404
    assert admin.delete("/sessions/no-such-session").status_code == 404

    ended = _sessions(admin, username="alice", include_ended="true")["items"]
    doomed_row = next(s for s in ended if s["id"] == doomed_id)
    assert doomed_row["active"] is False and doomed_row["revokedAt"] is not None
    assert doomed_id not in [s["id"] for s in _sessions(admin, username="alice")["items"]]


def test_ending_all_of_a_users_sessions(gateway, admin):
    tokens = [_token(gateway, "bob") for _ in range(3)]
    response = admin.delete("/sessions", params={"username": "bob"})
    assert response.status_code == 200 and response.json() == {"revoked": 3}
    assert not any(_works(gateway, token) for token in tokens)
    assert _sessions(admin, username="bob")["total"] == 0
    # The user can sign in again.
    assert _works(gateway, _token(gateway, "bob"))


def test_ending_everyones_sessions_keeps_the_callers_unless_asked(gateway):
    others = [_token(gateway, "alice"), _token(gateway, "carol")]
    caller = AdminClient(gateway.url, _token(gateway, "admin", ADMIN_PASSWORD))
    response = caller.delete("/sessions", params={"all": "true"})
    assert response.status_code == 200 and response.json()["revoked"] >= 2
    assert not any(_works(gateway, token) for token in others)
    assert caller.get("/sessions").status_code == 200
    assert [s["username"] for s in _sessions(caller)["items"]] == ["admin"]

    # Asked to: the caller's own session ends too.
    response = caller.delete("/sessions", params={"username": "admin", "include_self": "true"})
    assert response.json() == {"revoked": 1}
    assert caller.get("/sessions").status_code == 401


def test_session_revocations_are_audited(gateway, admin):
    _token(gateway, "carol")
    admin.delete("/sessions", params={"username": "carol"})
    items = admin.get("/audit", params={"event": "sessions_revoked", "username": "carol"}).json()
    latest = items["items"][0]
    assert latest["actor"] == "admin" and latest["detail"]["scope"] == "user"
    assert latest["detail"]["count"] == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "username"),
        ({"username": "alice", "all": "true"}, "username"),
        ({"all": "maybe"}, "all"),
        ({"all": "true", "include_self": "2"}, "include_self"),
    ],
)
def test_bulk_revocation_needs_exactly_one_scope(admin, query, field):
    response = admin.delete("/sessions", params=query)
    assert response.status_code == 400 and response.json()["field"] == field


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"include_ended": "yes"}, "include_ended"),
        ({"username": "x" * 201}, "username"),
    ],
)
def test_session_list_validation_names_the_argument(admin, query, field):
    response = admin.get("/sessions", params=query)
    assert response.status_code == 400 and response.json()["field"] == field


# -- audit ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failed_logins(gateway):
    """Failed logins with a distinctive password, on every password path, and one success;
    the time they started."""
    started = datetime.now(UTC)
    for _ in range(2):
        assert registry_answer(gateway, username="alice", password=DISTINCTIVE).status_code == 401
    token = requests.post(
        f"{gateway.url}/api/token", json={"username": "alice", "password": DISTINCTIVE}, timeout=30
    )
    assert token.status_code == 401
    assert registry_answer(gateway, username="alice", password=PASSWORD).status_code == 200
    # A username a spreadsheet would run as a formula.
    registry_answer(gateway, username="=hyperlink(1)", password=DISTINCTIVE)
    return started


def _audit(admin: AdminClient, **query) -> dict:
    response = admin.get("/audit", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def test_audit_search_filters_newest_first(admin, failed_logins):
    denied = _audit(admin, event="login", outcome="denied", username="alice", since=failed_logins.isoformat())
    assert denied["total"] == 3 and len(denied["items"]) == 3
    assert [e["id"] for e in denied["items"]] == sorted((e["id"] for e in denied["items"]), reverse=True)
    assert {e["detail"]["path"] for e in denied["items"]} == {"password", "api_token"}
    assert all(e["detail"]["reason"] for e in denied["items"])
    success = _audit(admin, event="login", outcome="success", username="alice", provider="local")
    assert success["total"] >= 1 and success["items"][0]["provider"] == "local"
    assert _audit(admin, event="login", provider="no-such-provider")["total"] == 0
    assert set(denied["items"][0]) == {
        "id",
        "at",
        "event",
        "outcome",
        "username",
        "provider",
        "actor",
        "detail",
    }


def test_audit_paging(admin, failed_logins):
    everything = _audit(admin, limit=1000)
    assert everything["total"] == len(everything["items"]) >= 4
    second = _audit(admin, limit=1, offset=1)
    assert second["total"] == everything["total"] and second["limit"] == 1
    assert second["items"] == everything["items"][1:2]


def test_audit_time_window(admin, failed_logins):
    now = datetime.now(UTC)
    assert _audit(admin, since=(now + timedelta(hours=1)).isoformat())["total"] == 0
    assert _audit(admin, until=(now - timedelta(days=1)).isoformat())["total"] == 0
    recent = _audit(
        admin,
        event="login",
        since=(now - timedelta(hours=1)).isoformat(),
        until=(now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert recent["total"] >= 4
    naive = _audit(admin, event="login", since=(now - timedelta(hours=1)).replace(tzinfo=None).isoformat())
    assert naive["total"] == recent["total"]


def test_audit_filters_by_the_acting_admin(gateway, admin):
    bob = AdminClient(gateway.url, _token(gateway, "bob"))
    admin.delete("/sessions", params={"username": "bob"})  # bob's token ends, by admin
    assert bob.get("/me").status_code == 401
    by_admin = _audit(admin, actor="admin", event="sessions_revoked")
    assert by_admin["total"] >= 1 and all(e["actor"] == "admin" for e in by_admin["items"])
    assert _audit(admin, actor="nobody-at-all")["total"] == 0


@pytest.mark.parametrize(
    "query, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "9999-12-31T23:59:59-23:59"}, "since"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"event": "e" * 201}, "event"),
        ({"username": "a\x00b"}, "username"),
    ],
)
def test_audit_validation_names_the_argument(admin, query, field):
    response = admin.get("/audit", params=query)
    assert response.status_code == 400 and response.json()["field"] == field, response.text


def test_audit_export_as_csv(admin, failed_logins):
    response = admin.get("/audit/export", params={"format": "csv", "username": "alice"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-') and disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["id", "at", "event", "outcome", "username", "provider", "actor", "detail"]
    assert len(rows) == int(response.headers["X-Total-Count"]) >= 4
    assert response.headers["X-Export-Truncated"] == "false"
    assert {row["username"] for row in rows} == {"alice"}
    assert all(isinstance(json.loads(row["detail"]), dict) for row in rows)
    assert [int(r["id"]) for r in rows] == sorted((int(r["id"]) for r in rows), reverse=True)


def test_audit_export_as_json_lines(admin, failed_logins):
    response = admin.get("/audit/export", params={"format": "jsonl", "event": "login", "outcome": "denied"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    assert response.headers["Content-Disposition"].endswith('.jsonl"')
    events = [json.loads(line) for line in response.text.splitlines()]
    assert len(events) == int(response.headers["X-Total-Count"]) >= 4
    assert {(e["event"], e["outcome"]) for e in events} == {("login", "denied")}


def test_an_export_is_audited_and_the_format_is_checked(admin):
    assert admin.get("/audit/export", params={"format": "xml"}).json()["field"] == "format"
    admin.get("/audit/export", params={"format": "jsonl"})
    latest = _audit(admin, event="audit_exported")["items"][0]
    assert latest["actor"] == "admin" and latest["detail"]["format"] == "jsonl"


def test_a_spreadsheet_formula_in_a_username_is_defused_in_csv(admin, failed_logins):
    response = admin.get("/audit/export", params={"format": "csv", "username": "=hyperlink(1)"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and all(row["username"] == "'=hyperlink(1)" for row in rows)
    # JSON is data, not a formula: it stays as typed.
    page = _audit(admin, username="=hyperlink(1)")
    assert page["items"][0]["username"] == "=hyperlink(1)"


def test_no_password_ever_comes_out_of_the_audit_trail(admin, failed_logins):
    texts = [admin.get("/audit/export", params={"format": kind}).text for kind in ("csv", "jsonl")]
    texts.append(admin.get("/audit", params={"limit": 1000}).text)
    for text in texts:
        assert "alice" in text
        assert DISTINCTIVE not in text and PASSWORD not in text and ADMIN_PASSWORD not in text


def test_the_actor_filter_works_on_postgresql(postgres_server, tmp_path):
    """The actor lives in the detail JSON; its filter is SQL on every database."""
    env = gateway_env(
        tmp_path / "instance",
        "usernames: {lowercase: true}\n",
        database_url=postgres_server.create_database("admin_audit_actor"),
    )
    seed(env, [])
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.services import build_services

    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        services.audit.record("group_created", "ok", actor="root", group="a")
        services.audit.record("group_created", "ok", actor="someone", group="b")
        services.audit.record("login", "denied", username="root", reason="wrong")
        query = services.audit_query()
        entries, total = query.search(AuditFilter(actor="root"))
        assert total == 1 and entries[0].detail == {"actor": "root", "group": "a"}
        snapshot = query.snapshot(AuditFilter(event="group_created"))
        services.audit.record("group_created", "ok", actor="late", group="c")
        assert [e.actor for e in query.export(snapshot)] == ["someone", "root"]
    finally:
        services.close()
