"""``/admin/explain``: why someone gets what they get under the rules in force: every rule in
order (matched or not, and why), the defaults, per-user values, and the exact answer the
Registry receives. For a known user (``?user=``), or for an identity typed in
(``?mode=identity&provider=&username=&groups=``) to try the rules before anyone signs in.
Reading only: the forms are GET, so a result can be bookmarked or shared between admins.
"""

from __future__ import annotations

import json

from flask import request

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, render
from gateway.http.appservices import services

MAX_FIELD_CHARS = 512
MAX_GROUPS_CHARS = 8192  # the groups field: one group per line


@bp.get("/explain")
@admin_page
def explain():
    """The two forms, and the explanation the query string asks for."""
    args = request.args
    values = {
        name: args.get(name, "").strip()[: MAX_GROUPS_CHARS if name == "groups" else MAX_FIELD_CHARS]
        for name in ("user", "mode", "provider", "username", "groups")
    }
    svc = services()
    admin = svc.mapping_admin()
    result, errors, status = None, {}, 200
    try:
        if values["mode"] == "identity" and values["username"]:
            result = admin.explain_identity(
                values["provider"], values["username"], forms.lines(values["groups"], "groups")
            )
        elif values["mode"] == "identity":
            errors = {"username": "Enter a username."}
            status = 400
        elif values["user"]:
            result = admin.explain_user(values["user"])
    except forms.FormProblem as problem:
        errors, status = {problem.field: problem.message}, 400
    except AdminError as refused:
        field = "username" if values["mode"] == "identity" else "user"
        errors, status = {field: forms.plain(refused.message)}, refused.status
    return render(
        "admin/explain.html",
        "explain",
        status,
        values=values,
        errors=errors,
        result=result,
        answer_json=json.dumps(result["answer"], indent=2) if result and result["answer"] else None,
        usernames=[p.username for p in svc.people().all()],
        providers=[p.id for p in svc.providers.active()],
    )
