"""Issue 18 in headless Chromium: a bad form answered once with every error (the summary at the
top, focusable, linking to each field; each message next to its field), list fields one per
line, and the confirmation pages of Disable and Remove member with what they would do.

Screenshots at desktop (1280×800) and phone (390×844) widths go to
``test-artifacts/screenshots/forms-*``; the ones docs/screenshots/README.md lists are copies.
No page may scroll sideways on the phone.
"""

from __future__ import annotations

import re

import pytest

from tests.support.adminapi import ADMIN_CONFIG, ADMIN_PASSWORD, AdminClient, start_admin_gateway
from tests.support.browser import save_screenshot
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-ui-forms-browser"),
        ADMIN_CONFIG,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def shoot(page, name: str, *, full_page: bool = False) -> None:
    """The viewport (what the eye meets first) at desktop and phone widths; the phone one
    must not scroll sideways."""
    for width, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        save_screenshot(page, f"forms-{name}-{width}", full_page=full_page)
        if width == "phone":
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            assert scroll <= PHONE["width"], f"{name} scrolls sideways on a phone ({scroll}px)"
    page.set_viewport_size(DESKTOP)


def sign_in(page, url: str) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(f"{url}/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{url}/admin")


def field_error(page, field_id: str) -> str:
    ids = page.get_attribute(f"#{field_id}", "aria-describedby") or ""
    assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    error_id = next(i for i in ids.split() if i.endswith("-error"))
    return page.text_content(f"#{error_id}").replace("Error:", "").strip()


def test_a_bad_form_shows_every_error_in_one_submit(gateway, page):
    sign_in(page, gateway.url)
    page.goto(f"{gateway.url}/admin/new-user")
    page.fill("#f-userName", "Zed")
    page.fill("#f-email", "zed-at-example")
    page.fill("#f-roles", "pilot\nsenior pilot\nrole!")
    page.fill("#f-maxStorageMB", "lots")
    page.click("#create-user")  # one submit
    page.wait_for_load_state()

    summary = page.locator(".error-summary a")
    assert summary.evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        "#f-userName",
        "#f-password",
        "#f-email",
        "#f-roles",
        "#f-maxStorageMB",
    ]
    assert "Use 'zed' instead" in field_error(page, "f-userName")
    assert field_error(page, "f-password") == "Enter a password."
    assert "email address" in field_error(page, "f-email")
    roles = field_error(page, "f-roles")
    assert (
        "\u201csenior pilot\u201d is the second role" in roles
        and "\u201crole!\u201d is the third role" in roles
    )
    assert "500 MB" in field_error(page, "f-maxStorageMB")
    text = page.text_content("main")
    for jargon in ("canonical", "[2]", "Length must", "must be a role name"):
        assert jargon not in text
    assert page.input_value("#f-roles") == "pilot\nsenior pilot\nrole!"  # kept whole, one per line
    top = page.locator(".error-summary").bounding_box()
    assert top is not None and top["y"] < DESKTOP["height"]  # where the eye is, without scrolling
    shoot(page, "create-user-errors")

    page.click(".error-summary a[href='#f-roles']")  # the summary leads to the field
    assert page.evaluate("() => document.activeElement.id") == "f-roles"

    page.fill("#f-userName", "zed")
    page.fill("#f-password", "purple-otter-31-lantern")
    page.fill("#f-email", "zed@example.org")
    page.fill("#f-roles", "pilot\nsurveyor")
    page.fill("#f-maxStorageMB", "5 GB")
    page.click("#create-user")
    page.wait_for_url(f"{gateway.url}/admin/users/zed?done=created")
    assert page.input_value("#f-roles") == "pilot\nsurveyor"

    # A refused form further down the user's page opens at its own summary, even on a phone.
    page.set_viewport_size(PHONE)
    page.fill("#f-maxStorageMB", "lots")
    page.fill("#f-metadata", "team north")
    page.click("#save-values")
    page.wait_for_url(f"{gateway.url}/admin/users/zed/values#values-heading")
    box = page.locator("#values-form .error-summary").bounding_box()
    assert box is not None and 0 <= box["y"] < PHONE["height"], box
    assert page.locator("#values-form .error-summary li").count() == 2
    page.set_viewport_size(DESKTOP)


def test_disable_is_confirmed_with_its_impact(gateway, page):
    sign_in(page, gateway.url)
    page.goto(f"{gateway.url}/admin/users/alice")
    page.click("#disable-user")
    page.wait_for_url(f"{gateway.url}/admin/users/alice/disable")
    impact = page.text_content("#disable-impact")
    assert "active session(s)" in impact and "app password(s)" in impact and "Registry" in impact
    shoot(page, "disable-confirm")
    page.click("#cancel-disable")
    page.wait_for_url(f"{gateway.url}/admin/users/alice")
    assert page.text_content("#user-status") == "Enabled"  # "No" changed nothing
    page.click("#disable-user")
    page.click("#confirm-disable")
    page.wait_for_url(f"{gateway.url}/admin/users/alice?done=disabled#notice")
    assert page.text_content("#user-status") == "Disabled"
    assert "disabled at the gateway" in page.text_content("#registry-answer")
    page.reload()  # post-redirect-get: a reload repeats nothing
    assert page.text_content("#user-status") == "Disabled"
    page.click("#enable-user")
    page.wait_for_url(f"{gateway.url}/admin/users/alice?done=enabled#notice")

    page.goto(f"{gateway.url}/admin/users/admin")
    page.click("#disable-user")
    page.wait_for_url(f"{gateway.url}/admin/users/admin/disable")
    assert "You cannot disable yourself." in page.text_content("#disable-refusal")
    assert page.locator("#disable-refusal").bounding_box()["y"] < DESKTOP["height"]
    shoot(page, "disable-yourself-refused")


def test_remove_member_is_confirmed_with_the_roles_lost(gateway, page):
    client = AdminClient.login(gateway.url)
    version = client.get("/mapping").json()["version"]
    rule = {
        "name": "pilots-fly",
        "match": {"group": "drone-pilots"},
        "roles": ["flyer"],
        "maxStorageMB": 2048,
    }
    assert client.post("/mapping/rules", json={"rule": rule, "expectedVersion": version}).ok
    sign_in(page, gateway.url)
    page.goto(f"{gateway.url}/admin/groups/drone-pilots")
    page.click("a[aria-label='Remove alice from drone-pilots']")
    page.wait_for_url(f"{gateway.url}/admin/groups/drone-pilots/members/alice/remove")
    assert "flyer" in page.text_content("#impact-summary")
    assert page.text_content("#impact-roles-after") == "none"
    shoot(page, "remove-member-confirm")
    page.click("#confirm-remove")
    page.wait_for_url(f"{gateway.url}/admin/groups/drone-pilots?done=removed")
    assert "alice" not in page.text_content("#members-table")


def test_a_rule_form_shows_every_error_and_edits_like_it_creates(gateway, page):
    sign_in(page, gateway.url)
    page.goto(f"{gateway.url}/admin/rules")
    page.fill("#f-name", "survey leads")
    page.fill("#f-roles", "senior pilot")
    page.fill("#f-maxStorageMB", "lots")
    page.set_viewport_size(PHONE)  # the longest page: the summary must still be in view
    page.click("#add-rule")
    page.wait_for_load_state()
    assert page.locator("#add-rule-form .error-summary li").count() == 4  # name, values, roles, quota
    box = page.locator("#add-rule-form .error-summary").bounding_box()
    assert box is not None and 0 <= box["y"] < PHONE["height"], box
    page.set_viewport_size(DESKTOP)
    assert "no spaces" in field_error(page, "f-name")
    shoot(page, "rule-errors", full_page=True)
    page.fill("#f-name", "survey-leads")
    page.fill("#f-values", "Survey Team North\nsurvey-*")
    page.select_option("#f-who", "group")
    page.fill("#f-roles", "survey-lead")
    page.fill("#f-maxStorageMB", "")
    page.click("#add-rule")
    # Nobody has the group "Survey Team North": saved, with the spelling warning (diag18's check).
    page.wait_for_url(
        re.compile(re.escape(f"{gateway.url}/admin/rules?done=added&warned=") + r"\d+#rule-survey-leads")
    )
    assert "No user has group 'Survey Team North'" in page.text_content("main")
    assert "group: Survey Team North, survey-*" in page.text_content("#rule-survey-leads")
    page.click("a[aria-label='Edit the rule survey-leads']")
    page.wait_for_url(f"{gateway.url}/admin/rules/survey-leads")
    assert page.input_value("#f-values") == "Survey Team North\nsurvey-*"
    page.fill("#f-roles", "survey-lead\nviewer")
    page.click("#save-rule-form")
    page.wait_for_url(
        re.compile(
            re.escape(f"{gateway.url}/admin/rules?done=replaced") + r"(&warned=\d+)?#rule-survey-leads"
        )
    )
    assert "roles survey-lead, viewer" in page.text_content("#rule-survey-leads")
