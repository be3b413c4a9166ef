"""The admin UI (``/admin``) in headless Chromium against the gateway under gunicorn, plus the
guard's answers over plain HTTP.

The end-to-end story is a list of steps (:data:`STORY`) sharing one :class:`Story`: each step
is a small function, so a new page adds a step where it belongs. The story: the admin signs
in, creates a user and a group, writes a rule mapping that group to a role and a quota, uses
Explain to see the Registry's answer, disables the user and sees their token rejected,
enables them again and deletes them. Every page is photographed at laptop (1366×768) and
phone (390×844) widths into test-artifacts/screenshots/ (``admin-*``) and must not scroll
sideways on the phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from providers.base import Identity
from tests.support.adminapi import (
    ADMIN_CONFIG,
    ADMIN_PASSWORD,
    ADMIN_SEED_USERS,
    PASSWORD,
    AdminClient,
    registry_token,
    start_admin_gateway,
)
from tests.support.browser import save_screenshot
from tests.support.harness import start_gateway
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
NEW_PASSWORD = "green-harbour-19-lantern"
OTHER_PASSWORD = "amber-meadow-58-compass"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECTIONS = (
    "users",
    "groups",
    "roles",
    "rules",
    "explain",
    "sessions",
    "activity",
    "audit",
    "providers",
    "sync",
    "registrations",
    "email",
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """An admin gateway (admin, alice, bob, carol; groups drone-pilots and drone-admins), a
    dozen more local users for paging, and a directory user known from a past login."""
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-ui"),
        ADMIN_CONFIG,
        port=port,
        users=ADMIN_SEED_USERS + [{"username": f"pilot{n:02d}"} for n in range(1, 13)],
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    services = gateway.services()
    try:
        services.accounts.claim(
            Identity(
                provider="directory",
                subject="uid-7",
                username="dirk",
                email="dirk@example.org",
                groups=("drone-pilots",),
            )
        )
    finally:
        services.close()
    yield gateway
    gateway.stop()


# -- helpers ------------------------------------------------------------------------------------


def shoot(page, name: str) -> None:
    """Screenshots of the current page at laptop and phone widths; the phone one must not
    scroll sideways; no Python object leaks into what is shown."""
    assert "<built-in" not in page.content() and "object at 0x" not in page.content(), name
    page.set_viewport_size(LAPTOP)
    save_screenshot(page, f"admin-{name}-laptop")
    page.set_viewport_size(PHONE)
    save_screenshot(page, f"admin-{name}-phone")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
    page.set_viewport_size(LAPTOP)


def sign_in(page, base_url: str, username: str, password: str, path: str = "/login") -> None:
    page.goto(f"{base_url}{path}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_load_state()


def focused(page) -> str:
    return page.evaluate("() => document.activeElement ? document.activeElement.id : ''")


def described_error(page, field_id: str) -> str:
    """The error message an input points at with aria-describedby."""
    ids = page.get_attribute(f"#{field_id}", "aria-describedby") or ""
    assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    error_id = next(i for i in ids.split() if i.endswith("-error"))
    return page.text_content(f"#{error_id}").replace("Error:", "").strip()


def contract(gateway, **form) -> requests.Response:
    return requests.post(f"{gateway.url}/api/authenticate", data=form, timeout=30)


def http_browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def http_sign_in(gateway, username: str, password: str) -> requests.Session:
    session = http_browser()
    form = session.get(f"{gateway.url}/login", timeout=10)
    session.post(
        f"{gateway.url}/login",
        timeout=30,
        allow_redirects=False,
        data={"csrf_token": CSRF.search(form.text).group(1), "username": username, "password": password},
    )
    return session


# -- the end-to-end story ---------------------------------------------------------------------


@dataclass
class Story:
    """What the steps share: the browser page, the gateway, the user being managed, and what
    earlier steps learned (e.g. the user's token)."""

    page: object
    gateway: object
    username: str = "zoe"
    password: str = NEW_PASSWORD
    group: str = "survey-team"
    notes: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def user_url(self) -> str:
        return f"{self.url}/admin/users/{self.username}"


def admin_signs_in(story: Story) -> None:
    """The admin signs in with a password at /login and lands on the admin overview."""
    page = story.page
    page.goto(f"{story.url}/login")
    shoot(page, "01-login")
    sign_in(page, story.url, "admin", ADMIN_PASSWORD)
    assert page.url == f"{story.url}/admin"
    assert page.text_content("#admin-user") == "admin"
    shoot(page, "02-overview")


def opens_users(story: Story) -> None:
    """Users in the navigation opens the users table."""
    page = story.page
    page.click("#nav-users")
    page.wait_for_url(f"{story.url}/admin/users")
    assert page.get_attribute("#nav-users", "aria-current") == "page"
    assert "of 17" in page.text_content("#users-caption")
    # select, ..., Quota, Storage used, Status, Sessions, App passwords, API keys, Last activity, ...
    assert page.locator("#users-table thead th[scope=col]").count() == 14
    shoot(page, "03-users")


def creates_a_user(story: Story) -> None:
    """The create form: a refused attempt shows each error next to its field and keeps what
    was typed (not the password); then the user is created."""
    page = story.page
    page.click("#new-user")
    page.wait_for_url(f"{story.url}/admin/new-user")
    page.fill("#f-userName", story.username)
    page.fill("#f-password", "short")
    page.fill("#f-email", "not-an-email")
    page.fill("#f-displayName", "Zoe Example")
    page.check("#create-user-form input[value='drone-pilots']")
    page.click("#create-user")
    page.wait_for_load_state()
    assert "email address" in described_error(page, "f-email")
    assert "12 characters" in described_error(page, "f-password")
    assert page.input_value("#f-userName") == story.username
    assert page.input_value("#f-displayName") == "Zoe Example"
    assert page.input_value("#f-password") == ""
    assert page.is_checked("#create-user-form input[value='drone-pilots']")
    shoot(page, "04-new-user-errors")
    page.fill("#f-email", "zoe@example.org")
    page.click("#create-user")
    page.wait_for_load_state()
    assert described_error(page, "f-password") == "Enter a password."
    page.fill("#f-password", story.password)
    page.click("#create-user")
    page.wait_for_url(f"{story.user_url}?done=created")
    assert page.text_content("#notice").strip() == "The user was created."
    assert page.text_content("#fact-groups") == "drone-pilots"
    shoot(page, "05-user-created")


def edits_the_user(story: Story) -> None:
    """The profile form: email, display name, a directly granted role, groups."""
    page = story.page
    page.fill("#f-email", "zoe.new@example.org")
    page.fill("#f-displayName", "Zoe Q. Example")
    page.fill("#f-roles", "surveyor, viewer")
    page.check("#profile-form input[value='drone-admins']")
    page.click("#save-profile")
    page.wait_for_url(f"{story.user_url}?done=updated#notice")
    assert page.text_content("#fact-groups") == "drone-admins, drone-pilots"
    answer = json.loads(page.text_content("#registry-answer"))
    assert answer["username"] == story.username
    assert {"surveyor", "viewer"} <= set(answer["roles"])


def creates_a_group(story: Story) -> None:
    """Groups: a bad name is refused next to its field; the group is created and the user
    added to it."""
    page = story.page
    page.click("#nav-groups")
    page.wait_for_url(f"{story.url}/admin/groups")
    page.fill("#f-name", "survey team!")
    page.click("#create-group")
    page.wait_for_load_state()
    assert "letters, digits" in described_error(page, "f-name")
    assert page.input_value("#f-name") == "survey team!"
    page.fill("#f-name", story.group)
    page.fill("#f-description", "Surveyors of the northern sites")
    page.click("#create-group")
    page.wait_for_url(f"{story.url}/admin/groups/{story.group}?done=created#group-name")
    page.fill("#f-username", "nobody-at-all")
    page.click("#add-member")
    page.wait_for_load_state()
    assert "No user" in described_error(page, "f-username")
    page.fill("#f-username", story.username)
    page.click("#add-member")
    page.wait_for_url(f"{story.url}/admin/groups/{story.group}?done=added")
    assert story.username in page.text_content("#members-table")
    shoot(page, "06-group")


def writes_a_rule(story: Story) -> None:
    """Rules: the simple form maps the group to a role and a quota; the preview shows who
    would get what before anything is saved."""
    page = story.page
    page.click("#nav-rules")
    page.wait_for_url(f"{story.url}/admin/rules")
    page.fill("#f-name", "survey-leads")
    page.select_option("#f-who", "group")
    page.fill("#f-values", story.group)
    page.fill("#f-roles", "survey-lead")
    page.fill("#f-maxStorageMB", "5120")
    page.click("#preview-rule")
    page.wait_for_load_state()
    assert "1 user(s) would get something different" in page.text_content("#preview-summary")
    change = page.text_content("#preview-table tbody tr")
    assert story.username in change and "survey-lead" in change and "5,120 MB" in change
    assert page.input_value("#f-values") == story.group  # the form is kept for saving
    assert page.locator("#rules-table tbody th").all_text_contents() == []  # nothing saved yet
    shoot(page, "07-rule-preview")
    page.click("#add-rule")
    page.wait_for_url(f"{story.url}/admin/rules?done=added#rule-survey-leads")
    assert page.locator("#rules-table tbody th").all_text_contents() == ["survey-leads"]
    row = page.text_content("#rule-survey-leads")
    assert f"group: {story.group}" in row and "roles survey-lead; 5,120 MB" in row
    shoot(page, "08-rules")


def explains_the_answer(story: Story) -> None:
    """Explain: rule by rule, and the exact answer the Registry receives."""
    page = story.page
    page.click("#nav-explain")
    page.wait_for_url(f"{story.url}/admin/explain")
    page.fill("#f-user", story.username)
    page.click("#explain-user")
    page.wait_for_url(f"{story.url}/admin/explain?user={story.username}")
    rule = page.locator("#explain-rules tbody tr", has_text="survey-leads")
    assert "yes" in rule.text_content() and story.group in rule.text_content()
    answer = json.loads(page.text_content("#explain-answer"))
    assert answer["username"] == story.username
    assert {"surveyor", "viewer", "survey-lead"} <= set(answer["roles"])
    assert answer["maxStorageMB"] == 5120
    shoot(page, "09-explain")


def sets_a_quota(story: Story) -> None:
    """Quota and values: a bad quota is refused next to its field; a good one is set for the
    user and beats the rules in the Registry's answer."""
    page = story.page
    page.goto(story.user_url)
    page.fill("#f-maxStorageMB", "lots")
    page.click("#save-values")
    page.wait_for_load_state()
    assert "whole number" in described_error(page, "f-maxStorageMB")
    assert page.input_value("#f-maxStorageMB") == "lots"
    page.fill("#f-maxStorageMB", "2048")
    page.fill("#f-metadata", "team = north\nbeta = true")
    page.click("#save-values")
    page.wait_for_url(f"{story.user_url}?done=values#notice")
    answer = json.loads(page.text_content("#registry-answer"))
    assert answer["maxStorageMB"] == 2048
    assert page.text_content("#fact-quota") == "2,048 MB"
    shoot(page, "10-user-detail")


def user_gets_a_token(story: Story) -> None:
    """The new user has a Registry token (a session-bound one, as the xAuthToken hand-over
    gives) and the Registry's contract endpoint accepts it."""
    story.notes["token"] = registry_token(story.gateway, story.username)
    answer = contract(story.gateway, token=story.notes["token"])
    assert answer.status_code == 200 and answer.json()["maxStorageMB"] == 2048


def disables_the_user(story: Story) -> None:
    page = story.page
    page.goto(story.user_url)
    assert page.text_content("#fact-sessions") == "1"
    page.click("#disable-user")
    page.wait_for_url(f"{story.user_url}/disable")
    assert page.text_content("#impact-sessions") == "1"
    page.click("#confirm-disable")
    page.wait_for_url(f"{story.user_url}?done=disabled#notice")
    assert page.text_content("#user-status") == "Disabled"
    assert page.text_content("#fact-sessions") == "0"


def token_is_rejected(story: Story) -> None:
    """Disabling revoked the session the token is bound to: the Registry is refused."""
    assert contract(story.gateway, token=story.notes["token"]).status_code == 401
    assert contract(story.gateway, username=story.username, password=story.password).status_code == 403


def re_enables_the_user(story: Story) -> None:
    page = story.page
    page.click("#enable-user")
    page.wait_for_url(f"{story.user_url}?done=enabled#notice")
    assert page.text_content("#user-status") == "Enabled"
    assert contract(story.gateway, username=story.username, password=story.password).status_code == 200


def deletes_with_confirmation(story: Story) -> None:
    """Delete asks first; "No" keeps the user, "Yes" removes them."""
    page = story.page
    page.click("#delete-user")
    page.wait_for_url(f"{story.user_url}/delete")
    shoot(page, "11-delete-confirm")
    page.click("#cancel-delete")
    page.wait_for_url(story.user_url)
    page.click("#delete-user")
    page.click("#confirm-delete")
    page.wait_for_url(f"{story.url}/admin/users?done=deleted")
    assert "deleted" in page.text_content("#notice")
    page.goto(story.user_url)
    assert "no user" in page.text_content("#error-message")
    assert contract(story.gateway, username=story.username, password=story.password).status_code == 401


STORY: list[Callable[[Story], None]] = [
    admin_signs_in,
    opens_users,
    creates_a_user,
    edits_the_user,
    creates_a_group,
    writes_a_rule,
    explains_the_answer,
    sets_a_quota,
    user_gets_a_token,
    disables_the_user,
    token_is_rejected,
    re_enables_the_user,
    deletes_with_confirmation,
]


def test_an_admin_manages_a_user_from_creation_to_deletion(gateway, page):
    story = Story(page, gateway)
    for step in STORY:
        step(story)


# -- more of the users pages --------------------------------------------------------------------


def test_the_users_table_filters_sorts_and_pages(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/users?per_page=10")
    assert page.locator("#users-table tbody tr").count() == 10
    assert "Users 1–10 of 17" in page.text_content("#users-caption")
    page.click("#next-page")
    page.wait_for_load_state()
    assert page.locator("#users-table tbody tr").count() == 7
    assert "page=2" in page.get_attribute(".pagination [aria-current=page]", "href")
    page.fill("#q", "pilot0")
    page.select_option("#sort", "-userName")
    page.click("#apply-filter")
    page.wait_for_load_state()
    names = page.locator("#users-table tbody .user-link").all_text_contents()
    assert names == [f"pilot{n:02d}" for n in range(9, 0, -1)]
    assert (
        page.get_attribute("#users-table thead th:nth-child(2)", "aria-sort") == "descending"
    )  # after the checkboxes
    page.goto(f"{gateway.url}/admin/users?status=disabled")
    assert "No users" in page.text_content("#users-caption")
    page.goto(f"{gateway.url}/admin/users?provider=directory")
    assert page.locator("#users-table tbody .user-link").all_text_contents() == ["dirk"]
    page.goto(f"{gateway.url}/admin/users?sort=bogus&page=x&per_page=7")  # defaults, no error
    assert "Users 1–17 of 17" in page.text_content("#users-caption")
    assert page.locator("#users-table tbody tr").count() == 17


def test_a_directory_user_is_read_only_except_enabling(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/users/dirk")
    assert page.locator("#profile-form").count() == 0
    assert page.locator("#password-form").count() == 0
    assert "managed by provider" in page.text_content("main")
    shoot(page, "12-directory-user")
    page.click("#disable-user")
    page.click("#confirm-disable")
    page.wait_for_url(f"{gateway.url}/admin/users/dirk?done=disabled#notice")
    page.click("#enable-user")
    page.wait_for_url(f"{gateway.url}/admin/users/dirk?done=enabled#notice")


def test_the_admin_cannot_disable_themselves(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/users/admin")
    page.click("#disable-user")
    page.wait_for_url(f"{gateway.url}/admin/users/admin/disable")
    assert "cannot disable yourself" in page.text_content("#disable-refusal")
    assert page.locator("#confirm-disable").count() == 0
    page.click("#cancel-disable")
    assert page.text_content("#user-status") == "Enabled"


def test_a_taken_username_is_refused_next_to_the_field(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/new-user")
    page.fill("#f-userName", "alice")
    page.fill("#f-password", OTHER_PASSWORD)
    page.click("#create-user")
    page.wait_for_load_state()
    assert "already" in described_error(page, "f-userName")
    assert page.locator(".error-summary a[href='#f-userName']").count() == 1


def test_every_section_is_reachable_from_the_navigation(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    for section in SECTIONS:
        page.click(f"#nav-{section}")
        page.wait_for_url(f"{gateway.url}/admin/{section}")
        assert page.get_attribute(f"#nav-{section}", "aria-current") == "page"
        assert page.locator("main h1").count() == 1
        assert page.locator("table caption").count() >= (0 if section == "explain" else 1)
        shoot(page, f"30-{section}")


# -- the other sections -------------------------------------------------------------------------


def test_groups_members_and_deleting_a_group(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/groups")
    page.fill("#f-name", "night-shift")
    page.click("#create-group")
    page.wait_for_url(f"{gateway.url}/admin/groups/night-shift?done=created#group-name")
    page.fill("#f-username", "carol")
    page.click("#add-member")
    page.wait_for_url(f"{gateway.url}/admin/groups/night-shift?done=added")
    page.click("a[aria-label='Remove carol from night-shift']")
    page.wait_for_url(f"{gateway.url}/admin/groups/night-shift/members/carol/remove")
    assert "Nothing the Registry receives for carol changes" in page.text_content("#impact-summary")
    page.click("#confirm-remove")
    page.wait_for_url(f"{gateway.url}/admin/groups/night-shift?done=removed")
    assert "Nobody is in this group" in page.text_content("#members-table")
    page.fill("#f-username", "dirk")  # a directory user cannot be in a local group
    page.click("#add-member")
    page.wait_for_load_state()
    assert "only local users" in described_error(page, "f-username")
    page.click("#delete-group")
    page.wait_for_url(f"{gateway.url}/admin/groups/night-shift/delete")
    shoot(page, "31-group-delete")
    page.click("#confirm-delete")
    page.wait_for_url(f"{gateway.url}/admin/groups?done=deleted")
    assert "night-shift" not in page.text_content("#groups-table")


def test_roles_are_added_and_deleted_but_not_the_admin_role(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/roles")
    assert page.locator("a[aria-label='Delete the role admin']").count() == 0
    page.fill("#f-roleName", "bad role")
    page.click("#create-role")
    page.wait_for_load_state()
    assert "letters, digits" in described_error(page, "f-roleName")
    page.fill("#f-roleName", "auditor")
    page.fill("#f-description", "Reads everything")
    page.click("#create-role")
    page.wait_for_url(f"{gateway.url}/admin/roles?done=created")
    assert "Reads everything" in page.text_content("#roles-table")
    page.click("a[aria-label='Delete the role auditor']")
    page.click("#confirm-delete")
    page.wait_for_load_state()
    assert "auditor was deleted" in page.text_content("#notice")
    assert "auditor" not in page.text_content("#roles-table")


def test_the_policy_as_yaml_is_previewed_checked_and_saved(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/rules")
    original = page.input_value("#f-document")
    page.fill("#f-document", "rules: [oops")
    page.click("#preview-document")
    page.wait_for_load_state()
    assert "Not valid YAML" in described_error(page, "f-document")
    page.fill("#f-document", "default_roles: [viewer]\nrules:\n  - name: x\n    match: {group: a}\n")
    page.click("#save-document")
    page.wait_for_load_state()
    assert "must grant roles" in described_error(page, "f-document")
    page.fill("#f-document", original)  # unchanged: saving it again is harmless
    page.click("#save-document")
    page.wait_for_url(f"{gateway.url}/admin/rules?done=saved")


def test_the_rule_form_adds_a_second_factor_rule(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/rules")
    page.fill("#f-name", "admins-mfa")
    page.fill("#f-values", "drone-admins")
    page.fill("#f-roles", "admin")
    page.check("#f-require_mfa")
    page.click("#add-rule")
    page.wait_for_url(re.compile(r".*/admin/rules\?done=added.*"))
    gives = page.text_content("#rule-admins-mfa")
    assert "roles admin" in gives and "second factor required at sign-in" in gives
    shoot(page, "32-rules-second-factor")
    page.goto(f"{gateway.url}/admin/rules/admins-mfa")
    assert page.is_checked("#f-require_mfa")
    page.uncheck("#f-require_mfa")
    page.click("#save-rule-form")
    page.wait_for_url(re.compile(r".*/admin/rules\?done=replaced.*"))
    assert "second factor" not in page.text_content("#rule-admins-mfa")
    page.goto(f"{gateway.url}/admin/rules/admins-mfa/delete")
    page.click("#confirm-delete")
    page.wait_for_load_state()
    assert page.locator("#rule-admins-mfa").count() == 0


def test_a_stale_rules_form_is_refused_and_shows_the_newer_version(gateway):
    admin = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = admin.get(f"{gateway.url}/admin/rules", timeout=10).text
    token = CSRF.search(page).group(1)
    version = re.search(r'name="expected_version" value="(\d+)"', page).group(1)
    form = {
        "csrf_token": token,
        "expected_version": version,
        "name": "first",
        "kind": "grant",
        "who": "group",
        "values": "drone-pilots",
        "roles": "pilot",
        "action": "add",
    }
    assert (
        admin.post(f"{gateway.url}/admin/rules/add", data=form, allow_redirects=False, timeout=10).status_code
        == 303
    )
    stale = admin.post(f"{gateway.url}/admin/rules/add", data={**form, "name": "second"}, timeout=10)
    assert stale.status_code == 409 and "changed since version" in stale.text
    assert f'name="expected_version" value="{int(version) + 1}"' in stale.text
    delete = admin.post(
        f"{gateway.url}/admin/rules/first/delete",
        allow_redirects=False,
        data={"csrf_token": token, "expected_version": int(version) + 1},
        timeout=10,
    )
    assert delete.status_code == 303


def test_an_admin_ends_another_persons_session(gateway, page):
    carol = http_sign_in(gateway, "carol", PASSWORD)
    assert carol.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code == 200
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/sessions?user=carol")
    assert "this browser" not in page.text_content("#sessions-table")
    page.click("#sessions-table button.danger")
    page.wait_for_url(f"{gateway.url}/admin/sessions?user=carol&done=revoked")
    assert carol.get(f"{gateway.url}/account", allow_redirects=False, timeout=10).status_code == 303
    page.goto(f"{gateway.url}/admin/sessions?user=admin")
    assert "this browser" in page.text_content("#sessions-table")


def test_the_audit_trail_filters_by_admin_and_date(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/audit")
    page.fill("#f-actor", "admin")
    page.select_option("#f-event", "group_created")  # a choice, not free text
    page.click("#apply-filter")
    page.wait_for_load_state()
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() >= 1 and "group_created" in rows.first.text_content()
    page.goto(f"{gateway.url}/admin/audit?since=yesterday")
    assert "YYYY-MM-DD" in described_error(page, "f-since")


def test_providers_show_their_health(gateway, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/providers")
    assert "Healthy" in page.text_content("#provider-local")
    assert "No LDAP provider" in page.text_content("#no-ldap")


def test_a_trial_ldap_sign_in_shows_the_steps_and_never_the_password(slapd, tmp_path):
    from tests.integration.providers.ldap.test_ldap_gateway import ldap_config
    from tests.support import ldapdata

    port = free_port()
    ldap = start_gateway(
        tmp_path,
        ldap_config([slapd.url]),
        users=[],
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    try:
        admin = http_sign_in(ldap, "admin", ADMIN_PASSWORD)
        page = admin.get(f"{ldap.url}/admin/providers", timeout=30).text
        assert 'id="provider-directory"' in page and "Healthy" in page
        password = ldapdata.password_for("alice")
        result = admin.post(
            f"{ldap.url}/admin/providers/trial",
            timeout=30,
            data={
                "csrf_token": CSRF.search(page).group(1),
                "provider": "directory",
                "username": "alice",
                "password": password,
            },
        )
        assert result.status_code == 200
        assert "Result: success (the Registry would get 200)" in result.text
        assert "&#34;username&#34;: &#34;alice&#34;" in result.text
        assert password not in result.text and password not in ldap.server.log_text()
    finally:
        ldap.stop()


# -- who may use the pages ---------------------------------------------------------------------


def test_a_non_admin_gets_a_403_page(gateway, page):
    sign_in(page, gateway.url, "alice", PASSWORD)
    assert page.url == f"{gateway.url}/account"
    assert page.locator("#admin-link").count() == 0
    assert page.locator("#password-form").count() == 1  # a local user may change it
    shoot(page, "20-account")
    response = page.goto(f"{gateway.url}/admin/users")
    assert response.status == 403
    assert "admin role" in page.text_content("#error-message")
    shoot(page, "21-forbidden")


def test_a_wrong_password_is_explained_at_the_form(gateway, page):
    sign_in(page, gateway.url, "carol", OTHER_PASSWORD)
    assert page.text_content("#login-error").strip() == "The username or password is not correct."
    assert page.input_value("#username") == "carol" and page.input_value("#password") == ""
    assert focused(page) == "password"
    shoot(page, "22-login-error")


def test_an_anonymous_browser_signs_in_and_comes_back(gateway, page):
    page.goto(f"{gateway.url}/admin/users?q=pilot1")
    assert page.url == f"{gateway.url}/login?next=/admin/users%3Fq%3Dpilot1"
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{gateway.url}/admin/users?q=pilot1")
    assert page.input_value("#q") == "pilot1"


def test_the_guard_over_http(gateway):
    anonymous = requests.get(f"{gateway.url}/admin/users", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login?next=/admin/users"
    alice = http_sign_in(gateway, "alice", PASSWORD)
    assert alice.get(f"{gateway.url}/admin", timeout=10).status_code == 403
    assert (
        alice.post(f"{gateway.url}/admin/users/carol/status", data={"enabled": "0"}, timeout=10).status_code
        == 403
    )
    admin = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    page = admin.get(f"{gateway.url}/admin/users/carol", timeout=10)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert "script" not in page.text.lower().replace("description", "")
    forged = admin.post(
        f"{gateway.url}/admin/users/carol/status", data={"enabled": "0"}, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 403  # no CSRF token: nothing changes
    cross = admin.post(
        f"{gateway.url}/admin/users/carol/status",
        allow_redirects=False,
        data={"enabled": "0", "csrf_token": CSRF.search(page.text).group(1)},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert cross.status_code == 403
    assert AdminClient.login(gateway.url).get("/users/carol").json()["enabled"] is True
    assert admin.get(f"{gateway.url}/admin/users/nobody", timeout=10).status_code == 404


# -- keyboard -----------------------------------------------------------------------------------


def test_keyboard_alone_signs_in_skips_to_content_and_reaches_the_navigation(gateway, page):
    page.set_viewport_size(LAPTOP)
    page.goto(f"{gateway.url}/login?next=/admin/users")
    assert focused(page) == "username"  # autofocus
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    assert focused(page) == "password"
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{gateway.url}/admin/users")

    page.keyboard.press("Tab")
    assert focused(page) == "skip-link"
    box = page.locator("#skip-link").bounding_box()
    assert box is not None and box["y"] >= 0  # shown on focus
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    save_screenshot(page, "admin-23-skip-link")
    page.keyboard.press("Enter")
    assert focused(page) == "main"

    page.goto(f"{gateway.url}/admin/users")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(focused(page))
        if reached[-1] == "nav-users":
            break
    assert reached[0] == "skip-link" and reached[-1] == "nav-users", reached
    page.keyboard.press("Tab")
    assert focused(page) == "nav-groups"
    save_screenshot(page, "admin-24-nav-focus")
