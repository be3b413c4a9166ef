"""HTTP-level behaviour of the app, in process (the ``app``/``client`` fixtures: no server, no
sockets): probes, the JWKS, error answers to hostile input, and the shape of a 404."""

from __future__ import annotations

import pytest

from tests.unit.conftest import UNIT_ADMIN_PASSWORD


def test_liveness_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_reports_the_database_and_is_never_cached(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["database"]["ok"] is True


def test_the_jwks_publishes_the_signing_key_for_five_minutes(client, services):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    kids = {key["kid"] for key in response.get_json()["keys"]}
    assert kids == {key["kid"] for key in services.keyring.list_keys()}
    assert kids


def test_the_favicon_is_the_static_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data == client.get("/static/favicon.svg").data
    assert response.data.lstrip().startswith(b"<svg")


def test_pages_link_the_svg_icon(client):
    assert b'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/login").data


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/robots.txt")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": "not found"}


def test_a_wrong_method_is_a_405_naming_the_allowed_ones(client):
    response = client.get("/api/authenticate")
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"username": NaN, "password": "b"}', "NaN is not a JSON value"),
        (b'{"username": "\xff", "password": "b"}', "JSON that is not valid UTF-8"),
        (b"", "no JSON (the body is empty)"),
    ],
)
def test_hostile_json_to_the_token_endpoint_is_a_400_naming_the_problem(client, body, message):
    response = client.post("/api/token", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "admin"},  # no password
        {"username": "a\x00b", "password": "x"},
        {"token": ""},
        {"username": "admin", "password": "x", "token": "y"},
    ],
)
def test_odd_forms_to_the_contract_endpoint_get_a_json_4xx(client, fields):
    response = client.post("/api/authenticate", data=fields)
    assert 400 <= response.status_code < 500
    assert isinstance(response.get_json(), dict)
    assert "error" in response.get_json()


def test_the_contract_endpoint_answers_the_admin_with_roles(client):
    response = client.post("/api/authenticate", data={"username": "admin", "password": UNIT_ADMIN_PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert "admin" in response.get_json()["roles"]
