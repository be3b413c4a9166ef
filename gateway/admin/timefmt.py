"""Times in and out of the admin API: ISO 8601, always with a zone (UTC when stored without)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.admin.errors import AdminError


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 with its offset; stored naive times are UTC."""
    if value is None:
        return None
    return aware(value).isoformat()


def aware(value: datetime) -> datetime:
    """``value`` with a zone: a naive time is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def parse_iso(text: str | None, field: str) -> datetime | None:
    """The UTC time ``text`` (ISO 8601; no zone means UTC) names, None for none; 400 naming
    ``field`` when it is not a time."""
    if text is None or text == "":
        return None
    try:
        return aware(datetime.fromisoformat(text.strip())).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
        raise AdminError(400, f"{field} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z", field) from None
