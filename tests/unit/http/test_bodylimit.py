"""Unit tests (no sockets): gateway.http.bodylimit's limits per path and its answers outside gunicorn
(the over-HTTP behaviour under gunicorn is tests/integration/http/test_body_limits.py)."""

from __future__ import annotations

import io

import pytest
from flask import Flask, request

from gateway.http.bodylimit import BodyLimitMiddleware


@pytest.fixture
def client():
    app = Flask(__name__)

    @app.post("/<path:path>")
    def echo(path):
        return {"length": request.content_length, "body": request.get_data(as_text=True)}

    app.wsgi_app = BodyLimitMiddleware(app.wsgi_app, 100, {"/admin/api": 1000})
    return app.test_client()


@pytest.mark.parametrize(
    "path, limit",
    [
        ("/api/authenticate", 100),
        ("/admin/api", 1000),
        ("/admin/api/mapping", 1000),
        ("/admin/apix", 100),
        ("/admin", 100),
    ],
)
def test_a_path_has_the_limit_of_its_prefix(path, limit):
    assert BodyLimitMiddleware(None, 100, {"/admin/api/": 1000}).limit_for(path) == limit


@pytest.mark.parametrize(
    "path, size, status",
    [
        ("/api/x", 100, 200),
        ("/api/x", 101, 413),
        ("/admin/api/x", 1000, 200),
        ("/admin/api/x", 1001, 413),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_bodies_over_the_limit_are_413_however_framed(client, path, size, status, streamed):
    body = b"x" * size
    if streamed:  # no Content-Length: the body ends where the stream does, as a chunked one
        response = client.post(path, input_stream=io.BytesIO(body))
    else:
        response = client.post(path, data=body)
    assert response.status_code == status
    if status == 413:
        assert response.json == {"error": "request entity too large"}
        assert response.headers["Connection"] == "close"
    else:
        assert response.json == {"length": size, "body": body.decode()}
