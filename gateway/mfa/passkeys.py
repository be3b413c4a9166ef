"""WebAuthn passkeys with :mod:`webauthn` (py_webauthn): the options a browser gives to
``navigator.credentials.create``/``get``, and the checks of what it sends back.

The relying party is the gateway's public host (or ``mfa.rp_id``), the expected origin its
public URL's origin. A challenge is 32 random bytes remembered in the state store for
CHALLENGE_SECONDS with what it was issued for (the person, enrolment or sign-in), and spent on
first use: a replayed response is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gateway.mfa.factors import Passkey
from gateway.storage.state import StateStore

CHALLENGE_SECONDS = 300
MAX_RESPONSE_CHARS = 16384
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyRejected(ValueError):
    """A WebAuthn response that does not prove what it should; the message is safe to show."""


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


class Passkeys:
    def __init__(self, store: StateStore, rp_id: str, rp_name: str, origin: str, user_secret: str):
        self._store = store
        self.rp_id = rp_id
        self._rp_name = rp_name
        self._origin = origin
        self._user_key = hashlib.sha256(b"webauthn user handle v1 " + user_secret.encode()).digest()

    def __repr__(self) -> str:
        return f"Passkeys(rp_id={self.rp_id!r})"

    def _user_handle(self, username: str) -> bytes:
        # Stable per person, and no personal data on the authenticator (the spec asks for that).
        return hmac.new(self._user_key, username.encode(), hashlib.sha256).digest()[:32]

    def _remember(self, challenge: bytes, purpose: str, username: str) -> None:
        self._store.set(
            f"mfa:challenge:{bytes_to_base64url(challenge)}", f"{purpose}:{username}", CHALLENGE_SECONDS
        )

    def _spend(self, challenge: str, purpose: str, username: str) -> bytes:
        """The challenge the client's response names, if it was issued for this and not spent."""
        if not challenge or len(challenge) > 100:
            raise PasskeyRejected("this passkey request has expired; try again")
        issued = self._store.get(f"mfa:challenge:{challenge}")
        if issued != f"{purpose}:{username}" or not self._store.add(
            f"mfa:challenge-spent:{challenge}", "1", CHALLENGE_SECONDS
        ):
            raise PasskeyRejected("this passkey request has expired; try again")
        return base64url_to_bytes(challenge)

    # ---- enrolment -----------------------------------------------------------------------

    def registration_options(self, username: str, existing: list[Passkey]) -> str:
        """``navigator.credentials.create`` options (JSON) for ``username``, excluding the
        passkeys they already have, platform or roaming alike."""
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self._rp_name,
            user_name=username,
            user_id=self._user_handle(username),
            user_display_name=username,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(p) for p in existing],
        )
        self._remember(options.challenge, "enrol", username)
        return options_to_json(options)

    def verify_registration(self, username: str, response: str) -> NewPasskey:
        """The passkey a ``create`` response registers; PasskeyRejected if it does not verify."""
        credential = _parse(response)
        challenge = _client_challenge(credential)
        expected = self._spend(challenge, "enrol", username)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=expected,
                expected_rp_id=self.rp_id,
                expected_origin=self._origin,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError) as error:
            raise PasskeyRejected("the passkey could not be verified") from error
        transports = credential.get("response", {}).get("transports") or []
        return NewPasskey(
            bytes_to_base64url(verified.credential_id),
            verified.credential_public_key,
            verified.sign_count,
            tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS),
        )

    # ---- sign-in -------------------------------------------------------------------------

    def authentication_options(self, username: str, passkeys: list[Passkey]) -> str:
        options = generate_authentication_options(
            rp_id=self.rp_id,
            allow_credentials=[_descriptor(p) for p in passkeys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        self._remember(options.challenge, "sign-in", username)
        return options_to_json(options)

    def verify_authentication(
        self, username: str, passkeys: list[Passkey], response: str
    ) -> tuple[Passkey, int]:
        """Which of ``passkeys`` signed the ``get`` response, and its new signature counter."""
        credential = _parse(response)
        challenge = _client_challenge(credential)
        raw_id = credential.get("rawId") or credential.get("id")
        passkey = next(
            (p for p in passkeys if isinstance(raw_id, str) and hmac.compare_digest(p.credential_id, raw_id)),
            None,
        )
        if passkey is None:
            raise PasskeyRejected("this passkey is not registered for this account")
        expected = self._spend(challenge, "sign-in", username)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=expected,
                expected_rp_id=self.rp_id,
                expected_origin=self._origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError) as error:
            raise PasskeyRejected("the passkey could not be verified") from error
        return passkey, verified.new_sign_count


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.credential_id),
        transports=[AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS] or None,
    )


def _parse(response: str) -> dict[str, Any]:
    if not isinstance(response, str) or not response or len(response) > MAX_RESPONSE_CHARS:
        raise PasskeyRejected("no passkey response was sent")
    try:
        credential = json.loads(response)
    except ValueError:
        raise PasskeyRejected("the passkey response is not readable") from None
    if not isinstance(credential, dict) or not isinstance(credential.get("response"), dict):
        raise PasskeyRejected("the passkey response is not readable")
    return credential


def _client_challenge(credential: dict[str, Any]) -> str:
    """The challenge the browser says it answered (checked again by the library)."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except (KeyError, TypeError, ValueError):
        raise PasskeyRejected("the passkey response is not readable") from None
    if not isinstance(challenge, str):
        raise PasskeyRejected("the passkey response is not readable")
    return challenge
