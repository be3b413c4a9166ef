"""The one error type for bad configuration: it names where the problem is.

It is defined beside the provider configuration schemas (``providers.schema``), which raise it
too; this is the name the gateway imports it by. ``ConfigErrors`` carries several problems
found in one pass; ``raise_all`` raises what a pass collected.
"""

from providers.schema import ConfigError, ConfigErrors, raise_all

__all__ = ["ConfigError", "ConfigErrors", "raise_all"]
