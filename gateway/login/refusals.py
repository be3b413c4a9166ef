"""Refusal reasons (``Refused.reason``, ``Denied.reason``) about a second factor, named once for
the login service, the mfa policy that decides them and the ways in that answer each with
wording of their own."""

from __future__ import annotations

SECOND_FACTOR_USE_APP_PASSWORD = "second_factor_use_app_password"  # has one; the Registry cannot ask
SECOND_FACTOR_ENROL_FIRST = "second_factor_enrol_first"  # must set one up before signing in
SECOND_FACTOR_MISSING = "second_factor_missing"  # has one; the request brought no code
SECOND_FACTOR_WRONG = "wrong_second_factor"  # the code was not accepted
