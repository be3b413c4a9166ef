"""The gateway's icon: the SVG in static/, also answered at /favicon.ico, the path browsers
ask for by default when a page names no icon (or before they have read the page)."""

from __future__ import annotations

from flask import Flask

FAVICON_FILE = "favicon.svg"


def register(app: Flask) -> None:
    """Answer ``GET /favicon.ico`` with the static SVG icon itself (``image/svg+xml``), so it
    is one request and not a redirect."""

    @app.get("/favicon.ico")
    def favicon():
        return app.send_static_file(FAVICON_FILE)
