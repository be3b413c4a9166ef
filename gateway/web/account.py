"""The self-service page of a signed-in person: what the Registry receives for them, and their
app passwords for the command line (create: shown once; revoke)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from flask import Blueprint, redirect, request

from gateway.answer import build_answer
from gateway.apppasswords import AppPasswordError
from gateway.sessions import SessionRecord
from gateway.web.browser import (FORM_EXPIRED, csrf_ok, csrf_token, error_page, page, services,
                                 signed_in)
from providers.sql import utcnow

bp = Blueprint("account", __name__)


@bp.get("/account")
def show():
    session = signed_in()
    if session is None:
        return redirect("/", 303)
    return _render(session)


@bp.post("/account/app-passwords")
def create_app_password():
    session = signed_in()
    if session is None:
        return redirect("/", 303)
    if not csrf_ok(session):
        return error_page(403, FORM_EXPIRED)
    name = request.form.get("name", "")
    days = request.form.get("expires_days", "").strip()
    try:
        lifetime = _lifetime(days)
        view, password = services().app_passwords.create(session.username, name, lifetime)
    except AppPasswordError as error:
        return _render(session, error=str(error), status=400)
    services().audit.record("app_password_created", "ok", username=session.username,
                            app_password=view.id)
    return _render(session, new_password=password, new_name=view.name, status=201)


@bp.post("/account/app-passwords/<public_id>/revoke")
def revoke_app_password(public_id: str):
    session = signed_in()
    if session is None:
        return redirect("/", 303)
    if not csrf_ok(session):
        return error_page(403, FORM_EXPIRED)
    if services().app_passwords.revoke(session.username, public_id[:32]):
        services().audit.record("app_password_revoked", "ok", username=session.username,
                                app_password=public_id[:32])
    return redirect("/account", 303)


def _lifetime(days: str) -> timedelta | None:
    if not days:
        return None
    if not re.fullmatch(r"[0-9]{1,5}", days):
        raise AppPasswordError("expiry must be a whole number of days")
    return timedelta(days=int(days))


def _render(session: SessionRecord, *, status: int = 200, **extra):
    svc = services()
    evaluation = svc.mapping.evaluate(session.identity)
    answer = None if evaluation.denied else build_answer(session.identity.username, evaluation)
    app_passwords = svc.app_passwords.list(session.username)
    return page("account.html", status, session=session, csrf=csrf_token(session),
                answer_json=json.dumps(answer, indent=2) if answer else None,
                app_passwords=app_passwords, now=utcnow(), **extra)
