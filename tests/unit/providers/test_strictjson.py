"""Unit tests (no sockets): the one bounded JSON parser (providers.strictjson) and the places
that read untrusted JSON through it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.login.idptokens import _unverified_issuer
from providers.jws import jwt_header, unverified_segment
from providers.oidc.metadata import Answer
from providers.strictjson import MAX_DEPTH, HostileJson, check_depth, parse_json


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


REFUSED = [
    # (JSON text, the message it must name)
    ("[" * 5000, "JSON nested deeper than 64 levels"),
    (_nested(3000), "JSON nested deeper than 64 levels"),
    (_nested(MAX_DEPTH + 1), "JSON nested deeper than 64 levels"),
    ('{"a":' * 100 + "1" + "}" * 100, "JSON nested deeper than 64 levels"),
    ('{"a": 1, "a": 2}', "duplicate key 'a' in a JSON object"),
    ('[{"x": {"k": 1, "k": 1}}]', "duplicate key 'k' in a JSON object"),
    ("1" * 5000, "a number too large in JSON (over 100 characters)"),
    ('{"n": ' + "9" * 101 + "}", "a number too large in JSON (over 100 characters)"),
    ("1e999", "a number too large in JSON (beyond a float's range)"),
    ("-1.5e400", "a number too large in JSON (beyond a float's range)"),
    ("0." + "0" * 200 + "1", "a number too large in JSON (over 100 characters)"),
    ("NaN", "NaN is not a JSON value"),
    ('{"x": Infinity}', "Infinity is not a JSON value"),
    ("[-Infinity]", "-Infinity is not a JSON value"),
    (b'{"a": "\xff"}', "JSON that is not valid UTF-8"),
    (b"\xff\xfe{\x00}\x00", "JSON that is not valid UTF-8"),
    (b"\xed\xa0\x80", "JSON that is not valid UTF-8"),  # an encoded surrogate
    ('"\\ud800"', "a lone surrogate in a JSON string (not Unicode text)"),
    (b'{"\\uDFFF": 1}', "a lone surrogate in a JSON string (not Unicode text)"),
    ('["a", ["x\\udc00"]]', "a lone surrogate in a JSON string (not Unicode text)"),
    ('["\\ude00\\ud83d"]', "a lone surrogate in a JSON string (not Unicode text)"),
    (b"", "no JSON (the body is empty)"),
    ("  \n", "no JSON (the body is empty)"),
    ('{"a" 1}', "invalid JSON at line 1 column 6: expecting ':' delimiter"),
    ("[1, 2", "invalid JSON at line 1 column 6: expecting ',' delimiter"),
    ('{"a": 1}{', "invalid JSON at line 1 column 9: extra data"),
    ('"\x01"', "invalid JSON at line 1 column 2: invalid control character at"),
    ("\ufeff[1,", "invalid JSON at line 1 column 4: expecting value"),
]


@pytest.mark.parametrize("text, message", REFUSED, ids=lambda v: repr(v)[:30])
def test_hostile_json_is_refused_with_a_message_naming_the_problem(text, message):
    with pytest.raises(HostileJson) as raised:
        parse_json(text)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


ACCEPTED = [
    # (JSON text, its value)
    (_nested(MAX_DEPTH - 1), json.loads(_nested(MAX_DEPTH - 1))),
    ("[" * MAX_DEPTH + "]" * MAX_DEPTH, json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
    ('{"a":' * 63 + "1" + "}" * 63, json.loads('{"a":' * 63 + "1" + "}" * 63)),
    ('["' + "[" * 5000 + '"]', ["[" * 5000]),  # brackets inside a string are no nesting
    ('["\\"[[[", {"k": "]]]{{{"}]', ['"[[[', {"k": "]]]{{{"}]),
    ('{"a": 1, "A": 2, "b": {"a": 3}}', {"a": 1, "A": 2, "b": {"a": 3}}),
    ("9" * 100, int("9" * 100)),
    ("-1.5e300", -1.5e300),
    ("1e-999", 0.0),
    (b'\xef\xbb\xbf{"bom": true}', {"bom": True}),  # one leading UTF-8 BOM is ignored
    ("\ufeff[]", []),
    ('{"name": "\u00e9\u4e2d"}'.encode(), {"name": "\u00e9\u4e2d"}),
    ('["\\ud83d\\ude00"]', ["\U0001f600"]),  # a surrogate pair is one character
    ('["\\\\ud800"]', ["\\ud800"]),  # an escaped backslash, then text
    ("null", None),
    (' "text" ', "text"),
]


@pytest.mark.parametrize("text, value", ACCEPTED, ids=lambda v: repr(v)[:30])
def test_plain_json_within_the_limits_is_parsed(text, value):
    assert parse_json(text) == value


def test_the_size_and_depth_limits_are_the_callers():
    assert parse_json(_nested(100), max_depth=100) == json.loads(_nested(100))
    with pytest.raises(HostileJson, match="nested deeper than 3 levels"):
        parse_json(_nested(4), max_depth=3)
    with pytest.raises(HostileJson, match="JSON larger than 10 bytes"):
        parse_json(b"[" + b"1," * 10 + b"1]", max_bytes=10)
    assert parse_json(b"[1, 2, 3]", max_bytes=9) == [1, 2, 3]


def test_the_depth_check_is_linear_and_judges_only_nesting():
    check_depth("[" * 300_000, 10**6)  # no recursion, whatever the depth
    check_depth("]]]}}}", 1)  # closing without opening: json.loads says so later
    check_depth('"[[[[[[ unterminated', 2)  # a string runs to the end: json.loads says so
    with pytest.raises(HostileJson):
        check_depth('"in a string [[[" [[[', 2)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES, noise=st.binary(max_size=20), cut=st.integers(0, 400))
def test_any_bytes_raise_only_hostile_json(value, noise, cut):
    """Valid JSON round-trips; any cut or noise gives a value or HostileJson, nothing else."""
    text = json.dumps(value, allow_nan=False)
    assert parse_json(text) == value
    for data in (text.encode()[:cut] + noise, noise + text.encode(), "[" * cut + text):
        try:
            parse_json(data)
        except HostileJson:
            pass


# -- the readers of untrusted JSON ------------------------------------------------------------


def _segment(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_an_idp_answer_of_hostile_json_is_no_json_object():
    """Discovery, JWKS, token, userinfo and introspection answers: None, never RecursionError."""
    for body in (
        b"[" * 100_000,
        _nested(3000).encode(),
        b'{"a": 1, "a": 2}',
        b"NaN",
        b'{"keys": [' * 40 + b"]}" * 40,
    ):
        assert Answer(200, "application/json", body).json() is None
    assert Answer(200, "application/json", b'{"keys": []}').json() == {"keys": []}


@pytest.mark.parametrize(
    "header",
    [
        "[" * 12000,
        _nested(3000),
        '{"alg": "RS256", "alg": "none"}',
        '{"alg": "RS256", "x": ' + _nested(100) + "}",
    ],
)
def test_hostile_jwt_headers_are_no_header(header):
    token = f"{_segment(header)}.{_segment('{}')}.sig"
    assert jwt_header(token) is None
    assert unverified_segment(_segment(header)) is None
    assert _unverified_issuer(token) is None


@pytest.mark.parametrize("payload", ["[" * 12000, '{"iss": "https://a.example", "iss": "https://b.example"}'])
def test_hostile_jwt_payloads_route_nowhere(payload):
    header = _segment('{"alg": "RS256"}')
    assert _unverified_issuer(f"{header}.{_segment(payload)}.sig") is None
