"""The admin web UI under ``/admin``: server-rendered pages over the same admin services as
the admin API (:mod:`gateway.admin.users` ...), for a signed-in browser whose user holds the
admin role. Every form posts with the session's CSRF token; the pages need no JavaScript.

Modules: ``base`` (guard, navigation, layout), ``sections`` (the overview),
``users`` (list, create), ``bulk`` (bulk actions on the list), ``user`` (detail and
changes), ``groups``, ``roles``, ``rules`` (the mapping policy), ``explain``, ``sessions``,
``activity`` (who is in), ``audit``, ``providers``, ``sync`` (the directory sync); helpers
``forms``, ``userlist``, ``ruleform`` and ``paging``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask

from gateway.admin.errors import AdminError
from gateway.http.adminui import (  # noqa: F401  (routes register on import)
    activity,
    audit,
    bulk,
    email,
    explain,
    groups,
    providerconfigs,
    providers,
    registrations,
    roles,
    rules,
    sections,
    sessions,
    sync,
    user,
    users,
)
from gateway.http.adminui.base import admin_error, bp
from gateway.http.adminui.storageview import Usage, usage
from gateway.http.pagehandlers import install_page_handlers

install_page_handlers(bp)
bp.register_error_handler(AdminError, admin_error)


@bp.app_template_filter("admin_when")
def when(value: datetime | None, empty: str = "never", seconds: bool = False) -> str:
    """A time as ``YYYY-MM-DD HH:MM UTC`` (``HH:MM:SS`` with ``seconds``); ``empty`` for
    None."""
    if value is None:
        return empty
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("admin_quota")
def quota(value: int | None) -> str:
    """A storage quota in MB as people read it: ``51,200 MB``, or ``unlimited`` for None."""
    return "unlimited" if value is None else f"{value:,} MB"


@bp.app_template_filter("admin_usage")
def storage_usage(used_bytes: int | None, quota_mb: int | None) -> Usage:
    """Registry storage used against the quota, with its badge level (see storageview)."""
    return usage(used_bytes, quota_mb)


def register(app: Flask) -> None:
    """Register the admin UI's blueprint on ``app``."""
    app.register_blueprint(bp)
