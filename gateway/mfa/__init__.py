"""Multi-factor sign-in: second factors (TOTP, WebAuthn passkeys), recovery codes, the sealed
pending login between the password and the second factor, and the policy that asks for one."""
