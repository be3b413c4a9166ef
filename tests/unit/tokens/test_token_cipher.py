"""KeyCipher: HKDF-derived Fernet encryption of signing keys at rest."""

from __future__ import annotations

import pytest

from gateway.tokens import KeyCipher, KeyDecryptionError, generate_secret


def test_round_trip():
    cipher = KeyCipher(generate_secret())
    ciphertext = cipher.encrypt(b"private key pem")
    assert ciphertext != b"private key pem"
    assert cipher.decrypt(ciphertext) == b"private key pem"


def test_same_secret_derives_same_key_across_instances():
    secret = generate_secret()
    assert KeyCipher(secret).decrypt(KeyCipher(secret).encrypt(b"x")) == b"x"


def test_encryption_is_randomised():
    cipher = KeyCipher(generate_secret())
    assert cipher.encrypt(b"x") != cipher.encrypt(b"x")


def test_wrong_secret_is_a_clear_error():
    ciphertext = KeyCipher(generate_secret()).encrypt(b"x")
    with pytest.raises(KeyDecryptionError, match="GATEWAY_KEY_ENCRYPTION_KEY does not match"):
        KeyCipher(generate_secret()).decrypt(ciphertext)


@pytest.mark.parametrize("garbage", [b"", b"not fernet", b"gAAAAA" + b"A" * 100])
def test_garbage_ciphertext_is_a_decryption_error(garbage):
    with pytest.raises(KeyDecryptionError):
        KeyCipher(generate_secret()).decrypt(garbage)


def test_tampered_ciphertext_is_rejected():
    cipher = KeyCipher(generate_secret())
    ciphertext = bytearray(cipher.encrypt(b"secret"))
    ciphertext[-5] ^= 1
    with pytest.raises(KeyDecryptionError):
        cipher.decrypt(bytes(ciphertext))


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_short_secrets_are_rejected(secret):
    with pytest.raises(ValueError, match="at least 32"):
        KeyCipher(secret)


def test_non_string_secret_is_rejected():
    with pytest.raises(ValueError):
        KeyCipher(b"x" * 40)  # type: ignore[arg-type]


def test_generated_secrets_are_long_urlsafe_and_distinct():
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert len(a) >= 43
    assert set(a) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    KeyCipher(a)


def test_repr_hides_the_secret():
    secret = generate_secret()
    assert secret not in repr(KeyCipher(secret))
