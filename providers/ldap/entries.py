"""Directory entries as plain values, searches that page, and the escaping of typed input.

Attribute names are compared case-insensitively (LDAP says so), so entries keep them
lower-cased. Values stay raw bytes until a caller decodes them: ``objectGUID`` is binary.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from providers.ldap.connections import UNAVAILABLE_CODES, ServerFailure, ServerRefused

_PAGED_RESULTS = "1.2.840.113556.1.4.319"
_SCOPES = {"subtree": ldap3.SUBTREE, "one": ldap3.LEVEL, "base": ldap3.BASE}
_NO_SUCH_OBJECT = 32
_SIZE_LIMIT_EXCEEDED = 4
_DN_ESCAPE = re.compile(r"\\([0-9a-fA-F]{2}|.)", re.DOTALL)


@dataclass(frozen=True)
class Entry:
    dn: str
    attributes: Mapping[str, Sequence[bytes]]  # lower-cased names

    def values(self, name: str | None) -> list[str]:
        """Every value of ``name`` as text; [] when absent. AD's binary ids are formatted
        (objectGUID as a UUID, objectSid as S-1-...), other values that are not UTF-8 as hex,
        so that distinct values never come out equal."""
        if not name:
            return []
        raw = self.attributes.get(name.lower(), ())
        kind = name.lower()
        if kind == "objectguid":
            return [str(uuid.UUID(bytes_le=bytes(v))) if len(v) == 16 else bytes(v).hex() for v in raw]
        if kind == "objectsid":
            return [_sid(bytes(v)) for v in raw]
        return [_text(bytes(v)) for v in raw]

    def first(self, name: str | None) -> str | None:
        values = self.values(name)
        return values[0] if values else None


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def _sid(value: bytes) -> str:
    """A Windows security identifier in its S-1-... form (hex when malformed)."""
    if len(value) < 8 or len(value) != 8 + 4 * value[1]:
        return value.hex()
    authority = int.from_bytes(value[2:8], "big")
    subs = [int.from_bytes(value[8 + 4 * i : 12 + 4 * i], "little") for i in range(value[1])]
    return "-".join(["S", str(value[0]), str(authority), *map(str, subs)])


def normal_dn(dn: str) -> str:
    """``dn`` with every value escaped the one RFC 4514 way (servers differ: slapd writes
    ``\\2C`` where a rule author writes ``\\,``); attribute types keep their case."""
    if "\\" not in dn:
        return dn  # nothing escaped, nothing to normalise (the common case, and it is hot)
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except Exception:
        return dn
    out = []
    for kind, value, separator in parts:
        out.append(f"{kind}={_escape_value(_unescape_dn_value(value))}")
        out.append(separator or "")
    return "".join(out)


def filter_with(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` replaced by its value, filter-escaped exactly once."""
    result = template
    for name, value in values.items():
        result = result.replace("{" + name + "}", escape_filter_chars(value))
    return result


def dn_with(template: str, username: str) -> str:
    """``template`` with ``{username}`` replaced by the RDN-escaped username (RFC 4514)."""
    if not username:
        raise ValueError("empty username")
    return template.replace("{username}", _escape_value(username))


def _escape_value(value: str) -> str:
    # ldap3 escapes NUL as a backslash and a raw NUL, which is not RFC 4514; use the hex pair.
    return escape_rdn(value).replace("\\\x00", "\\00") if value else value


def rdn_value(dn: str, attribute: str) -> str | None:
    """The value of the DN's first RDN when its type is ``attribute``, unescaped; else None."""
    try:
        first = parse_dn(dn, escape=False, strip=True)[0]
    except Exception:
        return None
    kind, value = first[0], first[1]
    if kind.lower() != attribute.lower():
        return None
    return _unescape_dn_value(value)


def _unescape_dn_value(value: str) -> str:
    """Undo RFC 4514 escaping: ``\\,`` is ``,`` and hex pairs are UTF-8 bytes."""
    raw, position = bytearray(), 0
    for match in _DN_ESCAPE.finditer(value):
        raw += value[position : match.start()].encode("utf-8")
        escaped = match.group(1)
        raw += bytes([int(escaped, 16)]) if len(escaped) == 2 else escaped.encode("utf-8")
        position = match.end()
    raw += value[position:].encode("utf-8")
    return raw.decode("utf-8", "replace")


def search(
    connection: ldap3.Connection,
    base: str,
    scope: str,
    search_filter: str,
    attributes: Sequence[str],
    *,
    page_size: int | None = None,
    size_limit: int = 0,
    time_limit: int = 0,
    missing_base_ok: bool = True,
    before_page: Callable[[], None] | None = None,
) -> Iterator[Entry]:
    """The entries (not referrals) a search returns, following paged-results cookies.

    A missing base is an empty result when ``missing_base_ok``, else a refusal. Hitting
    ``size_limit`` is fine (the caller asked for it); any other limit, a referral or an
    error result raises ServerRefused (ServerFailure for busy/unavailable); connection
    failures raise ldap3's exceptions. ``before_page`` runs before each request (the login's
    clock check).
    """
    cookie = None
    while True:
        if before_page is not None:
            before_page()
        connection.search(
            base,
            search_filter,
            _SCOPES[scope],
            attributes=list(attributes) or [ldap3.NO_ATTRIBUTES],
            size_limit=size_limit,
            time_limit=time_limit,
            paged_size=page_size,
            paged_cookie=cookie,
        )
        code = connection.result.get("result")
        if code == _NO_SUCH_OBJECT and missing_base_ok:
            return
        if code in UNAVAILABLE_CODES:
            raise ServerFailure(f"search result {code}")
        if code != 0 and not (code == _SIZE_LIMIT_EXCEEDED and size_limit):
            raise ServerRefused(
                f"search under {base!r} refused: result {code} ({connection.result.get('description')})"
            )
        for item in connection.response or ():
            if item.get("type") == "searchResEntry":
                raw = item.get("raw_attributes") or {}
                yield Entry(item["dn"], {name.lower(): list(values) for name, values in raw.items()})
        if not page_size:
            return
        cookie = (
            (connection.result.get("controls") or {}).get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
        )
        if not cookie:
            return
