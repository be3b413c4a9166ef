"""Integration tests: hostile input over HTTP never gets a 500 (brief: "never a 500 for input").

Hypothesis generates forms, raw bodies, content types, headers and hostile JSON (nested too
deep, huge numbers, duplicate keys, NaN, lone surrogates, bytes that are not UTF-8) for every
route that takes a body; the gateway under gunicorn must answer every one with a JSON object
and a status other than 5xx, and log no traceback.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.strictjson import MAX_DEPTH

pytestmark = pytest.mark.integration

FIELD_NAMES = st.sampled_from(["username", "password", "token", "Username", "user", "", "token[]"])
TEXT = st.text(max_size=300) | st.sampled_from(
    ["alice", "admin", "*", "*)(uid=*", "\x00", "a" * 200, "%00", "é", "..", "eyJ.eyJ.sig"]
)
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
@given(
    body=st.binary(max_size=600),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "application/x-www-form-urlencoded; charset=bogus",
            "multipart/form-data",
            "application/json",
            "",
            "*/*",
        ]
    ),
)
def test_any_raw_body_gets_a_clean_answer(contract_gateway, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _check(requests.post(f"{contract_gateway.url}/api/authenticate", data=body, headers=headers, timeout=30))


@FUZZ
@given(
    request_id=st.from_regex(r"[\x21-\x7e]([\x20-\x7e]{0,98}[\x21-\x7e])?", fullmatch=True),
    accept=st.sampled_from(["application/json", "text/html", "*/*", "", "application/xml"]),
)
def test_odd_headers_get_a_clean_answer(contract_gateway, request_id, accept):
    headers = {"Accept": accept}
    try:
        headers["X-Request-ID"] = request_id.encode("latin-1").decode("latin-1")
    except UnicodeEncodeError:
        pass
    _check(
        requests.post(
            f"{contract_gateway.url}/api/authenticate",
            data={"username": "alice", "password": "wrong-password"},
            headers=headers,
            timeout=30,
        )
    )


@pytest.mark.parametrize(
    "token",
    [
        "a" * 8192,
        "eyJhbGciOiJIUzI1NiJ9." * 3,
        "e30.e30.e30",
        "..",
        "....",
        "\u0000" * 10,
        "eyJhbGciOiJFUzI1NiIsImtpZCI6Ilx1MDAwMCJ9.e30.AAAA",
        "W1tb" * 1600 + ".e30.sig",  # 4800 nested JSON arrays in the header
        "W1tb" * 300 + ".e30.sig",  # 900: under the 1 KiB header limit, so it is parsed
        "W1tb" * 4000 + ".e30.sig",  # 12000: over 8 KiB, the IdP token path's length
        "eyJhbGciOiJSUzI1NiJ9." + "W1tb" * 3000 + ".sig",  # 9000 in the payload
    ],
)
def test_token_edge_cases_are_refused_cleanly(contract_gateway, token):
    response = requests.post(f"{contract_gateway.url}/api/authenticate", data={"token": token}, timeout=30)
    assert response.status_code == 401
    _check(response)


# -- hostile JSON: every route that takes a JSON body ------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Every route that reads a JSON body (gateway.http.adminapi.base.body / json_object), plus the
# contract endpoint, which must refuse JSON as the wrong content type.
JSON_ROUTES = [
    ("POST", "/api/authenticate"),
    ("POST", "/api/token"),
    ("POST", "/admin/api/users"),
    ("PUT", "/admin/api/users/alice"),
    ("PUT", "/admin/api/users/alice/changepwd"),
    ("POST", "/admin/api/users/changepwd"),
    ("POST", "/admin/api/users/alice/meta"),
    ("POST", "/admin/api/users/roles"),
    ("POST", "/admin/api/groups"),
    ("POST", "/admin/api/me/app-passwords"),
    ("POST", "/admin/api/me/api-keys"),
    ("POST", "/admin/api/providers/local/test-login"),
    ("PUT", "/admin/api/mapping"),
    ("POST", "/admin/api/mapping/rules"),
    ("PUT", "/admin/api/mapping/rules/pilots"),
    ("POST", "/admin/api/mapping/rules/pilots/move"),
    ("POST", "/admin/api/mapping/dry-run"),
    ("POST", "/admin/api/mapping/explain"),
]
# The regression list: the routes where a deep body was a 500.
DEEP_ROUTES = [
    ("POST", "/api/token"),
    ("POST", "/admin/api/users"),
    ("POST", "/admin/api/users/changepwd"),
    ("PUT", "/admin/api/users/alice/changepwd"),
    ("POST", "/admin/api/me/app-passwords"),
    ("POST", "/admin/api/providers/local/test-login"),
    ("POST", "/admin/api/mapping/dry-run"),
]
DEEP_BODIES = {
    "unbalanced": b"[" * 5000,
    "balanced": b"[" * 3000 + b"]" * 3000,
    "objects": b'{"a":' * 3000 + b"1" + b"}" * 3000,
}


@pytest.fixture(scope="module")
def admin_key(contract_gateway):
    """An admin's API key on the contract gateway (a key: no session for a fuzz run to end)."""
    services = contract_gateway.services()
    try:
        _, secret = services.api_keys.create("admin", "hostile-json")
    finally:
        services.close()
    return secret


def _tracebacks(gateway) -> int:
    return gateway.server.log_text().count("Traceback")


def _post_json(
    gateway, key: str, method: str, path: str, body: bytes, content_type: str = "application/json"
) -> requests.Response:
    return requests.request(
        method,
        f"{gateway.url}{path}",
        data=body,
        timeout=30,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {key}"},
    )


@pytest.mark.parametrize("shape", list(DEEP_BODIES))
def test_a_deeply_nested_json_body_is_a_400_naming_the_problem(contract_gateway, admin_key, shape):
    before = _tracebacks(contract_gateway)
    for method, path in DEEP_ROUTES:
        response = _post_json(contract_gateway, admin_key, method, path, DEEP_BODIES[shape])
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert response.json() == {"error": f"JSON nested deeper than {MAX_DEPTH} levels"}, path
    assert _tracebacks(contract_gateway) == before


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b'{"username": "a", "password": "b", "username": "admin"}',
            "duplicate key 'username' in a JSON object",
        ),
        (
            b'{"username": ' + b"9" * 5000 + b', "password": "b"}',
            "a number too large in JSON (over 100 characters)",
        ),
        (b'{"username": 1e999, "password": "b"}', "a number too large in JSON (beyond a float's range)"),
        (b'{"username": NaN, "password": "b"}', "NaN is not a JSON value"),
        (b'{"username": "\\ud800", "password": "b"}', "a lone surrogate in a JSON string (not Unicode text)"),
        (b'{"username": "\xff", "password": "b"}', "JSON that is not valid UTF-8"),
        (b'{"username": "a", "password": "b"', "invalid JSON at line 1 column 34: expecting ',' delimiter"),
        (b"", "no JSON (the body is empty)"),
    ],
)
def test_hostile_json_to_the_token_endpoint_is_a_400_naming_the_problem(contract_gateway, body, message):
    """Unauthenticated: POST /api/token is open to anyone."""
    before = _tracebacks(contract_gateway)
    response = requests.post(
        f"{contract_gateway.url}/api/token",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text[:200]
    assert response.json() == {"error": message}
    assert _tracebacks(contract_gateway) == before


def test_a_deep_jwt_header_on_the_token_path_is_a_401(contract_gateway):
    before = _tracebacks(contract_gateway)
    for header in (
        b"[" * 700,
        b"[" * 3000 + b"]" * 3000,
        b"[" * 11000,
        b'{"alg": "ES256", "kid": ' + b"[" * 600 + b"}",
    ):
        response = contract_gateway.authenticate({"token": f"{_b64(header)}.e30.sig"})
        assert response.status_code == 401, (len(header), response.text[:200])
        _check(response)
    assert _tracebacks(contract_gateway) == before


# Hostile JSON, as text: the pieces a value is made of, then objects and whole bodies.
_FIELDS = st.sampled_from(
    [
        "username",
        "password",
        "userName",
        "newPassword",
        "currentPassword",
        "name",
        "expiresDays",
        "document",
        "rule",
        "position",
        "roleName",
        "groups",
        "email",
        "displayName",
        "provider",
        "attributes",
        "expectedVersion",
        "maxStorageMB",
        "description",
        "",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_PLAIN = st.builds(
    json.dumps,
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_FIELDS, inner, max_size=3),
        max_leaves=10,
    ),
    ensure_ascii=st.booleans(),
)
_HUGE = st.one_of(
    st.integers(90, 6000).map(lambda n: "9" * n),
    st.integers(90, 6000).map(lambda n: "-1." + "0" * n + "1"),
    st.integers(300, 10**6).map(lambda n: f"1e{n}"),
    st.integers(10**20, 10**99).map(str),  # within the parser's bound: the schemas judge it
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e-99999", "-0"]),
)
_ODD_STRINGS = st.sampled_from(
    ['"\\ud800"', '"x\\udfff"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\\\ud800"', '"[[[[[["', '"\\""']
)


def _nest(depth: int, inner: str, kind: str) -> str:
    opener, closer = ("[", "]") if kind == "array" else ('{"a":', "}")
    return opener * depth + inner + closer * depth


_DEEP = st.builds(_nest, st.integers(MAX_DEPTH - 3, 6000), st.just("1"), st.sampled_from(["array", "object"]))
_VALUES = st.one_of(
    _PLAIN,
    _HUGE,
    _ODD_STRINGS,
    st.builds(_nest, st.integers(1, MAX_DEPTH + 3), _PLAIN, st.sampled_from(["array", "object"])),
)
# Members drawn from a few names: duplicate keys come up often.
_OBJECTS = st.lists(st.tuples(_FIELDS, _VALUES), max_size=5).map(
    lambda members: "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in members) + "}"
)
_TEXTS = st.one_of(_OBJECTS, _DEEP, _VALUES, _DEEP.map(lambda deep: '{"document": ' + deep + "}"))


@st.composite
def hostile_json(draw) -> bytes:
    """A JSON body as bytes: maybe with a BOM, in another encoding, cut short, or with bytes
    that are not UTF-8 spliced in."""
    body = draw(_TEXTS).encode("utf-8", "surrogatepass")
    mangle = draw(st.sampled_from(["none", "none", "bom", "utf16", "cut", "splice"]))
    if mangle == "bom":
        return b"\xef\xbb\xbf" + body
    if mangle == "utf16":
        return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")
    at = draw(st.integers(0, len(body)))
    if mangle == "cut":
        return body[:at]
    if mangle == "splice":
        junk = draw(
            st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xc0\xaf"])
        )
        return body[:at] + junk + body[at:]
    return body


JSON_FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@JSON_FUZZ
@given(
    route=st.sampled_from(JSON_ROUTES),
    body=hostile_json(),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1"]
    ),
)
def test_hostile_json_to_any_route_gets_a_clean_answer(
    contract_gateway, admin_key, route, body, content_type
):
    method, path = route
    before = _tracebacks(contract_gateway)
    _check(_post_json(contract_gateway, admin_key, method, path, body, content_type))
    assert _tracebacks(contract_gateway) == before
