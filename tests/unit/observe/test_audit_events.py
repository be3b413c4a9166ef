"""Every audit event the code writes is in the registry the audit page offers as choices."""

from __future__ import annotations

import ast

from gateway.observe.auditevents import EVENTS, OUTCOMES
from tests.support.paths import REPO_ROOT

RECORDERS = {"record", "_audit"}
IN_SESSION = "record_in"  # record_in(session, event, outcome, ...)


def _written_events() -> set[str]:
    """Literal first arguments of ``<x>.record(...)``/``self._audit(...)`` calls that take an
    outcome too, and the second of ``<x>.record_in(session, ...)``."""
    found: set[str] = set()
    for path in (REPO_ROOT / "gateway").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == IN_SESSION and len(node.args) >= 3:
                name, first = "record", node.args[1]
            else:
                first = node.args[0]
            if name in RECORDERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                if first.value.islower() and " " not in first.value:
                    found.add(first.value)
    return found


def test_every_written_event_is_registered():
    written = _written_events()
    # The scan finds them, those written in a session's transaction too.
    assert {"login", "user_created", "group_created", "password_reset_requested"} <= written
    # _audit(event, actor, name) in groups: the first argument is the event, too.
    assert written - set(EVENTS) == set()


def test_constants_named_as_events_are_registered():
    from gateway.admin.selfservice import API_KEYS, APP_PASSWORDS
    from gateway.registry.sync import SYNC_EVENT

    kinds = (APP_PASSWORDS, API_KEYS)
    for event in (*(kind.created for kind in kinds), *(kind.revoked for kind in kinds), SYNC_EVENT):
        assert event in EVENTS


def test_outcomes_cover_the_login_and_change_outcomes():
    assert {"ok", "success", "denied", "refused"} <= set(OUTCOMES)
