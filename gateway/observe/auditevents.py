"""The names an audit row can have: every event and outcome the gateway writes, with a few
words on each. The audit page offers them as choices; a unit test
(tests/unit/observe/test_audit_events.py) reads every ``record("...")`` in the code and
fails when an event written there is missing here, so the list cannot fall behind."""

from __future__ import annotations

EVENTS: dict[str, str] = {
    "login": "a sign-in (success or refusal)",
    "logout": "a browser sign-out",
    "username_collision": "a sign-in whose username another provider owns",
    "user_created": "a user created",
    "user_updated": "a user's profile changed",
    "user_enabled": "a user enabled",
    "user_disabled": "a user disabled",
    "user_deleted": "a user deleted",
    "password_reset": "a password set by an admin, or by its owner through a reset link",
    "password_changed": "a user changed their own password",
    "metadata_changed": "a user's quota or values changed",
    "group_created": "a group created",
    "group_deleted": "a group deleted",
    "group_member_added": "a user added to a group",
    "group_member_removed": "a user taken out of a group",
    "role_created": "a role created",
    "role_deleted": "a role deleted",
    "mapping_changed": "the mapping rules changed",
    "session_revoked": "a session ended by an admin",
    "sessions_revoked": "a user's or everyone's sessions ended",
    "app_password_created": "an app password created",
    "app_password_revoked": "an app password revoked",
    "api_key_created": "an API key created",
    "api_key_revoked": "an API key revoked",
    "provider_test_login": "a trial sign-in at an LDAP provider",
    "directory_sync_change": "the directory sync disabled, re-enabled or updated a user",
    "audit_exported": "the audit trail downloaded",
    "key_rotated": "the token-signing key rotated",
    "provider_diagnostic": "an admin checked a provider (connection, user search, groups, discovery)",
    "idp_logout": "an identity provider's back-channel logout (sessions ended)",
    "mfa_check": "a second factor checked at sign-in",
    "mfa_enrolled": "a second factor added",
    "mfa_removed": "a second factor removed",
    "mfa_recovery_codes_created": "recovery codes created",
    "mfa_reset": "an admin removed a user's second factors",
    "password_reset_requested": "a reset link was mailed (forgot password)",
    "user_registered": "a person registered themselves",
    "email_verified": "a registered address confirmed by its link",
    "registration_approved": "an admin approved a registration",
    "registration_rejected": "an admin rejected a registration",
    "email_test_queued": "an admin sent a test e-mail",
}

OUTCOMES: dict[str, str] = {
    "ok": "a change made",
    "success": "signed in / trial sign-in granted",
    "denied": "a sign-in refused",
    "refused": "refused by a rule",
    "wrong_credentials": "trial: wrong password",
    "no_such_user": "trial: no such user",
    "disabled": "trial: the account is disabled",
    "username_mismatch": "trial: the directory answered another username",
    "non_canonical": "trial: the username is written differently here (case, spaces)",
    "unavailable": "trial: the provider could not be reached",
    "throttled": "no reset mail: the user already got the most a window allows",
}
