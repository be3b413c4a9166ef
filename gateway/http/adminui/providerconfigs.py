"""``/admin/providers/...``: adding, changing, ordering, enabling and removing the providers
kept in the database (``provider_source: database``), with the guided form each such type
declares (``providers/<type>/adminform.py``: its inputs, such as LDAP's presets; the redirect
URI to copy for a type that signs browsers in) and the diagnostics buttons it offers: test the
connection, try a user search, show a user's groups and what the mapping would give them,
check an IdP's discovery. Nothing is saved until "Save"; every change is a POST with the CSRF
token that redirects (303) back to the providers page. In ``file`` mode the pages refuse (409).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.admin.providerconfigs import ProviderConfigs, ProviderInvalid, editable_types
from gateway.http.adminui import forms, providerdiagnose, providerform
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services
from providers.base import CallbackProvider
from providers.catalog import CATALOG

MAX_USERNAME_CHARS = 256
NOTICES = {
    "added": "The provider was added. It is in force on every worker and replica within a second or two.",
    "changed": "The provider was changed. The change is in force everywhere within a second or two.",
    "removed": "The provider was removed.",
    "enabled": "The provider was enabled.",
    "disabled": "The provider was disabled: no sign-in asks it.",
    "moved": "The order was changed.",
}


def _configs() -> ProviderConfigs:
    return services().provider_configs()


@bp.get("/providers/new/<kind>")
@admin_page
def new_provider(kind: str):
    """An empty guided form for a provider of type ``kind`` (one with a guided form)."""
    _kind(kind)
    _configs().list()  # nothing to show in file mode
    return _form(kind, None, providerform.new_values(kind))


@bp.post("/providers/new/<kind>")
@admin_page
def create_provider(kind: str):
    """A diagnostics button, or Save: add the provider and go back to the list."""
    _kind(kind)
    return _submit(kind, None)


@bp.get("/providers/<provider_id>/edit")
@admin_page
def edit_provider(provider_id: str):
    configs = _configs()
    kind, section, _ = configs.stored_section(provider_id)
    item = configs.get(provider_id)
    values = providerform.values_from_section(kind, section, enabled=item["enabled"])
    values["id"] = provider_id
    return _form(kind, provider_id, values)


@bp.post("/providers/<provider_id>/edit")
@admin_page
def update_provider(provider_id: str):
    kind, _, _ = _configs().stored_section(provider_id)
    return _submit(kind, provider_id)


@bp.post("/providers/<provider_id>/enable")
@admin_page
def enable_provider(provider_id: str):
    return _change(lambda c, actor: c.set_enabled(actor, provider_id, True), "enabled", provider_id)


@bp.post("/providers/<provider_id>/disable")
@admin_page
def disable_provider(provider_id: str):
    return _change(lambda c, actor: c.set_enabled(actor, provider_id, False), "disabled", provider_id)


@bp.post("/providers/<provider_id>/move")
@admin_page
def move_provider(provider_id: str):
    """Move up or down one place (``direction``), or to ``position``."""
    item = _configs().get(provider_id)
    direction = request.form.get("direction")
    text = request.form.get("position", "")
    position: Any
    if direction in ("up", "down"):
        # Positions count among the database's providers (the file's always come first).
        position = max(0, item["position"] + (-1 if direction == "up" else 1))
    else:
        position = int(text) if text.isascii() and text.isdigit() and len(text) < 4 else text
    return _change(lambda c, actor: c.move(actor, provider_id, position), "moved", provider_id)


@bp.get("/providers/<provider_id>/delete")
@admin_page
def confirm_delete_provider(provider_id: str):
    item = _configs().get(provider_id)
    if not item["editable"]:
        raise AdminError(409, f"provider {provider_id!r} is configured in the config file; change it there")
    return render("admin/provider_delete.html", "providers", item=item)


@bp.post("/providers/<provider_id>/delete")
@admin_page
def delete_provider(provider_id: str):
    return _change(lambda c, actor: c.delete(actor, provider_id), "removed", None)


# -- helpers ------------------------------------------------------------------------------------


def _kind(kind: str) -> None:
    if kind not in editable_types():
        raise AdminError(404, f"no provider type {kind!r} can be added here")


def _change(operation, done: str, provider_id: str | None):
    operation(_configs(), caller().username)
    anchor = f"configured-{provider_id}" if provider_id else "configured-providers"
    return redirect(url_for("admin_ui.providers", done=done, _anchor=anchor), 303)


def _submit(kind: str, provider_id: str | None):
    """Save, or run the diagnostic button pressed, on the posted form."""
    configs = _configs()
    form = request.form
    values = providerform.values_from_form(kind, form, form.getlist)
    if provider_id is not None:
        values["id"] = provider_id
    new_id = provider_id or form.get("id", "").strip()
    action = form.get("action", "save")
    try:
        section = providerform.section_from_form(kind, form, form.getlist)
    except forms.FormProblem as problem:
        return _form(kind, provider_id, values, {problem.field: problem.message}, status=400)
    if action in providerdiagnose.ACTIONS:
        return _diagnose(configs, kind, provider_id, new_id, section, values, action)
    try:
        if provider_id is None:
            configs.create(caller().username, new_id, kind, section, enabled=values["enabled"])
        else:
            configs.update(caller().username, provider_id, section, enabled=values["enabled"])
    except ProviderInvalid as invalid:
        errors = providerform.field_errors(kind, invalid.errors)
        return _form(kind, provider_id, values, errors, status=400)
    except AdminError as refused:
        if refused.status == 404:
            raise
        errors = forms.admin_errors(refused, providerform.input_names(kind))
        return _form(kind, provider_id, values, errors, status=refused.status)
    done = "added" if provider_id is None else "changed"
    return redirect(url_for("admin_ui.providers", done=done, _anchor=f"configured-{new_id}"), 303)


def _diagnose(configs, kind, provider_id, new_id, section, values, action):
    username = values.get("probe_username", "").strip()[:MAX_USERNAME_CHARS]
    if action in providerdiagnose.NEEDS_USERNAME and not username:
        return _form(
            kind, provider_id, values, {"probe_username": "Enter a username to look up."}, status=400
        )
    # An unsaved id still needs a valid one for the check; the saved secrets fill what is masked
    # (never when the address changed: that secret must be typed again).
    try:
        merged = configs.merged_section(provider_id or "", section)
    except ProviderInvalid as invalid:
        return _form(kind, provider_id, values, providerform.field_errors(kind, invalid.errors), status=400)
    config = {**merged, "id": new_id or "unsaved", "type": kind}
    try:
        result = providerdiagnose.run(action, config, username, actor=caller().username)
    except AdminError as refused:  # a username the check cannot use, or past the rate
        if refused.field == "username":
            errors = {"probe_username": forms.plain(refused.message)}
        else:
            errors = forms.admin_errors(refused, providerform.input_names(kind))
        return _form(kind, provider_id, values, errors, status=refused.status)
    return _form(kind, provider_id, values, diagnosis=result)


def _form(
    kind: str,
    provider_id: str | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    diagnosis: dict[str, Any] | None = None,
    status: int = 200,
):
    svc = services()
    configs = svc.provider_configs()
    if not configs.editable:
        raise AdminError(409, "providers are managed by the config file (provider_source: file)")
    shown_id = provider_id or values.get("id") or "<id>"
    browser_sign_on = CallbackProvider in CATALOG[kind].capabilities
    return render(
        "admin/provider_edit.html",
        "providers",
        status,
        kind=kind,
        form=providerform.admin_form(kind),
        groups=providerform.grouped(kind),
        provider_id=provider_id,
        values=values,
        errors=forms.ordered(errors or {}, providerform.input_names(kind)),
        options=providerform.options_of(kind),
        buttons=providerform.CHECK_BUTTONS,
        needs_username=providerdiagnose.NEEDS_USERNAME,
        redirect_uri=svc.sso.callback_url(shown_id) if browser_sign_on else None,
        sso_enabled=svc.config.sso.enabled,
        diagnosis=diagnosis,
        actions=providerdiagnose.ACTIONS,
    )
