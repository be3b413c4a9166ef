"""Integration tests: ``gateway registrations`` (list, approve, reject) and ``gateway mail``
(queue, test), run as the operator runs them (a subprocess, SQLite). The commands call the
same operations as the admin API and UI, so the audit log names the operator."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.storage.models import AuditEvent
from tests.integration.cli.test_cli import PASSWORD, fails, make_env, ok, services_for

pytestmark = pytest.mark.integration

CONFIG = """\
providers:
  - id: local
    type: local
    hashing: {time_cost: 1, memory_cost_kib: 8192}
email:
  # Nothing listens here: no gateway runs to send, and these tests only look at the queue.
  smtp: {host: 127.0.0.1, port: 9, security: none}
  sender: registry@example.com
  brand: Test Registry
self_service:
  registration:
    enabled: true
    require_email_verification: false
    require_admin_approval: true
"""


def register(env, username: str) -> None:
    with services_for(env) as services:
        state = services.registration().register(
            username, f"{username}@example.com", PASSWORD, None, client="127.0.0.1"
        )
    assert state == "awaiting_approval"


def audit_actors(env, event: str) -> list[str]:
    with services_for(env) as services, services.database.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return [row.detail.get("actor", "") for row in rows]


def test_registrations_are_listed_approved_and_rejected_from_the_command_line(tmp_path):
    env = make_env(tmp_path, config=CONFIG)
    assert ok(env, "registrations", "list") == "no registrations waiting\n"
    register(env, "carol")
    register(env, "dave")
    lines = ok(env, "registrations", "list").splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["carol", "carol@example.com"],
        ["dave", "dave@example.com"],
    ]
    assert all("waiting for an admin" in line for line in lines)

    assert ok(env, "registrations", "approve", "carol") == "approved carol\n"
    assert ok(env, "registrations", "reject", "dave") == "rejected dave: the account is deleted\n"
    assert ok(env, "registrations", "list") == "no registrations waiting\n"
    assert (
        fails(env, "registrations", "approve", "carol")
        == "error: no registration of 'carol' waits for approval"
    )
    assert fails(env, "registrations", "reject", "nobody").startswith("error: no registration of 'nobody'")
    with services_for(env) as services:
        carol = services.local_users.get("carol")
        assert carol is not None and carol.enabled and carol.registration_state is None
        assert services.local_users.get("dave") is None
    assert [actor.startswith("cli:") for actor in audit_actors(env, "registration_approved")] == [True]
    assert [actor.startswith("cli:") for actor in audit_actors(env, "registration_rejected")] == [True]
    # The approval mail is queued like the admin UI's (nothing sends it here).
    assert "pending 1 " in ok(env, "mail", "queue")


def test_mail_queue_shows_the_settings_and_a_test_message_is_queued(tmp_path):
    env = make_env(tmp_path, config=CONFIG)
    first, counts = ok(env, "mail", "queue").splitlines()
    assert first == "smtp 127.0.0.1:9 (none), from registry@example.com, brand Test Registry"
    assert counts == "pending 0 (retrying 0), failed 0"
    assert ok(env, "mail", "test", "ops@example.com") == "queued a test message to ops@example.com\n"
    assert ok(env, "mail", "queue").splitlines()[1].startswith("pending 1 (retrying 0), failed 0")
    assert fails(env, "mail", "test", "not an address") == "error: enter one e-mail address"


def test_mail_queue_without_an_email_section_says_so(tmp_path):
    env = make_env(tmp_path)
    assert ok(env, "mail", "queue").splitlines()[0] == (
        "no email: section is configured, so the gateway sends no mail"
    )
    assert fails(env, "mail", "test", "ops@example.com").startswith("error: no email: section is configured")


def test_users_enable_refuses_a_registration_waiting_for_approval(tmp_path):
    """The command line's enable is the same operation as the API's: it does not admit a
    registration (approve does)."""
    env = make_env(tmp_path, config=CONFIG)
    assert ok(env, "registrations", "list") == "no registrations waiting\n"  # (migrates)
    register(env, "erin")
    refusal = fails(env, "users", "enable", "erin")
    assert "waiting for approval" in refusal and "approve" in refusal, refusal
    with services_for(env) as services:
        erin = services.local_users.get("erin")
        assert erin is not None and not erin.enabled and erin.registration_state == "pending"
    assert ok(env, "registrations", "approve", "erin") == "approved erin\n"
