"""Registration does the same work whether or not the address has an account (the real
services over SQLite; nothing is sent, the queue is only looked at): one password hash and one
queued mail each, and the same outcome, so neither the page nor its time tells the address
apart. A taken username is refused before the address is looked at."""

from __future__ import annotations

import pytest

from gateway.admin.registration import CHECK_MAIL, RegistrationRefused
from tests.unit.conftest import UNIT_CONFIG, build_unit_services

CONFIG = (
    UNIT_CONFIG
    + """\
email:
  smtp: {host: 127.0.0.1, port: 9, security: none}
  sender: registry@example.org
self_service:
  registration: {enabled: true}
"""
)
PASSWORD = "juniper-cascade-62-orbit"


class CountingHasher:
    """The real hasher, counting its hashes."""

    def __init__(self, real):
        self.real, self.hashes = real, 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self.real.hash(password)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def services(tmp_path):
    built = build_unit_services(tmp_path, CONFIG)
    built.user_operations().create("carol", PASSWORD, email="carol@example.org")
    yield built
    built.close()


def work_of(services, username: str, email: str) -> tuple[str, int, int]:
    """The outcome of a registration, the hashes it made and the mails it queued."""
    hasher = CountingHasher(services.local_users._hasher)
    services.local_users._hasher = hasher
    queued = services.mail.status().pending
    try:
        outcome = services.registration().register(username, email, PASSWORD, None, client="192.0.2.1")
    finally:
        services.local_users._hasher = hasher.real
    return outcome, hasher.hashes, services.mail.status().pending - queued


def test_an_address_with_an_account_costs_what_a_new_one_does(services):
    used = work_of(services, "ivan", "Carol@example.org")
    fresh = work_of(services, "jane", "jane@example.org")
    assert used == fresh == (CHECK_MAIL, 1, 1)
    assert services.local_users.get("ivan") is None
    assert services.local_users.get("jane").registration_state == "unverified"


def test_a_taken_username_is_refused_before_the_address_is_looked_at(services):
    refusals = []
    for address in ("carol@example.org", "nobody@example.org"):
        with pytest.raises(RegistrationRefused) as refused:
            services.registration().register("carol", address, PASSWORD, None, client="192.0.2.2")
        refusals.append((refused.value.field, refused.value.message))
    assert refusals[0] == refusals[1] and refusals[0][0] == "username"
    assert services.mail.status().pending == 0
