"""What one login attempt came to, whichever way it came in.

:class:`gateway.login.service.LoginService` answers every way in with one of these values and
has already recorded it (audit row, attempt line, metrics); an HTTP adapter only turns it into
its own response.

They are named tuples, not frozen dataclasses: as immutable, and one is made on every request
of the token path, where a frozen dataclass's ``__init__`` (an ``object.__setattr__`` per
field) cost several microseconds (benchmarks/token_profile.py).
"""

from __future__ import annotations

from typing import NamedTuple

from gateway.mapping import Evaluation
from gateway.sso.sessions import SessionRecord
from providers.base import Identity


class Granted(NamedTuple):
    """Signed in as ``identity`` (its username is the canonical one), with the mapping's
    ``evaluation``; ``session`` is the gateway session opened for ways in that open one;
    ``next_url`` where an SSO login goes on to and ``token`` the Registry token minted for
    its session."""

    identity: Identity
    evaluation: Evaluation
    session: SessionRecord | None = None
    next_url: str | None = None
    token: str | None = None


class Refused(NamedTuple):
    """Not signed in: ``status`` 401 (credentials), 403 (not allowed) or, for a broken SSO
    callback, 400/404; ``reason`` is the short class logged and audited, never shown. ``cause``
    is the exception a way in answers with when it has wording of its own (SSO's pages)."""

    status: int
    reason: str
    cause: Exception | None = None


class PasswordChangeRequired(Exception):
    """The password was right, but it is a temporary one: ``username`` (canonical) must choose
    a new password in a browser before signing in anywhere (the cause of a 403 Refused)."""

    def __init__(self, username: str):
        super().__init__("password change required")
        self.username = username


class Throttled(NamedTuple):
    """Too many recent failures for this account: try again in ``retry_after`` whole seconds."""

    retry_after: int


class Unavailable(NamedTuple):
    """A provider, the state store or the database could not be reached: a 503. ``error`` is
    the exception the app's error handlers answer for it (re-raise it)."""

    error: Exception


class SecondFactor(NamedTuple):
    """The password was right, but no session opens before a second factor: ``enrol`` when
    the person has none yet and the policy requires one. The browser's answer: recorded as an
    attempt, not audited as a sign-in
    (:meth:`gateway.login.service.LoginService.second_factor_passed` does that)."""

    identity: Identity
    evaluation: Evaluation
    enrol: bool = False


Outcome = Granted | Refused | Throttled | Unavailable
# What the ways in that open a session with a password answer (the browser form, the admin API).
PasswordOutcome = Outcome | SecondFactor
