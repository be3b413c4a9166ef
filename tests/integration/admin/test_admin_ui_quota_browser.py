"""Quotas in units in the admin UI, in headless Chromium against the gateway under gunicorn:
the create-user form takes a quota such as ``1.5 GB``, refuses what is not one next to the
field, and the user's page shows the stored quota back in the largest exact unit, while the
Registry is answered the integer MB. Screenshots at desktop (1280×800) and phone (390×844)."""

from __future__ import annotations

import json

import pytest

from tests.support.adminapi import (
    ADMIN_CONFIG,
    ADMIN_PASSWORD,
    PASSWORD,
    registry_answer,
    start_admin_gateway,
)
from tests.support.browser import save_screenshot
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-ui-quota"),
        ADMIN_CONFIG,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def shoot(page, name: str) -> None:
    for width, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        save_screenshot(page, f"quota-{name}-{width}")
    page.set_viewport_size(DESKTOP)


def field_error(page, field_id: str) -> str:
    ids = page.get_attribute(f"#{field_id}", "aria-describedby") or ""
    assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    error_id = next(i for i in ids.split() if i.endswith("-error"))
    return page.text_content(f"#{error_id}").replace("Error:", "").strip()


def test_the_create_user_form_takes_a_quota_in_units(gateway, page):
    page.set_viewport_size(DESKTOP)
    page.goto(f"{gateway.url}/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_load_state()

    page.goto(f"{gateway.url}/admin/new-user")
    page.fill("#f-userName", "quinn")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-maxStorageMB", "0.3 GB")
    page.click("#create-user")
    page.wait_for_load_state()
    assert "whole number of MB" in field_error(page, "f-maxStorageMB")
    assert page.input_value("#f-maxStorageMB") == "0.3 GB"
    shoot(page, "create-user-refused")

    page.fill("#f-password", PASSWORD)
    page.fill("#f-maxStorageMB", "1.5 GB")
    page.click("#create-user")
    page.wait_for_url(f"{gateway.url}/admin/users/quinn?done=created")
    assert json.loads(page.text_content("#registry-answer"))["maxStorageMB"] == 1536
    assert page.text_content("#fact-quota") == "1,536 MB"

    page.fill("#f-maxStorageMB", "50gb")
    page.click("#save-values")
    page.wait_for_url(f"{gateway.url}/admin/users/quinn?done=values#notice")
    assert page.input_value("#f-maxStorageMB") == "50 GB"  # shown back in the largest exact unit
    shoot(page, "user-values")
    answer = registry_answer(gateway, username="quinn", password=PASSWORD)
    assert answer.status_code == 200 and type(answer.json()["maxStorageMB"]) is int
    assert answer.json()["maxStorageMB"] == 51200
