"""Identity providers: each turns credentials, a browser callback or a token into an Identity.

This package never imports Flask or ``gateway``: providers are plain objects that the gateway
composes, so they can be tested and reused without a web application.
"""
