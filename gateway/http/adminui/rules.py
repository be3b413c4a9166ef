"""``/admin/rules``: the mapping policy. The rules in order (move, edit as YAML, delete after
a confirmation that previews the effect), a simple form to add a rule, and the whole policy as
YAML. Every change can be previewed first (who would get what, before and after) and names
the version it was based on, so two admins never overwrite each other (:class:`MappingAdmin`
refuses a stale version; the page then shows the newer one). A policy from the config file is
shown read-only. A rule is edited with the same form that creates it when it says no more than
that form can; any rule can be edited as YAML.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from gateway.admin import mappingdoc
from gateway.admin.errors import AdminError
from gateway.admin.mapping import MappingAdmin
from gateway.config.errors import ConfigError
from gateway.http.adminui import forms, ruleform
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services
from gateway.mapping import parse_policy

NOTICES = {
    "added": "The rule was added.",
    "saved": "The policy was saved.",
    "replaced": "The rule was changed.",
    "deleted": "The rule was deleted.",
    "moved": "The rule was moved.",
}


@bp.get("/rules")
@admin_page
def rules():
    """The policy in force, the add-rule form and the YAML editor."""
    return _page(services().mapping_admin())


@bp.post("/rules/add")
@admin_page
def add_rule():
    """Preview (``action=preview``) or add the rule of the simple form, at the end."""
    admin = services().mapping_admin()
    values = {name: request.form.get(name, "") for name in ruleform.RULE_FIELDS}
    rule, errors = ruleform.read_rule_form(request.form)
    if errors:
        return _page(
            admin, rule_values=values, rule_errors=forms.ordered(errors, ruleform.RULE_FIELDS), status=400
        )
    try:
        if request.form.get("action") == "preview":
            state = admin.current()
            document, index = mappingdoc.insert_rule(state["document"], rule, None)
            return _page(
                admin,
                rule_values=values,
                preview=admin.dry_run(document, rule_index=index),
                preview_of="the new rule",
            )
        saved = admin.add_rule(caller().username, rule, None, _expected(), confirm_quota_shrink=_confirmed())
    except AdminError as refused:
        return _page(
            admin, rule_values=values, rule_errors=ruleform.rule_errors(refused), status=refused.status
        )
    index = len(saved["document"].get("rules") or []) - 1
    return redirect(
        url_for("admin_ui.rules", done="added", _anchor=f"rule-{rule['name']}", **_warned(saved, index)), 303
    )


@bp.post("/rules/document")
@admin_page
def save_document():
    """Preview (``action=preview``) or save the whole policy written as YAML."""
    admin = services().mapping_admin()
    text = request.form.get("document", "")
    try:
        if len(text) > ruleform.MAX_YAML_CHARS:
            raise forms.FormProblem("document", f"At most {ruleform.MAX_YAML_CHARS} characters.")
        try:
            document = mappingdoc.read_policy_yaml(text)
        except ValueError as invalid:
            raise forms.FormProblem("document", forms.sentence(str(invalid))) from None
        _every_policy_problem(document, "document")
        if request.form.get("action") == "preview":
            return _page(admin, document_text=text, preview=admin.dry_run(document), preview_of="this policy")
        saved = admin.save(caller().username, document, _expected(), confirm_quota_shrink=_confirmed())
    except forms.FormProblem as problem:
        return _page(admin, document_text=text, document_error=problem.message, status=400)
    except AdminError as refused:
        return _page(
            admin, document_text=text, document_error=forms.plain(refused.message), status=refused.status
        )
    return redirect(url_for("admin_ui.rules", done="saved", **_warned(saved, None)), 303)


@bp.get("/rules/<name>")
@admin_page
def edit_rule(name: str):
    """One rule: in the form it was created with (when it says no more than that form can),
    and as YAML."""
    admin = services().mapping_admin()
    return _rule_page(admin, name, ruleform.rule_yaml(_rule(admin.current(), name)))


@bp.post("/rules/<name>/form")
@admin_page
def replace_rule_from_form(name: str):
    """Preview (``action=preview``) or save the rule as the simple form now describes it
    (every field's problem shown at once)."""
    admin = services().mapping_admin()
    stored = _rule(admin.current(), name)
    values = {field: request.form.get(field, "") for field in ruleform.RULE_FIELDS}
    rule, errors = ruleform.read_rule_form(request.form)
    text = ruleform.rule_yaml(stored)
    if errors:
        return _rule_page(
            admin,
            name,
            text,
            form_values=values,
            form_errors=forms.ordered(errors, ruleform.RULE_FIELDS),
            status=400,
        )
    try:
        if request.form.get("action") == "preview":
            document, _ = mappingdoc.replace_rule(admin.current()["document"], name, rule)
            return _rule_page(admin, name, text, form_values=values, preview=admin.dry_run(document))
        admin.replace_rule(caller().username, name, rule, _expected(), confirm_quota_shrink=_confirmed())
    except AdminError as refused:
        if refused.status == 404:
            raise
        return _rule_page(
            admin,
            name,
            text,
            form_values=values,
            form_errors=ruleform.rule_errors(refused),
            status=refused.status,
        )
    return redirect(url_for("admin_ui.rules", done="replaced", _anchor=f"rule-{rule['name']}"), 303)


@bp.post("/rules/<name>")
@admin_page
def replace_rule(name: str):
    """Preview (``action=preview``) or save the rule as written."""
    admin = services().mapping_admin()
    text = request.form.get("rule", "")
    try:
        rule = ruleform.rule_from_yaml(text)
        document, index = mappingdoc.replace_rule(admin.current()["document"], name, rule)
        _every_policy_problem(document, "rule", index)
        if request.form.get("action") == "preview":
            return _rule_page(admin, name, text, preview=admin.dry_run(document, rule_index=index))
        saved = admin.replace_rule(
            caller().username, name, rule, _expected(), confirm_quota_shrink=_confirmed()
        )
    except forms.FormProblem as problem:
        return _rule_page(admin, name, text, error=problem.message, status=400)
    except AdminError as refused:
        if refused.status == 404:
            raise
        return _rule_page(admin, name, text, error=forms.plain(refused.message), status=refused.status)
    renamed = rule.get("name") if isinstance(rule.get("name"), str) else name
    saved_at = next(
        (i for i, item in enumerate(saved["document"].get("rules") or []) if item.get("name") == renamed),
        None,
    )
    return redirect(
        url_for(
            "admin_ui.rules",
            done="replaced",
            _anchor=f"rule-{renamed}",
            **_warned(saved, saved_at, everywhere=False),
        ),
        303,
    )


@bp.post("/rules/<name>/move")
@admin_page
def move_rule(name: str):
    admin = services().mapping_admin()
    position = request.form.get("position", "")
    try:
        if not (position.isascii() and position.isdigit()):
            raise AdminError(400, "position: must be a whole number", "position")
        admin.move_rule(caller().username, name, int(position), _expected())
    except AdminError as refused:
        if refused.status == 404:
            raise
        return _page(admin, general_error=forms.plain(refused.message), status=refused.status)
    return redirect(url_for("admin_ui.rules", done="moved", _anchor=f"rule-{name}"), 303)


@bp.get("/rules/<name>/delete")
@admin_page
def confirm_delete_rule(name: str):
    """What deleting the rule would change, and the button that does it."""
    admin = services().mapping_admin()
    state = admin.current()
    _rule(state, name)
    preview = admin.dry_run(mappingdoc.remove_rule(state["document"], name))
    return render("admin/rule_delete.html", "rules", name=name, state=state, preview=preview)


@bp.post("/rules/<name>/delete")
@admin_page
def delete_rule(name: str):
    admin = services().mapping_admin()
    try:
        admin.delete_rule(caller().username, name, _expected(), confirm_quota_shrink=_confirmed())
    except AdminError as refused:
        if refused.status == 404:
            raise
        state = admin.current()
        return render(
            "admin/rule_delete.html",
            "rules",
            refused.status,
            name=name,
            state=state,
            preview=None,
            error=forms.plain(refused.message),
        )
    return redirect(url_for("admin_ui.rules", done="deleted"), 303)


# -- helpers ------------------------------------------------------------------------------------


def _warned(saved: dict[str, Any], index: int | None, *, everywhere: bool = True) -> dict[str, Any]:
    """The query that makes the page after a save show its group warnings again: the index
    of the rule to check (``all``: every rule). The page recomputes them from the saved
    policy, so a link cannot make it show a warning of its own."""
    if not saved.get("warnings") or (index is None and not everywhere):
        return {}
    return {"warned": "all" if index is None else str(index)}


def _warnings() -> list[str]:
    """The group warnings the ``warned`` query asks for (see :func:`_warned`)."""
    warned = request.args.get("warned", "")
    if warned == "all":
        return services().mapping_admin().rule_warnings()
    if warned.isascii() and warned.isdigit() and len(warned) < 5:
        return services().mapping_admin().rule_warnings(int(warned))
    return []


def _every_policy_problem(document: Any, field: str, rule_index: int | None = None) -> None:
    """FormProblem on ``field`` listing, in plain words, every problem of the policy
    ``document`` at once (the admin service would name only the first)."""
    try:
        parse_policy(document, "mapping")
    except ConfigError as invalid:
        problems = [
            forms.plain(f"{mappingdoc.field_of(error.key, rule_index)}: {error.message}")
            for error in invalid.errors
        ]
        raise forms.FormProblem(field, " ".join(problems)) from None


def _expected() -> int | None:
    """The policy version the posted form was based on."""
    text = request.form.get("expected_version", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _rule(state: dict[str, Any], name: str) -> dict[str, Any]:
    for rule in state["document"].get("rules") or []:
        if isinstance(rule, dict) and rule.get("name") == name:
            return rule
    raise AdminError(404, f"no rule {name!r}")


def _page(
    admin: MappingAdmin,
    *,
    status: int = 200,
    rule_values: dict | None = None,
    rule_errors: dict | None = None,
    document_text: str | None = None,
    document_error: str | None = None,
    preview: dict | None = None,
    preview_of: str | None = None,
    general_error: str | None = None,
):
    state = admin.current()
    document = state["document"]
    return render(
        "admin/rules.html",
        "rules",
        status,
        state=state,
        rows=ruleform.rows(document),
        defaults=document,
        checks=ruleform.CHECKS,
        kinds=ruleform.KINDS,
        # Every field present: Jinja falls back to dict attributes (e.g. .values) for a
        # missing key.
        rule_values=rule_values
        or {**dict.fromkeys(ruleform.RULE_FIELDS, ""), "kind": "grant", "who": "group"},
        rule_errors=rule_errors or {},
        document_text=mappingdoc.policy_yaml(document) if document_text is None else document_text,
        document_error=document_error,
        preview=preview,
        preview_of=preview_of,
        general_error=general_error,
        notice=NOTICES.get(request.args.get("done", "")),
        warnings=_warnings() if request.method == "GET" else [],
    )


def _rule_page(
    admin: MappingAdmin,
    name: str,
    text: str,
    *,
    preview: dict | None = None,
    error: str | None = None,
    form_values: dict | None = None,
    form_errors: dict | None = None,
    status: int = 200,
):
    """The rule's page: the simple form (filled from the stored rule unless ``form_values``
    were posted) when the rule fits it, and the YAML editor."""
    state = admin.current()
    stored = _rule(state, name)
    return render(
        "admin/rule_edit.html",
        "rules",
        status,
        name=name,
        state=state,
        text=text,
        preview=preview,
        error=error,
        form_values=form_values or ruleform.form_values(stored),
        form_errors=form_errors or {},
        checks=ruleform.CHECKS,
        kinds=ruleform.KINDS,
    )


def _confirmed() -> bool:
    """The form's "save even if quotas fall below usage" checkbox."""
    return request.form.get("confirmQuotaShrink") == "1"
