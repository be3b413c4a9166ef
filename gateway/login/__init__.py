"""The login: which provider answers, canonical usernames, username ownership, throttling, app
passwords, IdP tokens, the verified-credentials cache and the Registry answer."""
