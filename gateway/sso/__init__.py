"""Browser single sign-on: login transactions, SSO sessions and the redirect allowlist."""
