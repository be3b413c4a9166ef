"""``/admin/audit``: the audit trail, newest first, filtered by event, user, outcome,
provider, acting admin and a date range (whole UTC days, both ends included); event and
outcome are chosen from the known names; the matching events download as CSV or JSON lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import request

from gateway.admin import auditexport
from gateway.admin.auditlog import AuditFilter
from gateway.admin.errors import AdminError
from gateway.http.adminapi.audit import export_response
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.paging import Paging, page_number
from gateway.http.appservices import services
from gateway.observe.auditevents import EVENTS, OUTCOMES

PER_PAGE = 50
TEXT_FILTERS = ("event", "username", "outcome", "provider", "actor")
MAX_FILTER_CHARS = 200


@bp.get("/audit")
@admin_page
def audit():
    """One page of audit events for the query string's filters; a date that is not a date is
    shown as an error next to its field and ignored."""
    values, where, errors = _filters()
    query = services().audit_query()
    number = page_number(request.args)
    entries, total = query.search(where, offset=(number - 1) * PER_PAGE, limit=PER_PAGE)
    paging = Paging(number, PER_PAGE, total, "/admin/audit", values)
    if number > paging.pages:
        paging = Paging(paging.pages, PER_PAGE, total, paging.path, values)
        entries, total = query.search(where, offset=paging.offset, limit=PER_PAGE)
    return render(
        "admin/audit.html",
        "audit",
        400 if errors else 200,
        entries=entries,
        paging=paging,
        first_last=paging.first_last(len(entries)),
        values=values,
        errors=errors,
        filtered=any(values.values()),
        events=_choices(EVENTS, values["event"]),
        outcomes=_choices(OUTCOMES, values["outcome"]),
        export_query={name: value for name, value in values.items() if value and name not in errors},
        formats=list(auditexport.FORMATS),
    )


@bp.get("/audit/export")
@admin_page
def export_audit():
    """The events the page's filters select, as a CSV or JSON lines download (the admin API's
    export, with the page's whole-day dates)."""
    kind = request.args.get("format", "csv")
    if kind not in auditexport.FORMATS:
        raise AdminError(400, "Choose CSV or JSONL.")
    _values, where, errors = _filters()
    if errors:
        raise AdminError(400, " ".join(errors.values()))
    return export_response(where, kind, caller().username)


def _filters() -> tuple[dict[str, str], AuditFilter, dict[str, str]]:
    """The query string's filter values, the filter they make, and errors by field."""
    args = request.args
    values = {
        name: args.get(name, "").strip()[:MAX_FILTER_CHARS] for name in (*TEXT_FILTERS, "since", "until")
    }
    errors: dict[str, str] = {}
    since = _day(values["since"], "since", errors)
    until = _day(values["until"], "until", errors)
    where = AuditFilter(
        event=values["event"] or None,
        username=values["username"] or None,
        outcome=values["outcome"] or None,
        provider=values["provider"] or None,
        actor=values["actor"] or None,
        since=since,
        until=until + timedelta(days=1) if until else None,
    )
    return values, where, errors


def _choices(known: dict[str, str], current: str) -> list[tuple[str, str]]:
    """The select's options: every known name, and the current value should a link name one
    the list does not know (an older or newer gateway's event)."""
    options = sorted(known.items())
    if current and current not in known:
        options.insert(0, (current, "not a known name"))
    return options


def _day(text: str, field: str, errors: dict[str, str]) -> datetime | None:
    """The start (UTC) of the day ``YYYY-MM-DD`` in ``text``; None when empty or not a date."""
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
    except ValueError:
        errors[field] = "Enter a date as YYYY-MM-DD."
        return None


def details(detail: dict) -> str:
    """An event's detail without the actor (shown in its own column), as ``key=value``."""
    return ", ".join(f"{key}={value}" for key, value in detail.items() if key != "actor")


@bp.app_template_filter("admin_details")
def _details_filter(detail: dict) -> str:
    return details(detail)
