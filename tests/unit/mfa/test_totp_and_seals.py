"""Unit tests (no sockets) for the TOTP check (RFC 6238 via pyotp, each step used once), the
sealed pending login and the sealed TOTP enrolment."""

from __future__ import annotations

import pyotp
import pytest

from gateway.mfa.factors import normalize_recovery_code
from gateway.mfa.pending import (
    LIFETIME_SECONDS,
    EnrolmentSeal,
    PendingSeal,
    UnreadablePending,
)
from gateway.mfa.totp import TotpCheck, clean_code, is_secret, new_secret, qr_data_uri
from gateway.storage.state.memory import MemoryStore
from providers.base import Identity

SECRET = "k" * 40
NOW = 1_800_000_000.0
ALICE = Identity(provider="local", subject="1", username="alice", groups=("pilots",))


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_code_is_accepted_once_in_its_step_and_its_neighbours():
    clock = Clock()
    check = TotpCheck(MemoryStore(), clock)
    secret = new_secret()
    assert is_secret(secret)
    totp = pyotp.TOTP(secret)
    code = totp.at(NOW)
    assert check.use("f1", secret, code)
    assert not check.use("f1", secret, code)  # replayed
    assert check.use("f2", secret, code)  # another factor's step is its own
    assert check.use("f1", secret, totp.at(NOW - 30))  # clock drift, one step each way
    assert check.use("f1", secret, totp.at(NOW + 30))
    assert not check.use("f1", secret, totp.at(NOW + 90))
    assert not check.use("f1", secret, totp.at(NOW - 90))


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        (" 123456\n", "123456"),
        ("12345", None),
        ("1234567", None),
        ("12345a", None),
        ("١٢٣٤٥٦", None),
        ("", None),
        ("9" * 100, None),
    ],
)
def test_codes_are_six_ascii_digits(typed, clean):
    assert clean_code(typed) == clean


def test_the_qr_code_is_an_inline_svg():
    assert qr_data_uri("otpauth://totp/x?secret=ABC").startswith("data:image/svg+xml")


def test_a_pending_login_opens_only_unchanged_and_in_time():
    clock = Clock()
    seal = PendingSeal(SECRET, clock)
    sealed = seal.seal(seal.start(ALICE, "/admin", enrol=True))
    assert "alice" not in sealed
    opened = seal.open(sealed)
    assert opened.identity == ALICE and opened.next_url == "/admin" and opened.enrol
    for broken in (
        None,
        "",
        sealed[:-2],
        sealed + "A",
        "x" * 5000,
        sealed.replace(sealed[10], "B" if sealed[10] != "B" else "C"),
    ):
        with pytest.raises(UnreadablePending):
            seal.open(broken)
    with pytest.raises(UnreadablePending):
        PendingSeal("another-secret-of-enough-length-123", clock).open(sealed)
    clock.now += LIFETIME_SECONDS
    with pytest.raises(UnreadablePending):
        seal.open(sealed)


def test_an_enrolment_opens_only_for_its_person_and_in_time():
    clock = Clock()
    seal = EnrolmentSeal(SECRET, clock)
    secret = new_secret()
    sealed = seal.seal("alice", secret)
    assert secret not in sealed
    assert seal.open("alice", sealed) == secret
    assert seal.open("bob", sealed) is None
    assert seal.open("alice", sealed[:-1]) is None
    assert PendingSeal(SECRET, clock)  # a different label: a pending login is no enrolment
    with pytest.raises(UnreadablePending):
        PendingSeal(SECRET, clock).open(sealed)
    clock.now += 901
    assert seal.open("alice", sealed) is None


def test_recovery_codes_are_read_as_typed():
    assert normalize_recovery_code(" AbCde-fgH2k ") == "abcdefgh2k"
