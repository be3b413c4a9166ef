"""Unit tests (no sockets): values sealed under the server secret (gateway.tokens.sealing.Sealer)."""

from __future__ import annotations

import pytest

from gateway.tokens.sealing import BrokenSeal, Sealer

SECRET = "unit-test-key-encryption-secret-0123456789"
INFO = b"dronedb-auth-gateway unit test v1"
AD = b"unit test v1"
PLAINTEXT = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def sealer(secret: str = SECRET, info: bytes = INFO, associated_data: bytes = AD) -> Sealer:
    return Sealer(secret, info, associated_data)


def test_round_trip_across_instances_with_a_fresh_nonce_each_time():
    sealed = sealer().seal(PLAINTEXT)
    assert set(sealed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert b"alice" not in sealed.encode() and "eyJ" not in sealed
    assert sealer().open(sealed) == PLAINTEXT  # another worker, same secret
    assert sealer().seal(PLAINTEXT) != sealed
    assert sealer().open(sealer().seal(b"")) == b""
    assert SECRET not in repr(sealer())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1],
        lambda s: s[:-2],
        lambda s: s + "A",
        lambda s: s[1:],
        lambda s: s[:20],
        lambda s: s[:5] + ("A" if s[5] != "A" else "B") + s[6:],
        lambda s: s[:-3] + ("A" if s[-3] != "A" else "B") + s[-2:],
        lambda s: s.replace(s[7], "+"),
        lambda s: s + "=",
        lambda s: "",
        lambda s: "A" * 40,
        lambda s: None,
        lambda s: s.encode(),
    ],
)
def test_a_tampered_value_does_not_open(tamper):
    sealed = sealer().seal(PLAINTEXT)
    with pytest.raises(BrokenSeal) as broken:
        sealer().open(tamper(sealed))
    assert "alice" not in str(broken.value) and sealed not in str(broken.value)


def test_another_secret_does_not_open_it():
    sealed = sealer().seal(PLAINTEXT)
    with pytest.raises(BrokenSeal):
        sealer(secret=SECRET.replace("0", "1")).open(sealed)


def test_labels_and_associated_data_keep_uses_apart():
    from gateway.sso.service import _ID_TOKEN_ASSOCIATED_DATA, ID_TOKEN_HKDF_INFO
    from gateway.sso.transactions import _ASSOCIATED_DATA, HKDF_INFO

    id_tokens = sealer(info=ID_TOKEN_HKDF_INFO, associated_data=_ID_TOKEN_ASSOCIATED_DATA)
    transactions = sealer(info=HKDF_INFO, associated_data=_ASSOCIATED_DATA)
    assert ID_TOKEN_HKDF_INFO != HKDF_INFO
    for one, other in ((id_tokens, transactions), (transactions, id_tokens)):
        with pytest.raises(BrokenSeal):
            other.open(one.seal(PLAINTEXT))
    # The label alone, and the associated data alone, each keep values apart too.
    with pytest.raises(BrokenSeal):
        sealer(info=INFO + b"x").open(sealer().seal(PLAINTEXT))
    with pytest.raises(BrokenSeal):
        sealer(associated_data=AD + b"x").open(sealer().seal(PLAINTEXT))


def test_transaction_cookies_are_the_same_format_as_before():
    """TransactionSeal seals with the shared helper: a value it seals opens with a Sealer of
    its label and associated data (so cookies sealed before the refactor still open)."""
    from gateway.sso.transactions import _ASSOCIATED_DATA, HKDF_INFO, TransactionSeal

    sealed = TransactionSeal(SECRET, 600).seal("corp", {"state": "s" * 43}, "https://hub/login")
    opened = sealer(info=HKDF_INFO, associated_data=_ASSOCIATED_DATA).open(sealed)
    assert opened.startswith(b'{"v":1,"provider":"corp"')
