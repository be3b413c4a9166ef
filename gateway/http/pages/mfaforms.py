"""What the MFA pages share: the enrolment forms' context (a fresh TOTP secret sealed into the
form, its QR code and manual key; the passkey options) and the pages' script policy."""

from __future__ import annotations

from flask import request

from gateway.http.appservices import services
from gateway.mfa import totp
from gateway.mfa.factors import FactorError
from gateway.mfa.pending import EnrolmentSeal

MFA_SCRIPTS = ("passkeys.js", "copy.js")


def enrolment_seal() -> EnrolmentSeal:
    return EnrolmentSeal(services().settings.key_encryption_key)


def enrolment_context(username: str) -> dict:
    """The TOTP and passkey enrolment forms of ``username``: a new secret (sealed into the
    form, stored only once a code confirms it), its QR code, and create() options."""
    svc = services()
    secret = totp.new_secret()
    issuer = svc.config.mfa.issuer or svc.config.sso.brand.name
    uri = totp.provisioning_uri(secret, username, issuer)
    mfa = svc.mfa
    return {
        "totp_sealed": enrolment_seal().seal(username, secret),
        "totp_qr": totp.qr_data_uri(uri),
        "totp_key": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "passkey_options": mfa.passkeys.registration_options(username, mfa.factors.passkeys(username)),
    }


def totp_secret(username: str, sealed: str) -> str | None:
    return enrolment_seal().open(username, sealed)


def enrol_posted_totp(username: str) -> None:
    """Enrol the authenticator app of the posted TOTP form (its sealed secret, name and
    confirming code) for ``username``; FactorError when the form expired or the code is wrong."""
    secret = totp_secret(username, request.form.get("enrolment", ""))
    if secret is None:
        raise FactorError("the enrolment has expired; scan the new QR code and try again")
    services().mfa.enrol_totp(username, request.form.get("name", ""), secret, request.form.get("code", ""))


def enrol_posted_passkey(username: str) -> None:
    """Enrol the passkey of the posted form (its name and credential) for ``username``;
    FactorError when the credential is refused."""
    services().mfa.enrol_passkey(username, request.form.get("name", ""), request.form.get("credential", ""))
