"""The provider forms' diagnostics buttons, through the diagnostics service
``gateway.admin.providerdiag`` (``test_connection``, ``search_user``, ``show_groups``,
``oidc_discovery``) on the form's unsaved configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.admin import providerdiag as diag
from gateway.http.appservices import services

ACTIONS = {
    "connection": "Test connection",
    "search": "Try a user search",
    "groups": "Show groups",
    "discovery": "Check discovery",
}
NEEDS_USERNAME = ("search", "groups")


def run(action: str, config: Mapping[str, Any], username: str = "") -> dict[str, Any]:
    """The result of diagnostic ``action`` on the unsaved provider ``config`` (a
    ``providers[n]`` mapping with id and type), with ``title`` added for the page."""
    svc = services()
    canonical = svc.federation.usernames.canonical
    if action == "connection":
        result = diag.test_connection(config)
    elif action == "search":
        result = diag.search_user(config, username, canonical=canonical)
    elif action == "groups":
        result = diag.show_groups(config, username, canonical=canonical, evaluate=svc.mapping.evaluate)
    else:
        result = diag.oidc_discovery(
            config, redirect_uri=svc.sso.callback_url, backchannel_logout_uri=svc.backchannel_logout_uri
        )
    return {**result, "action_title": ACTIONS[action]}
