"""How the admin UI shows a user's Registry storage against their quota."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
NEAR = 0.9  # from 90 % of the quota, a "near quota" badge


@dataclass(frozen=True)
class Usage:
    """``text`` such as ``900.0 MB of 1,000 MB``; ``level`` is ``over``, ``near`` or ``""``."""

    text: str
    level: str = ""


def usage(used_bytes: int | None, quota_mb: int | None) -> Usage:
    """What the users list and user page show: unknown (``—``) without figures; against
    ``quota_mb`` (None: unlimited)."""
    if used_bytes is None:
        return Usage("—")
    used = f"{used_bytes / MIB:,.1f} MB"
    if quota_mb is None:
        return Usage(f"{used} (unlimited)")
    limit = quota_mb * MIB
    level = "over" if used_bytes > limit else "near" if used_bytes >= NEAR * limit else ""
    return Usage(f"{used} of {quota_mb:,} MB", level)
