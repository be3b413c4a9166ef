"""Audit events as CSV or JSON lines, written one event at a time (for a streamed download)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from gateway.admin.auditlog import AuditEntry
from gateway.admin.timefmt import iso

COLUMNS = ("id", "at", "event", "outcome", "username", "provider", "actor", "detail")
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
# A spreadsheet runs a cell that starts with one of these as a formula; usernames in the trail
# are typed by anyone who tries to log in.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def record(entry: AuditEntry) -> dict[str, Any]:
    """One event as the API shows it."""
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "event": entry.event,
        "outcome": entry.outcome,
        "username": entry.username,
        "provider": entry.provider,
        "actor": entry.actor,
        "detail": entry.detail,
    }


def jsonl(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """One JSON object per line."""
    for entry in entries:
        yield json.dumps(record(entry), ensure_ascii=False, sort_keys=True) + "\n"


def csv_rows(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """A header line, then one line per event; ``detail`` is its JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(COLUMNS)
    for entry in entries:
        shown = record(entry)
        shown["detail"] = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)
        yield line([_cell(shown[column]) for column in COLUMNS])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
