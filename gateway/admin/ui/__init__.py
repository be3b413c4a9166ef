"""The admin web UI under ``/admin`` (to be filled in)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the admin UI's blueprint(s) on ``app``."""
