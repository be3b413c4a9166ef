"""``/admin/api/audit``: the audit trail, searched and exported.

``GET /audit`` answers a page (``items``, ``total``, ``offset``, ``limit``), newest first;
``GET /audit/export?format=csv|jsonl`` a download of every match, newest first, at most
MAX_EXPORT events (``X-Total-Count`` says how many matched, ``X-Export-Truncated: true`` that
the download stops short). Both take ``event``, ``username``, ``outcome``, ``provider``,
``actor``, ``since`` and ``until`` (ISO 8601; no zone means UTC).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context

from gateway.admin import auditexport
from gateway.admin.auditlog import MAX_EXPORT, MAX_PAGE, AuditFilter
from gateway.admin.errors import AdminError
from gateway.admin.timefmt import parse_iso
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, bp, doc, ok, principal
from gateway.http.adminapi.queryargs import PAGE_QUERY, int_arg, text_arg
from gateway.http.appservices import services
from providers.sql import utcnow

_TEXT = {"type": "string", "maxLength": 200}
FILTER_QUERY: dict[str, dict[str, Any]] = {
    "event": _TEXT,
    "username": _TEXT,
    "outcome": _TEXT,
    "provider": _TEXT,
    "actor": _TEXT,
    "since": {"type": "string", "format": "date-time", "description": "events at or after this time"},
    "until": {"type": "string", "format": "date-time", "description": "events before this time"},
}


@bp.get("/audit")
@doc(
    "Search the audit trail, newest first",
    response_schema=schemas.AuditPage,
    query={**FILTER_QUERY, **PAGE_QUERY},
)
@admin_only
def search_audit():
    offset, limit = int_arg("offset", 0, 0, 10**9), int_arg("limit", 100, 1, MAX_PAGE)
    entries, total = services().audit_query().search(_filter(), offset, limit)
    return ok(
        {
            "items": [auditexport.record(entry) for entry in entries],
            "total": total,
            "offset": offset,
            "limit": limit,
        }
    )


@bp.get("/audit/export")
@doc(
    f"Download the matching audit events as CSV or JSON lines (at most {MAX_EXPORT})",
    query={**FILTER_QUERY, "format": {"type": "string", "enum": list(auditexport.FORMATS)}},
)
@admin_only
def export_audit():
    kind = request.args.get("format", "csv")
    if kind not in auditexport.FORMATS:
        raise AdminError(400, "format must be csv or jsonl", "format")
    return export_response(_filter(), kind, principal().username)


def export_response(where: AuditFilter, kind: str, actor: str) -> Response:
    """The download of the events ``where`` selects as ``kind`` (csv or jsonl), audited as
    exported by ``actor``; shared by the admin API and the audit page's export buttons."""
    query = services().audit_query()
    where = query.snapshot(where)
    total = query.count(where)
    services().audit.record("audit_exported", "ok", actor=actor, format=kind, rows=min(total, MAX_EXPORT))
    lines = (auditexport.csv_rows if kind == "csv" else auditexport.jsonl)(query.export(where))
    response = Response(stream_with_context(lines), mimetype=auditexport.FORMATS[kind])
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{kind}"'
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Export-Truncated"] = "true" if total > MAX_EXPORT else "false"
    return response


def _filter() -> AuditFilter:
    since, until = parse_iso(text_arg("since"), "since"), parse_iso(text_arg("until"), "until")
    if since is not None and until is not None and until < since:
        raise AdminError(400, "until must not be before since", "until")
    return AuditFilter(
        event=text_arg("event"),
        username=text_arg("username"),
        outcome=text_arg("outcome"),
        provider=text_arg("provider"),
        actor=text_arg("actor"),
        since=since,
        until=until,
    )
