"""The one JSON parser for input the gateway does not control: request bodies, the JOSE headers
of presented tokens, and an IdP's answers.

``json.loads`` alone is not fit for hostile input: nesting a few thousand levels deep raises
``RecursionError`` (not ``ValueError``, so ``except ValueError`` and Flask's
``get_json(silent=True)`` let it through as a 500); a number of 5,000 digits raises a bare
``ValueError``; ``NaN`` and ``Infinity`` are accepted although they are not JSON; a duplicate
key silently keeps the last value, so two readers of one document can disagree; and a lone
``\\ud800`` escape makes a string that is not Unicode text (encoding it for a database, a log
or an LDAP filter raises ``UnicodeEncodeError``).
:func:`parse_json` refuses all of these with :class:`HostileJson`, a ``ValueError`` whose
message names the problem and is short enough to send back in a 400.

Pure (no Flask, no I/O) and framework-free, so ``providers`` (which never imports ``gateway``)
and ``gateway`` share it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_BYTES = 1024 * 1024
MAX_NUMBER_CHARS = 100  # sign, digits, point and exponent: no honest number is longer
MAX_KEY_SHOWN = 40

_BOM = "\ufeff"
# A JSON string (possibly unterminated: json.loads refuses that later) and what is left.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Where a surrogate may come from: an escape of one, or (in a str) the character itself.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


class HostileJson(ValueError):
    """JSON that :func:`parse_json` refuses; ``str()`` is a short message naming why."""


def parse_json(data: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """The value of the JSON text ``data`` (UTF-8 when bytes; one leading BOM is ignored).

    Raises :class:`HostileJson` and nothing else for any text that is not plain, unambiguous
    JSON: larger than ``max_bytes`` (characters, for a str), not UTF-8, empty, nested deeper
    than ``max_depth`` arrays and objects, with a duplicate key in an object, with NaN or
    Infinity, with a number longer than MAX_NUMBER_CHARS characters or beyond a float's range,
    with a lone surrogate in a string, or invalid. The depth is checked before parsing, so no
    input can exhaust the stack.
    """
    if len(data) > max_bytes:
        raise HostileJson(f"JSON larger than {max_bytes} bytes")
    text = _text(data)
    if not text.strip():
        raise HostileJson("no JSON (the body is empty)")
    check_depth(text, max_depth)
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except json.JSONDecodeError as error:
        raise HostileJson(
            f"invalid JSON at line {error.lineno} column {error.colno}: "
            f"{error.msg[:1].lower()}{error.msg[1:]}"
        ) from None
    except RecursionError:  # unreachable after check_depth; a last line of defence
        raise HostileJson(f"JSON nested deeper than {max_depth} levels") from None
    if _MAYBE_SURROGATE.search(text):
        refuse_surrogates(value)
    return value


def check_depth(text: str, max_depth: int) -> None:
    """HostileJson when arrays and objects in ``text`` nest deeper than ``max_depth``.

    Linear and without recursion: strings are cut out (brackets in them do not count), then
    the remaining brackets are counted. Only the nesting is judged, not the validity.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise HostileJson(f"JSON nested deeper than {max_depth} levels")
        elif depth:
            depth -= 1


def refuse_surrogates(value: Any) -> None:
    """HostileJson when a string anywhere in the parsed ``value`` (keys included) holds a
    surrogate (from a lone ``\\udXXX`` escape). Iterative, so any depth is safe."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise HostileJson("a lone surrogate in a JSON string (not Unicode text)")
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _text(data: bytes | str) -> str:
    """``data`` as text without a leading BOM; HostileJson when bytes are not UTF-8."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise HostileJson("JSON that is not valid UTF-8") from None
    return data[1:] if data.startswith(_BOM) else data


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict; HostileJson naming the first key given twice."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise HostileJson(f"duplicate key {key[:MAX_KEY_SHOWN]!r} in a JSON object")
            seen.add(key)
    return result


def _int(literal: str) -> int:
    """A JSON integer; HostileJson when it is absurdly long (int() of thousands of digits is
    slow, and beyond 4300 digits a bare ValueError)."""
    if len(literal) > MAX_NUMBER_CHARS:
        raise HostileJson(f"a number too large in JSON (over {MAX_NUMBER_CHARS} characters)")
    return int(literal)


def _float(literal: str) -> float:
    """A JSON number with a fraction or exponent; HostileJson when it is absurdly long or
    beyond a float's range (1e999 would be infinity)."""
    if len(literal) > MAX_NUMBER_CHARS:
        raise HostileJson(f"a number too large in JSON (over {MAX_NUMBER_CHARS} characters)")
    value = float(literal)
    if not math.isfinite(value):
        raise HostileJson("a number too large in JSON (beyond a float's range)")
    return value


def _constant(name: str) -> Any:
    """Always HostileJson: NaN, Infinity and -Infinity are not JSON (RFC 8259 §6)."""
    raise HostileJson(f"{name} is not a JSON value")
