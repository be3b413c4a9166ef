"""The admin UI's forms over plain HTTP (issue 18), against the gateway under gunicorn:

* every form answers a bad submit once, with every field's problem (a summary at the top that
  links to each field, each message next to its field), in words a non-developer understands;
* list fields (roles, rule names and patterns, groups to try) are one value per line: a space
  never splits a value, and "senior pilot" is refused as a role name with a clear reason;
* Disable and Remove member ask first, saying what they would do; a refusal ("you cannot
  disable yourself") is at the top of that page; the action itself is POST-redirect-GET;
* a rule is edited with the form it was created with; a disabled user's page shows a refusal,
  not an answer; the rules page never claims a config file that is not there.
"""

from __future__ import annotations

import html
import re

import pytest
import requests

from tests.support.adminapi import (
    ADMIN_CONFIG,
    CSRF,
    PASSWORD,
    AdminClient,
    admin_ui_browser,
    registry_answer,
    start_admin_gateway,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

JARGON = ("canonical", "Rule.name", "rule.name", "[2]", "Length must", "must be a role name", "Not a valid")
FIELD_ERROR = re.compile(
    r'<p class="field-error" id="f-([\w]+)-error"><span class="visually-hidden">Error: </span>(.*?)</p>'
)
SUMMARY_LINK = re.compile(r'<li><a href="#f-([\w]+)">')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-ui-forms"),
        ADMIN_CONFIG,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def browser(gateway) -> requests.Session:
    return admin_ui_browser(gateway.url)


def csrf(browser: requests.Session, url: str) -> str:
    return CSRF.search(browser.get(url, timeout=10).text).group(1)


def post(browser, gateway, path: str, form: dict, page: str | None = None) -> requests.Response:
    """Post ``form`` with the CSRF token of ``page`` (default: ``path``), not following a
    redirect."""
    token = csrf(browser, f"{gateway.url}{page or path}")
    return browser.post(
        f"{gateway.url}{path}", data={"csrf_token": token, **form}, allow_redirects=False, timeout=30
    )


def field_errors(text: str) -> dict[str, str]:
    return {field: html.unescape(message) for field, message in FIELD_ERROR.findall(text)}


def plain(messages) -> None:
    for message in messages:
        assert not any(word in message for word in JARGON), message


# -- every error at once, in plain words ---------------------------------------------------------


def test_the_rules_page_names_no_config_file_when_there_is_none(gateway, browser):
    """Issue 18: "changed by (config file)" although the gateway has no file mapping."""
    page = browser.get(f"{gateway.url}/admin/rules", timeout=10).text
    assert "(config file)" not in page
    assert "the empty policy of the first start" in page


def test_the_create_user_form_shows_every_error_in_one_submit(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/new-user",
        {
            "userName": "",
            "password": "",
            "email": "not-an-email",
            "roles": "pilot\nsenior pilot\nrole!",
            "maxStorageMB": "lots",
        },
    )
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    assert set(errors) == {"userName", "password", "email", "roles", "maxStorageMB"}
    assert errors["userName"] == "Enter a username."
    assert errors["password"] == "Enter a password."
    assert "email address" in errors["email"]
    assert "\u201csenior pilot\u201d is the second role" in errors["roles"]
    assert "\u201crole!\u201d is the third role" in errors["roles"]
    assert "one role per line" in errors["roles"]
    assert errors["maxStorageMB"].startswith("Enter a size such as 500 MB")  # not "too large"
    plain(errors.values())
    # The summary at the top links to each field, in the form's order.
    assert SUMMARY_LINK.findall(answer.text) == ["userName", "password", "email", "roles", "maxStorageMB"]
    # What was typed stays, one role per line (never re-split).
    assert ">pilot\nsenior pilot\nrole!</textarea>" in html.unescape(answer.text)


def test_a_username_in_another_spelling_is_explained_in_plain_words(gateway, browser):
    answer = post(browser, gateway, "/admin/new-user", {"userName": "Zed", "password": "x"})
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    assert "password" in errors  # the password's problem comes in the same answer
    assert (
        errors["userName"]
        == "Use 'zed' instead: this gateway writes usernames in lower case, and the Registry treats "
        "'Zed' and 'zed' as one account."
    )
    plain(errors.values())


def test_roles_one_per_line_are_kept_whole(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/new-user",
        {"userName": "lines", "password": PASSWORD, "roles": "pilot\r\nsurveyor, viewer\r\n\r\npilot"},
    )
    assert answer.status_code == 303
    page = browser.get(f"{gateway.url}/admin/users/lines", timeout=10).text
    assert ">pilot\nsurveyor\nviewer</textarea>" in html.unescape(page)  # shown one per line
    roles = registry_answer(gateway, username="lines", password=PASSWORD).json()["roles"]
    assert {"pilot", "surveyor", "viewer"} <= set(roles)


def test_the_profile_form_names_the_bad_role_and_where_it_is(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/users/carol/profile",
        {"email": "nope", "roles": "pilot\nsurveyor\nrole!", "enabled": "1"},
        page="/admin/users/carol",
    )
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    assert set(errors) == {"email", "roles"}
    assert errors["roles"].startswith("Role names can only use letters, digits")
    assert "\u201crole!\u201d is the third role" in errors["roles"]
    plain(errors.values())


def test_the_values_and_password_forms_show_every_error_at_once(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/users/carol/values",
        {"maxStorageMB": "lots", "metadata": "team north"},
        page="/admin/users/carol",
    )
    assert answer.status_code == 400
    assert set(field_errors(answer.text)) == {"maxStorageMB", "metadata"}
    answer = post(browser, gateway, "/admin/users/carol/password", {}, page="/admin/users/carol")
    assert answer.status_code == 400
    assert set(field_errors(answer.text)) == {"newPassword", "confirmPassword"}


def test_the_group_form_speaks_plainly(gateway, browser):
    answer = post(browser, gateway, "/admin/groups", {"name": "", "description": "x" * 300})
    assert answer.status_code == 400
    assert set(field_errors(answer.text)) == {"name", "description"}
    answer = post(browser, gateway, "/admin/groups", {"name": "survey team!"})
    message = field_errors(answer.text)["name"]
    assert message.startswith("A group name can only use letters, digits and _ . @ + - (no spaces")


def test_the_rule_form_shows_every_error_at_once(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/rules/add",
        {
            "name": "bad name!",
            "kind": "grant",
            "who": "group",
            "values": "",
            "roles": "senior pilot",
            "maxStorageMB": "lots",
            "action": "add",
        },
        page="/admin/rules",
    )
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    assert set(errors) == {"name", "values", "roles", "maxStorageMB"}
    assert "no spaces" in errors["name"] and "Name at least one group, one per line." == errors["values"]
    assert "\u201csenior pilot\u201d is the first role" in errors["roles"]
    plain(errors.values())


def test_a_group_name_with_spaces_stays_one_name_in_a_rule(gateway, browser):
    answer = post(
        browser,
        gateway,
        "/admin/rules/add",
        {
            "name": "domain-users",
            "kind": "grant",
            "who": "group",
            "values": "Domain Users\nsurvey team north",
            "roles": "viewer",
            "action": "add",
        },
        page="/admin/rules",
    )
    assert answer.status_code == 303
    rules = AdminClient.login(gateway.url).get("/mapping").json()["document"]["rules"]
    rule = next(rule for rule in rules if rule["name"] == "domain-users")
    assert rule["match"] == {"group": ["Domain Users", "survey team north"]}
    explained = browser.get(
        f"{gateway.url}/admin/explain",
        params={"mode": "identity", "provider": "local", "username": "tryme", "groups": "Domain Users"},
        timeout=10,
    ).text
    assert re.search(r'id="explain-roles">[^<]*viewer', explained)


def test_a_rule_is_edited_with_the_form_it_was_created_with(gateway, browser):
    page = browser.get(f"{gateway.url}/admin/rules/domain-users", timeout=10).text
    assert 'id="edit-rule-form"' in page
    assert ">Domain Users\nsurvey team north</textarea>" in html.unescape(page)
    bad = post(
        browser,
        gateway,
        "/admin/rules/domain-users/form",
        {
            "name": "domain-users",
            "kind": "grant",
            "who": "group",
            "values": "",
            "roles": "a b",
            "action": "save",
        },
        page="/admin/rules/domain-users",
    )
    assert bad.status_code == 400 and set(field_errors(bad.text)) == {"values", "roles"}
    saved = post(
        browser,
        gateway,
        "/admin/rules/domain-users/form",
        {
            "name": "domain-users",
            "kind": "grant",
            "who": "group",
            "values": "Domain Users",
            "roles": "viewer\nsurveyor",
            "maxStorageMB": "5 GB",
            "action": "save",
        },
        page="/admin/rules/domain-users",
    )
    assert saved.status_code == 303 and "done=replaced" in saved.headers["Location"]
    rules = AdminClient.login(gateway.url).get("/mapping").json()["document"]["rules"]
    rule = next(rule for rule in rules if rule["name"] == "domain-users")
    assert rule == {
        "name": "domain-users",
        "match": {"group": "Domain Users"},
        "roles": ["viewer", "surveyor"],
        "maxStorageMB": 5120,
    }


def test_the_rule_form_asks_for_a_second_factor(gateway, browser):
    page = browser.get(f"{gateway.url}/admin/rules", timeout=10).text
    assert 'id="f-require_mfa"' in page
    fields = {"name": "admins-mfa", "kind": "grant", "who": "group", "values": "drone-admins"}
    added = post(
        browser,
        gateway,
        "/admin/rules/add",
        {**fields, "require_mfa": "1", "action": "add"},
        page="/admin/rules",
    )
    assert added.status_code == 303, added.text
    rules = AdminClient.login(gateway.url).get("/mapping").json()["document"]["rules"]
    rule = next(rule for rule in rules if rule["name"] == "admins-mfa")
    assert rule == {"name": "admins-mfa", "match": {"group": "drone-admins"}, "require_mfa": True}
    edit = browser.get(f"{gateway.url}/admin/rules/admins-mfa", timeout=10).text
    assert 'id="edit-rule-form"' in edit
    assert re.search(r'<input type="checkbox" name="require_mfa" value="1" id="f-require_mfa" checked', edit)
    refused = post(
        browser,
        gateway,
        "/admin/rules/admins-mfa/form",
        {**fields, "kind": "require", "require_mfa": "1", "action": "save"},
        page="/admin/rules/admins-mfa",
    )
    assert refused.status_code == 400 and set(field_errors(refused.text)) == {"require_mfa"}
    plain(field_errors(refused.text).values())
    saved = post(
        browser,
        gateway,
        "/admin/rules/admins-mfa/form",
        {**fields, "roles": "admin", "action": "save"},
        page="/admin/rules/admins-mfa",
    )
    assert saved.status_code == 303
    rules = AdminClient.login(gateway.url).get("/mapping").json()["document"]["rules"]
    rule = next(rule for rule in rules if rule["name"] == "admins-mfa")
    assert rule == {"name": "admins-mfa", "match": {"group": "drone-admins"}, "roles": ["admin"]}


def test_a_rule_the_form_cannot_say_is_edited_as_yaml(gateway, browser):
    client = AdminClient.login(gateway.url)
    state = client.get("/mapping").json()
    rule = {"name": "with-values", "match": {"group": "ops", "username": "alice"}, "roles": ["ops"]}
    added = client.post("/mapping/rules", json={"rule": rule, "expectedVersion": state["version"]})
    assert added.status_code in (200, 201), added.text
    page = browser.get(f"{gateway.url}/admin/rules/with-values", timeout=10).text
    assert 'id="edit-rule-form"' not in page and 'id="yaml-only"' in page and 'id="rule-form"' in page


# -- confirmations --------------------------------------------------------------------------------


def test_disable_asks_first_and_says_what_it_ends(gateway, browser):
    page = browser.get(f"{gateway.url}/admin/users/alice", timeout=10).text
    assert 'href="/admin/users/alice/disable"' in page and 'name="enabled" value="0"' not in page
    confirm = browser.get(f"{gateway.url}/admin/users/alice/disable", timeout=10)
    assert confirm.status_code == 200
    text = html.unescape(confirm.text)
    assert "Disable alice?" in text and 'id="confirm-disable"' in text
    assert "active session(s)" in text and "app password(s)" in text and 'id="impact-registry"' in text
    done = post(
        browser, gateway, "/admin/users/alice/status", {"enabled": "0"}, page="/admin/users/alice/disable"
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/admin/users/alice?done=disabled#notice")
    # A disabled user's page shows the refusal the Registry gets, never a granted answer.
    page = browser.get(f"{gateway.url}/admin/users/alice", timeout=10).text
    assert "Sign-in refused (403): the user is disabled at the gateway." in page
    assert '<pre id="registry-answer"' not in page
    explained = browser.get(f"{gateway.url}/admin/explain", params={"user": "alice"}, timeout=10).text
    assert "disabled at the gateway" in explained and '<pre id="explain-answer"' not in explained
    enabled = post(browser, gateway, "/admin/users/alice/status", {"enabled": "1"}, page="/admin/users/alice")
    assert enabled.status_code == 303  # enabling takes no confirmation


def test_disabling_yourself_is_refused_at_the_top_before_any_click(gateway, browser):
    confirm = browser.get(f"{gateway.url}/admin/users/admin/disable", timeout=10)
    assert confirm.status_code == 409
    text = confirm.text
    assert text.index('id="disable-refusal"') < text.index('id="disable-impact"')
    assert "You cannot disable yourself." in text and 'id="confirm-disable"' not in text
    forced = post(browser, gateway, "/admin/users/admin/status", {"enabled": "0"}, page="/admin/users/admin")
    assert forced.status_code == 409
    assert forced.text.index('id="disable-refusal"') < forced.text.index('id="disable-impact"')
    assert "You cannot disable yourself." in forced.text


def test_remove_member_asks_first_and_shows_the_roles_lost(gateway, browser):
    client = AdminClient.login(gateway.url)
    state = client.get("/mapping").json()
    rule = {
        "name": "pilots-fly",
        "match": {"group": "drone-pilots"},
        "roles": ["flyer"],
        "maxStorageMB": 2048,
    }
    assert client.post("/mapping/rules", json={"rule": rule, "expectedVersion": state["version"]}).ok
    group = browser.get(f"{gateway.url}/admin/groups/drone-pilots", timeout=10).text
    assert 'href="/admin/groups/drone-pilots/members/alice/remove"' in group
    confirm = browser.get(f"{gateway.url}/admin/groups/drone-pilots/members/alice/remove", timeout=10)
    assert confirm.status_code == 200
    text = html.unescape(confirm.text)
    assert "Remove alice from drone-pilots?" in text
    assert re.search(r"loses the role <strong>[^<]*flyer", text)
    assert 'id="impact-quota-after"' in text and 'id="confirm-remove"' in text
    done = post(
        browser,
        gateway,
        "/admin/groups/drone-pilots/members/alice/remove",
        {},
        page="/admin/groups/drone-pilots/members/alice/remove",
    )
    assert done.status_code == 303 and done.headers["Location"].endswith(
        "/admin/groups/drone-pilots?done=removed"
    )
    assert (
        browser.get(f"{gateway.url}/admin/groups/drone-pilots/members/alice/remove", timeout=10).status_code
        == 404
    )


def test_the_role_form_shows_every_error_at_once(gateway, browser):
    answer = post(browser, gateway, "/admin/roles", {"roleName": "senior pilot", "description": "x" * 300})
    assert answer.status_code == 400
    errors = field_errors(answer.text)
    assert set(errors) == {"roleName", "description"}
    assert errors["roleName"].startswith("Role names can only use letters, digits and _ . @ + - (no spaces")
    plain(errors.values())


def test_the_policy_yaml_editor_names_every_problem_in_plain_words(gateway, browser):
    document = (
        "rules:\n"
        "  - name: bad name\n    match: {group: pilots}\n    roles: [pilot]\n"
        "  - name: fine\n    match: {group: pilots}\n    roles: [pilot, senior pilot]\n"
    )
    answer = post(
        browser,
        gateway,
        "/admin/rules/document",
        {"document": document, "action": "preview"},
        page="/admin/rules",
    )
    assert answer.status_code == 400
    message = field_errors(answer.text)["document"]
    assert "The first rule's name can only use letters, digits and _ . - (no spaces" in message
    assert "The second rule's second role is not a role name" in message
    plain([message])


def test_deleting_a_role_redirects_so_a_reload_deletes_nothing_twice(gateway, browser):
    """POST-redirect-GET: the list after a deletion is a GET page naming the role and what
    still grants it; reloading it repeats nothing (one ``role_deleted`` row)."""
    admin = AdminClient.login(gateway.url)
    assert post(browser, gateway, "/admin/roles", {"roleName": "night-auditor"}).status_code == 303
    assert admin.put("/users/carol", json={"roles": ["night-auditor"]}).status_code == 200
    answer = post(
        browser, gateway, "/admin/roles/night-auditor/delete", {}, page="/admin/roles/night-auditor/delete"
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith("/admin/roles?done=deleted&role=night-auditor")
    for _ in range(2):  # the page, then a reload of it
        page = browser.get(f"{gateway.url}{answer.headers['Location']}", timeout=10)
        assert page.status_code == 200
        assert "The role night-auditor was deleted from the catalogue." in page.text
        assert "Granted directly (per-user roles) to: carol" in html.unescape(page.text)
    deleted = admin.get("/audit", params={"event": "role_deleted"}).json()["items"]
    assert [item["detail"]["role"] for item in deleted].count("night-auditor") == 1
