"""The Registry stand-in under its first import path; it lives in :mod:`tests.support.registry`
(``standin``: the relay and the web app, ``adminapi``: bearer-token endpoints, ``database``:
accounts, organizations and JWTs, ``loginpage``: the Hub's login page, ``wsgi``: the server)."""

from tests.support.registry import LOGIN_PAGE, BackgroundWsgiServer, RegistryStub, logout, read_login_page

__all__ = ["BackgroundWsgiServer", "RegistryStub", "read_login_page", "logout", "LOGIN_PAGE"]
