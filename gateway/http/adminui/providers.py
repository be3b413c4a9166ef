"""``/admin/providers``: how each identity provider is doing (checked when the page loads,
all at once), and a trial sign-in at a provider that offers one (``TrialLogin``: LDAP) that
shows every step and the answer the Registry would get. The trial is throttled like a real
sign-in; its password is never shown, logged or kept. Each provider's diagnostics (test
connection, a user search, a user's groups, an IdP's discovery) run from here too
(templates/admin/_provider_diag.html)."""

from __future__ import annotations

import json

from flask import request

from gateway.admin import providerdiag
from gateway.admin.errors import AdminError
from gateway.admin.providerconfigs import editable_types
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.providerconfigs import NOTICES
from gateway.http.adminui.providerform import admin_form
from gateway.http.appservices import services
from providers.base import TrialLogin

MAX_USERNAME_CHARS = 512
MAX_PASSWORD_CHARS = 1024
_ACTION_TITLES = {
    "connection": "Test connection",
    "search": "User search",
    "groups": "Groups",
    "discovery": "Discovery",
}


@bp.get("/providers")
@admin_page
def providers():
    """The status of every configured provider."""
    return _page()


@bp.post("/providers/trial")
@admin_page
def trial_login():
    """A trial sign-in at the LDAP provider named in the form."""
    form = request.form
    values = {"provider": form.get("provider", ""), "username": form.get("username", "").strip()}
    password = form.get("password", "")
    errors: dict[str, str] = {}
    if not values["username"]:
        errors["username"] = "Enter a username."
    if not password:
        errors["password"] = "Enter the password."
    if errors:
        return _page(values, errors, status=400)
    try:
        result = (
            services()
            .provider_admin()
            .test_login(
                values["provider"],
                values["username"][:MAX_USERNAME_CHARS],
                password[:MAX_PASSWORD_CHARS],
                actor=caller().username,
            )
        )
    except AdminError as refused:
        return _page(values, forms.admin_errors(refused, ("provider", "username")), status=refused.status)
    return _page(values, trial=result)


@bp.post("/providers/diagnose")
@admin_page
def diagnose():
    """A diagnostic of a configured provider (gateway.admin.providerdiag): read-only, so the
    result is rendered in the answer to the POST."""
    form = request.form
    provider_id, action = form.get("provider", ""), form.get("action", "")
    username = form.get("username", "")
    diag_values = {"provider": provider_id, "username": username.strip()[:256]}
    try:
        result = (
            services()
            .provider_diagnostics()
            .diagnose({"id": provider_id}, action, username, actor=caller().username)
        )
    except AdminError as refused:
        errors = forms.admin_errors(refused, ("username",))
        return _page(diag_values=diag_values, diag_errors=errors, status=refused.status)
    result["action_title"] = _ACTION_TITLES.get(action, action)
    return _page(diag_values=diag_values, diag_result=result)


def _diagnosable() -> list[dict]:
    """The configured providers that offer diagnostics, with what each offers."""
    svc = services()
    found = []
    for provider in svc.providers.active():
        offered = providerdiag.offered_actions(provider.type)
        if offered:
            redirect = svc.sso.callback_url(provider.id) if "discovery" in offered else None
            found.append(
                {"id": provider.id, "type": provider.type, "actions": offered, "redirectUri": redirect}
            )
    return found


def _page(
    values: dict | None = None,
    errors: dict | None = None,
    *,
    trial: dict | None = None,
    diag_values: dict | None = None,
    diag_errors: dict | None = None,
    diag_result: dict | None = None,
    status: int = 200,
):
    svc = services()
    trials = [p.id for p in svc.providers.active() if isinstance(p.provider, TrialLogin)]
    configs = svc.provider_configs()
    answer = trial.get("answer") if trial else None
    return render(
        "admin/providers.html",
        "providers",
        status,
        statuses=svc.provider_admin().status(),
        registry=svc.registry.report(),
        trial_providers=trials,
        values=values or {"provider": trials[0] if trials else ""},
        errors=errors or {},
        trial=trial,
        answer_json=json.dumps(answer, indent=2) if answer else None,
        diagnosable=_diagnosable(),
        diag_values=diag_values or {},
        diag_errors=diag_errors or {},
        diag_result=diag_result,
        configs=configs.list(),
        configs_ignored=configs.ignored_warning(),
        addable=[(kind, admin_form(kind).add_label) for kind in editable_types()],
        configs_notice=NOTICES.get(request.args.get("done", "")),
    )
