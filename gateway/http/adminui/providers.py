"""``/admin/providers``: how each identity provider is doing (checked when the page loads,
all at once), and a trial sign-in at an LDAP provider that shows every step and the answer
the Registry would get. The trial is throttled like a real sign-in; its password is never
shown, logged or kept."""

from __future__ import annotations

import json

from flask import request

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.providerconfigs import NOTICES
from gateway.http.appservices import services

MAX_USERNAME_CHARS = 512
MAX_PASSWORD_CHARS = 1024


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


def _page(
    values: dict | None = None, errors: dict | None = None, *, trial: dict | None = None, status: int = 200
):
    svc = services()
    ldap = [p.id for p in svc.providers.active() if p.type == "ldap"]
    answer = trial.get("answer") if trial else None
    return render(
        "admin/providers.html",
        "providers",
        status,
        statuses=svc.provider_admin().status(),
        registry=svc.registry.report(),
        ldap_providers=ldap,
        values=values or {"provider": ldap[0] if ldap else ""},
        errors=errors or {},
        trial=trial,
        answer_json=json.dumps(answer, indent=2) if answer else None,
        configs=svc.provider_configs().list(),
        configs_notice=NOTICES.get(request.args.get("done", "")),
    )
