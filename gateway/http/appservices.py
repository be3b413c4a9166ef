"""The one way an HTTP handler reaches the gateway's parts: the services of the app that
serves the request (built by :func:`gateway.app.create_app`)."""

from __future__ import annotations

from flask import current_app

from gateway.services import Services


def services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions["gateway"]
