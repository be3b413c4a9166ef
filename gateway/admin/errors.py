"""The one error type of the admin layer: an HTTP status, a message fit to show, the field."""

from __future__ import annotations


class AdminError(Exception):
    """A request the admin layer refuses. ``field`` names the offending input, if one."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, retry_after: int | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.retry_after = retry_after
