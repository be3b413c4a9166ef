"""A stand-in for a DroneDB Registry (and its Hub login page) for the tests; see
:mod:`tests.support.registry.standin`."""

from tests.support.registry.loginpage import LOGIN_PAGE, logout, read_login_page
from tests.support.registry.standin import RegistryStub
from tests.support.registry.wsgi import BackgroundWsgiServer

__all__ = ["BackgroundWsgiServer", "RegistryStub", "read_login_page", "logout", "LOGIN_PAGE"]
