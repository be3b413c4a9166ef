"""The self-service throttles (pure: fakes for the database and the mail, the real
RequestThrottle on a MemoryStore): a reset request and a registration are each limited per
name or address AND per client, the two counted apart, and a throttled reset queues nothing."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from gateway.admin.passwordreset import PasswordReset, Requested
from gateway.admin.registration import Registration, RegistrationRefused
from gateway.admin.selfservicebase import RequestThrottle, SelfServiceDeps
from gateway.config.email import RegistrationSettings, SelfServiceSettings
from gateway.storage.state.memory import MemoryStore
from providers.local.users import UserError


class FakeDatabase:
    @contextlib.contextmanager
    def session(self):
        yield object()


class FakeMail:
    enabled = True

    def __init__(self):
        self.requests: list[str] = []

    def enqueue_request(self, session, kind: str, text: str) -> None:
        self.requests.append(text)


class NoUsername:
    """Refuses every username: a registration stops right after the throttles."""

    def canonical(self, username: str) -> str:
        raise UserError("no")


def deps(settings: SelfServiceSettings, mail: FakeMail) -> SelfServiceDeps:
    fake: Any = object()
    return SelfServiceDeps(
        settings=settings,
        database=FakeDatabase(),
        mail=mail,
        tokens=fake,
        throttle=RequestThrottle(MemoryStore(), settings),
        local_users=fake,
        operations=NoUsername(),
        audit=fake,
        public_url="http://gateway.test",
    )


SETTINGS = SelfServiceSettings(
    password_reset=True,
    max_requests_per_address=2,
    max_requests_per_client=3,
    registration=RegistrationSettings(enabled=True),
)


def test_reset_requests_are_limited_per_name_or_address():
    mail = FakeMail()
    reset = PasswordReset(deps(SETTINGS, mail), [])
    answers = [reset.request(" Alice ", client) for client in ("10.0.0.1", "10.0.0.2", "10.0.0.3")]
    assert answers == [Requested.QUEUED, Requested.QUEUED, Requested.THROTTLED]
    assert mail.requests == ["alice", "alice"]  # compared as typed without case or spaces
    assert reset.request("bob", "10.0.0.4") is Requested.QUEUED  # another name is counted apart


def test_reset_requests_are_limited_per_client():
    mail = FakeMail()
    reset = PasswordReset(deps(SETTINGS, mail), [])
    answers = [reset.request(name, "10.0.0.9") for name in ("ann", "ben", "cid", "dan")]
    assert answers == [Requested.QUEUED] * 3 + [Requested.THROTTLED]
    assert len(mail.requests) == 3
    assert reset.request("eve", "10.0.0.10") is Requested.QUEUED  # another client is counted apart


def refusal(registration: Registration, email: str, client: str) -> tuple[str, int]:
    with pytest.raises(RegistrationRefused) as refused:
        registration.register("someone", email, "long-enough-password-1", None, client)
    return refused.value.field, refused.value.status


def test_registrations_are_limited_per_address():
    registration = Registration(deps(SETTINGS, FakeMail()))
    answers = [refusal(registration, "Ann@example.org", f"10.0.1.{n}") for n in range(3)]
    # The first two pass the throttles (and stop at the username); the third is throttled.
    assert answers == [("username", 400), ("username", 400), ("form", 429)]
    assert refusal(registration, "ben@example.org", "10.0.1.9") == ("username", 400)


def test_registrations_are_limited_per_client():
    registration = Registration(deps(SETTINGS, FakeMail()))
    answers = [refusal(registration, f"user{n}@example.org", "10.0.2.1") for n in range(4)]
    assert answers == [("username", 400)] * 3 + [("form", 429)]
    assert refusal(registration, "other@example.org", "10.0.2.2") == ("username", 400)
