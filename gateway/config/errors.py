"""The one error type for bad configuration: it names where the problem is.

It is defined beside the provider configuration schemas (``providers.schema``), which raise it
too; this is the name the gateway imports it by.
"""

from providers.schema import ConfigError

__all__ = ["ConfigError"]
