"""ASP.NET Core Identity password hashes (providers.local.aspnet), and CappedHasher verifying
them next to argon2id.

Hashes are assembled here from the documented format (struct + hashlib.pbkdf2_hmac, in
tests.support.registrydata) and checked against aspnetcore's own published vectors. Unit tests: no
sockets, no files.
"""

from __future__ import annotations

import base64
import struct

import pytest

from providers.local import aspnet
from providers.local.aspnet import (
    is_aspnet_identity_hash,
    parse_aspnet_identity_hash,
    verify_aspnet_identity_hash,
)
from providers.local.hashing import CappedHasher
from tests.support.registrydata import aspnet_v2, aspnet_v3

PASSWORD = "purple-anchor-42-windmill"

# Known-answer vectors from dotnet/aspnetcore, src/Identity/test/Identity.Test/PasswordHasherTest.cs
# (VerifyHashedPassword_Version3CompatMode_SuccessCases and HashPassword_Version2/3), all for the
# password "my password".
KNOWN_PASSWORD = "my password"
KNOWN_VECTORS = [
    # V2: SHA1, 1000 iterations, 128-bit salt, 256-bit subkey
    "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A==",
    # V2 from a salt of bytes 0..15 (HashPassword_Version2)
    "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==",
    # V3: SHA256, 10000 iterations, salt 0..15 (HashPassword_Version3)
    "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==",
    # V3: SHA512, 50 iterations, 128-bit salt, 128-bit subkey
    "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw",
    # V3: SHA512, 250 iterations, 256-bit salt, 512-bit subkey
    "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7"
    "LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==",
    # V3: SHA1, 250 iterations, 128-bit salt, 128-bit subkey
    "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M",
    # V3: SHA256, 250000 iterations, 256-bit salt, 256-bit subkey
    "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNl"
    "CDc3oQZ8efcW+jQ=",
]
# VerifyHashedPassword_FailureCases of the same file.
KNOWN_FAILURES = [
    "AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==",  # wrong subkey
    "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=",  # V2 too short
    "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA=",  # V2 extra
    "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M",  # V3 wrong subkey
    "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=",  # V3 subkey too short
    "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHwAAAAAAAAAAAA",  # V3 extra data
]


@pytest.mark.parametrize("vector", KNOWN_VECTORS)
def test_published_vectors_verify(vector):
    assert verify_aspnet_identity_hash(vector, KNOWN_PASSWORD)
    assert not verify_aspnet_identity_hash(vector, KNOWN_PASSWORD + " ")
    assert not verify_aspnet_identity_hash(vector, "My password")


@pytest.mark.parametrize("vector", KNOWN_FAILURES)
def test_published_failure_cases_fail(vector):
    assert not verify_aspnet_identity_hash(vector, KNOWN_PASSWORD)


def test_v2_built_from_the_format():
    stored = aspnet_v2(PASSWORD)
    assert len(base64.b64decode(stored)) == 49
    assert verify_aspnet_identity_hash(stored, PASSWORD)
    assert not verify_aspnet_identity_hash(stored, PASSWORD + "x")
    assert parse_aspnet_identity_hash(stored).describe() == "ASP.NET Identity V2 (HMAC-SHA1, 1000 iterations)"


@pytest.mark.parametrize("prf", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize(
    "iterations, salt_length, subkey_length",
    [
        (1, 16, 16),
        (1000, 16, 32),
        (10_000, 32, 32),
        (100_000, 16, 32),
        (250, 64, 64),
        (3, 256, 128),
    ],
)
def test_v3_built_from_the_format(prf, iterations, salt_length, subkey_length):
    stored = aspnet_v3(PASSWORD, prf, iterations, bytes(range(salt_length)), subkey_length)
    assert verify_aspnet_identity_hash(stored, PASSWORD)
    assert not verify_aspnet_identity_hash(stored, PASSWORD[:-1])
    parsed = parse_aspnet_identity_hash(stored)
    assert (parsed.version, parsed.prf, parsed.iterations) == (3, prf, iterations)
    assert len(parsed.salt) == salt_length and len(parsed.subkey) == subkey_length


@pytest.mark.parametrize("password", ["pässwörd-ünïcode-€", "日本語のパスワード", "tab\there", " "])
def test_password_is_utf8(password):
    for stored in (aspnet_v2(password), aspnet_v3(password, "sha256", 10)):
        assert verify_aspnet_identity_hash(stored, password)
        assert not verify_aspnet_identity_hash(stored, password + "!")


def _v3_raw(prf=1, iterations=1000, salt=b"s" * 16, subkey=b"k" * 32, salt_length=None) -> bytes:
    header = struct.pack(">BIII", 1, prf, iterations, len(salt) if salt_length is None else salt_length)
    return header + salt + subkey


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MALFORMED = {
    "empty": "",
    "blank": "   ",
    "None": None,
    "bytes": b"AAAA",
    "not base64": "not base64!!",
    "base64 of nothing": "====",
    "bad padding": aspnet_v2(PASSWORD)[:-2],
    "argon2": "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "registry dataset hash": "10000.c2FsdHNhbHRzYWx0c2FsdA==.a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
    "wrong marker": _b64(b"\x02" + _v3_raw()[1:]),
    "marker only": _b64(b"\x01"),
    "V2 marker only": _b64(b"\x00"),
    "truncated header": _b64(_v3_raw()[:9]),
    "header only": _b64(_v3_raw(salt=b"", subkey=b"", salt_length=16)),
    "unknown prf": _b64(_v3_raw(prf=3)),
    "huge prf": _b64(_v3_raw(prf=0xFFFFFFFF)),
    "zero iterations": _b64(_v3_raw(iterations=0)),
    "huge iterations": _b64(_v3_raw(iterations=0xFFFFFFFF)),
    "iterations beyond the bound": _b64(_v3_raw(iterations=aspnet.MAX_WORK + 1)),
    "work beyond the bound": _b64(_v3_raw(prf=0, iterations=aspnet.MAX_WORK // 2 + 1)),
    "short salt": _b64(_v3_raw(salt=b"s" * 15)),
    "salt longer than the payload": _b64(_v3_raw(salt_length=1000)),
    "huge salt length": _b64(_v3_raw(salt_length=0xFFFFFFFF)),
    "short subkey": _b64(_v3_raw(subkey=b"k" * 15)),
    "no subkey": _b64(_v3_raw(subkey=b"")),
    "subkey beyond the bound": _b64(_v3_raw(subkey=b"k" * (aspnet.MAX_SUBKEY + 1))),
    "V2 one byte short": _b64(base64.b64decode(aspnet_v2(PASSWORD))[:-1]),
    "V2 one byte long": _b64(base64.b64decode(aspnet_v2(PASSWORD)) + b"\x00"),
    "very long text": "A" * 100_000,
}


@pytest.mark.parametrize("stored", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_never_verifies_and_never_raises(stored):
    assert parse_aspnet_identity_hash(stored) is None
    assert not is_aspnet_identity_hash(stored)
    assert verify_aspnet_identity_hash(stored, PASSWORD) is False


def test_bounds_admit_the_aspnet_defaults_and_owasp_figures():
    assert is_aspnet_identity_hash(_b64(_v3_raw(prf=2, iterations=100_000)))  # .NET 7+ default
    assert is_aspnet_identity_hash(_b64(_v3_raw(prf=1, iterations=600_000)))  # OWASP SHA256
    assert is_aspnet_identity_hash(_b64(_v3_raw(prf=0, iterations=1_300_000)))  # OWASP SHA1, 2 blocks
    assert is_aspnet_identity_hash(_b64(_v3_raw(prf=2, iterations=aspnet.MAX_WORK, subkey=b"k" * 64)))


@pytest.mark.parametrize("password", [None, 42, "lone \ud800 surrogate"])
def test_odd_passwords_give_false(password):
    assert verify_aspnet_identity_hash(aspnet_v2(PASSWORD), password) is False


def test_whitespace_around_the_stored_text_is_tolerated():
    assert verify_aspnet_identity_hash(" " + aspnet_v2(PASSWORD) + "\n", PASSWORD)


# -- CappedHasher ------------------------------------------------------------------------------


@pytest.fixture
def hasher():
    return CappedHasher("local", time_cost=1, memory_cost=8192)


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(aspnet_v2(PASSWORD), id="v2"),
        pytest.param(aspnet_v3(PASSWORD, "sha256", 10_000), id="v3-sha256"),
        pytest.param(aspnet_v3(PASSWORD, "sha512", 100_000), id="v3-sha512"),
    ],
)
def test_capped_hasher_verifies_aspnet_hashes_and_wants_them_rehashed(hasher, stored):
    assert hasher.verify(stored, PASSWORD)
    assert not hasher.verify(stored, PASSWORD + "x")
    assert hasher.needs_rehash(stored)
    upgraded = hasher.hash(PASSWORD)
    assert upgraded.startswith("$argon2id$") and not hasher.needs_rehash(upgraded)
    assert hasher.verify(upgraded, PASSWORD) and not hasher.verify(upgraded, PASSWORD + "x")


def test_wrong_password_against_aspnet_hash_lasts_as_long_as_argon2(hasher):
    """So a wrong password for an imported user is no faster than for an unknown user (whose
    cost is one dummy argon2 verification); a right one is not padded."""
    import time

    stored = aspnet_v2(PASSWORD)  # PBKDF2-SHA1 x 1000: far cheaper than argon2
    hasher._argon2_seconds = 0.2  # what an argon2 verification takes, as measured
    started = time.perf_counter()
    assert not hasher.verify(stored, "wrong")
    assert 0.2 <= time.perf_counter() - started < 0.5
    started = time.perf_counter()
    assert hasher.verify(stored, PASSWORD)
    assert time.perf_counter() - started < 0.1


def test_the_argon2_cost_estimate_follows_real_verifications(hasher):
    stored = hasher.hash(PASSWORD)
    hasher._argon2_seconds = 10.0
    for _ in range(5):
        assert hasher.verify(stored, PASSWORD)  # a match is never padded
    assert hasher._argon2_seconds < 10.0 * 0.9**5 + 1


def test_an_unknown_user_costs_as_much_as_an_imported_hash_once_one_was_seen(hasher):
    """Padding works both ways: when the Registry's PBKDF2 costs more than argon2, unknown
    users and wrong argon2 passwords are made to last as long."""
    import time

    hasher._legacy_seconds = 0.3  # as measured on imported hashes
    started = time.perf_counter()
    hasher.burn("anything")
    assert time.perf_counter() - started >= 0.3
    stored = hasher.hash(PASSWORD)
    started = time.perf_counter()
    assert not hasher.verify(stored, "wrong")
    assert time.perf_counter() - started >= 0.3


def test_capped_hasher_refuses_malformed_legacy_hashes(hasher):
    for stored in ("", "not a hash", MALFORMED["huge iterations"], MALFORMED["short salt"]):
        assert hasher.verify(stored, PASSWORD) is False
        assert hasher.needs_rehash(stored)


# -- LocalProvider: the first login upgrades an imported hash ---------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(aspnet_v2(PASSWORD), id="v2"),
        pytest.param(aspnet_v3(PASSWORD, "sha512", 100_000), id="v3-sha512"),
    ],
)
def test_first_login_replaces_an_imported_hash_with_argon2id(database, hasher, stored):
    from sqlalchemy import select

    from providers.base import Identity, Rejection
    from providers.local.models import LocalUser
    from providers.local.provider import LocalProvider

    with database.session() as session:
        session.add(LocalUser(username="imported", password_hash=stored, overrides={}))
    provider = LocalProvider("local", database.engine, hasher)

    def current_hash() -> str:
        with database.sessions() as session:
            return session.scalar(select(LocalUser.password_hash).where(LocalUser.username == "imported"))

    assert provider.check_password("imported", PASSWORD + "x") is Rejection.WRONG_CREDENTIALS
    assert current_hash() == stored  # a failed login changes nothing
    assert isinstance(provider.check_password("imported", PASSWORD), Identity)
    assert current_hash().startswith("$argon2id$")
    assert isinstance(provider.check_password("imported", PASSWORD), Identity)
    assert provider.check_password("imported", PASSWORD + "x") is Rejection.WRONG_CREDENTIALS
