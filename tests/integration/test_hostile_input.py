"""Integration tests: hostile input over HTTP never gets a 500 (brief: "never a 500 for input").

Hypothesis generates forms, raw bodies, content types and headers; the gateway under gunicorn
must answer every one with a JSON object and a status other than 5xx.
"""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

FIELD_NAMES = st.sampled_from(["username", "password", "token", "Username", "user", "", "token[]"])
TEXT = st.text(max_size=300) | st.sampled_from(
    ["alice", "admin", "*", "*)(uid=*", "\x00", "a" * 200, "%00", "é", "..", "eyJ.eyJ.sig"])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _check(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body = json.loads(response.text)
    assert isinstance(body, dict)
    assert "Traceback" not in response.text


@FUZZ
@given(fields=st.lists(st.tuples(FIELD_NAMES, TEXT), max_size=4))
def test_any_form_gets_a_clean_answer(contract_gateway, fields):
    _check(requests.post(f"{contract_gateway.url}/api/authenticate", data=fields, timeout=30))


@FUZZ
@given(body=st.binary(max_size=600),
       content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                     "application/x-www-form-urlencoded; charset=latin-1",
                                     "application/x-www-form-urlencoded; charset=bogus",
                                     "multipart/form-data", "application/json", "", "*/*"]))
def test_any_raw_body_gets_a_clean_answer(contract_gateway, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _check(requests.post(f"{contract_gateway.url}/api/authenticate", data=body,
                         headers=headers, timeout=30))


@FUZZ
@given(request_id=st.from_regex(r"[\x21-\x7e]([\x20-\x7e]{0,98}[\x21-\x7e])?",
                                fullmatch=True),
       accept=st.sampled_from(["application/json", "text/html", "*/*", "", "application/xml"]))
def test_odd_headers_get_a_clean_answer(contract_gateway, request_id, accept):
    headers = {"Accept": accept}
    try:
        headers["X-Request-ID"] = request_id.encode("latin-1").decode("latin-1")
    except UnicodeEncodeError:
        pass
    _check(requests.post(f"{contract_gateway.url}/api/authenticate",
                         data={"username": "alice", "password": "wrong-password"},
                         headers=headers, timeout=30))


@pytest.mark.parametrize("token", [
    "a" * 8192, "eyJhbGciOiJIUzI1NiJ9." * 3, "e30.e30.e30", "..", "....", "\u0000" * 10,
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Ilx1MDAwMCJ9.e30.AAAA",
    "W1tb" * 1600 + ".e30.sig",          # 4800 nested JSON arrays in the header
])
def test_token_edge_cases_are_refused_cleanly(contract_gateway, token):
    response = requests.post(f"{contract_gateway.url}/api/authenticate", data={"token": token},
                             timeout=30)
    assert response.status_code == 401
    _check(response)
