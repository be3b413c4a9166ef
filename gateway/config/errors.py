"""The one error type for bad configuration: it names where the problem is."""


class ConfigError(Exception):
    """A configuration value is missing, unknown or invalid.

    ``source`` is the file (or ``environment``), ``key`` a dotted path such as
    ``mapping.rules[2].maxStorageMB``.
    """

    def __init__(self, source: str, key: str, message: str):
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key
        self.message = message
