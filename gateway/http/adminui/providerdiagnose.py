"""The provider forms' diagnostics buttons on the form's unsaved configuration, through the
same operation as the admin API's (``ProviderDiagnostics.diagnose`` of
``gateway.admin.providerdiag``): the same per-admin rate limit and the same
``provider_diagnostic`` audit row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.http.appservices import services

ACTIONS = {
    "connection": "Test connection",
    "search": "Try a user search",
    "groups": "Show groups",
    "discovery": "Check discovery",
}
NEEDS_USERNAME = ("search", "groups")


def run(action: str, config: Mapping[str, Any], username: str = "", *, actor: str) -> dict[str, Any]:
    """The result of diagnostic ``action`` on the unsaved provider ``config`` (a
    ``providers[n]`` mapping with id and type) run for ``actor``, with ``action_title`` added
    for the page. Raises AdminError as the API does (400 for an unusable username, 429 past
    the admin's rate)."""
    result = (
        services()
        .provider_diagnostics()
        .diagnose(config, action, username if action in NEEDS_USERNAME else None, actor=actor)
    )
    return {**result, "action_title": ACTIONS[action]}
