"""The reset mails a person receives are bounded per person (gateway.admin.passwordreset):
requests by username and by address count together, in the mail deliverer's expansion, past the
per-address limit the mail is dropped and audited.

Unit tests: fakes for the database session, link tokens, mail and audit; the real throttle on the
in-memory state store.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from gateway.admin.passwordreset import PasswordReset
from gateway.admin.selfservicebase import RequestThrottle, SelfServiceDeps
from gateway.config.email import SelfServiceSettings
from gateway.storage.state.memory import MemoryStore

DORA = SimpleNamespace(id=7, username="dora", email="dora@example.org")
ERIK = SimpleNamespace(id=8, username="erik", email="erik@example.org")


class Session:
    """Answers every lookup with the users whose username or address is the wanted text."""

    def __init__(self, users):
        self.users = users
        self.wanted = ""

    def scalars(self, _statement):
        return SimpleNamespace(all=lambda: [u for u in self.users if self.wanted in (u.username, u.email)])


class Audit:
    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    def record_in(self, _session, event: str, outcome: str, *, username: str, **_: Any) -> None:
        self.rows.append((event, outcome, username))


def feature(limit: int) -> tuple[PasswordReset, Audit]:
    settings = SelfServiceSettings(password_reset=True, max_requests_per_address=limit)
    audit = Audit()
    deps = SelfServiceDeps(
        settings=settings,
        database=cast(Any, None),
        mail=cast(Any, SimpleNamespace(render=lambda kind, **values: f"{kind}:{values['username']}")),
        tokens=cast(Any, SimpleNamespace(issue=lambda *args: "token")),
        throttle=RequestThrottle(cast(Any, MemoryStore()), settings),
        local_users=None,
        operations=cast(Any, None),
        audit=cast(Any, audit),
        public_url="https://gateway.example.org",
    )
    return PasswordReset(deps, []), audit


def expand(reset: PasswordReset, session: Session, wanted: str) -> list[str]:
    session.wanted = wanted
    return [to for to, _kind, _rendered in reset.expand(cast(Any, session), wanted)]


def test_asking_by_name_and_by_address_counts_once_per_person():
    reset, audit = feature(limit=2)
    session = Session([DORA, ERIK])
    sent = [
        expand(reset, session, wanted) for wanted in ("dora", "dora@example.org", "dora", "dora@example.org")
    ]
    assert sent == [["dora@example.org"], ["dora@example.org"], [], []]
    assert audit.rows == [
        ("password_reset_requested", "ok", "dora"),
        ("password_reset_requested", "ok", "dora"),
        ("password_reset_requested", "throttled", "dora"),
        ("password_reset_requested", "throttled", "dora"),
    ]
    # Another person's limit is their own.
    assert expand(reset, session, "erik") == ["erik@example.org"]


def test_no_match_counts_for_nobody():
    reset, audit = feature(limit=1)
    session = Session([DORA])
    assert expand(reset, session, "nobody") == [] and expand(reset, session, "nobody") == []
    assert audit.rows == []
    assert expand(reset, session, "dora") == ["dora@example.org"]
