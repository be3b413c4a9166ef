"""The rule for ``GATEWAY_ADMIN_PASSWORD``: the first start (gateway.bootstrap) and
``gateway check-config`` refuse the same passwords with the same words."""

from __future__ import annotations

from gateway.config.errors import ConfigError
from providers.local.policy import PasswordPolicy, PasswordRejected

VARIABLE = "GATEWAY_ADMIN_PASSWORD"


def check_admin_password(password: str, policy: PasswordPolicy, username: str) -> None:
    """Return quietly when ``password`` passes ``policy`` for the admin ``username``; else raise
    ConfigError naming GATEWAY_ADMIN_PASSWORD, with the reason and the rules in force."""
    try:
        policy.check(password, username)
    except PasswordRejected as rejected:
        raise ConfigError(
            "environment",
            VARIABLE,
            f"{rejected}. The admin's password follows the password rules ({policy_in_words(policy)}); "
            f"choose another, or unset {VARIABLE} to have one generated and printed once",
        ) from None


def policy_in_words(policy: PasswordPolicy) -> str:
    """The password policy in force, in a few words (see docs/configuration.md)."""
    rules = [f"at least {policy.min_length} characters", "not containing the username"]
    if policy.blocklist is not None:
        rules.append("not a commonly used password")
    if policy.min_score:
        rules.append(f"hard to guess: strength score at least {policy.min_score} of 4")
    return ", ".join(rules)
