"""Unit tests (no sockets): whatever a client sends back for a passkey challenge it really was
given, the answer is PasskeyRejected (a 400 page), never another exception; and a challenge
works once, for the purpose and person it was issued to."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.mfa.passkeys import PasskeyRejected, Passkeys
from gateway.storage.state.memory import MemoryStore


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def passkeys() -> Passkeys:
    return Passkeys(MemoryStore(), "localhost", "Test", "http://localhost:8080", "s" * 40)


def client_data(challenge: str, kind: str = "webauthn.create") -> str:
    return b64(json.dumps({"type": kind, "challenge": challenge, "origin": "http://localhost:8080"}).encode())


GARBAGE = ["", "AAAA", b64(b"\xa1\x00\x00"), b64(b"\xff" * 64), b64(json.dumps({"fmt": "none"}).encode())]


@pytest.mark.parametrize("attestation", GARBAGE)
def test_a_crafted_registration_answer_is_rejected(attestation):
    keys = passkeys()
    challenge = json.loads(keys.registration_options("alice", []))["challenge"]
    response = {
        "id": "x",
        "rawId": "x",
        "type": "public-key",
        "response": {"clientDataJSON": client_data(challenge), "attestationObject": attestation},
    }
    with pytest.raises(PasskeyRejected):
        keys.verify_registration("alice", json.dumps(response))


def test_a_challenge_is_for_one_person_and_purpose_and_works_once():
    keys = passkeys()
    challenge = json.loads(keys.registration_options("alice", []))["challenge"]
    response = json.dumps(
        {
            "id": "x",
            "rawId": "x",
            "type": "public-key",
            "response": {"clientDataJSON": client_data(challenge)},
        }
    )
    with pytest.raises(PasskeyRejected, match="expired"):
        keys.verify_registration("bob", response)  # another person's
    with pytest.raises(PasskeyRejected, match="could not be verified"):
        keys.verify_registration("alice", response)  # spends it
    with pytest.raises(PasskeyRejected, match="expired"):
        keys.verify_registration("alice", response)  # spent


@pytest.mark.parametrize("sent", ["", "null", "[]", "{}", '{"response": 1}', "x" * 20000, '{"response": {}}'])
def test_unreadable_answers_are_rejected(sent):
    with pytest.raises(PasskeyRejected):
        passkeys().verify_registration("alice", sent)
    with pytest.raises(PasskeyRejected):
        passkeys().verify_authentication("alice", [], sent)
