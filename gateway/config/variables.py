"""``${VAR}`` and ``${VAR:-default}`` in the configuration file's string values, replaced from
the environment so that secrets stay out of the file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.config.errors import ConfigError

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_variables(
    data: Any,
    source: str,
    environ: Mapping[str, str],
    where: str = "",
    unset: list[ConfigError] | None = None,
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value of the tree. An unset
    variable raises ConfigError, or, given ``unset``, is appended to it and left as written."""
    if isinstance(data, dict):
        return {
            key: expand_variables(value, source, environ, f"{where}.{key}" if where else str(key), unset)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            expand_variables(value, source, environ, f"{where}[{i}]", unset) for i, value in enumerate(data)
        ]
    if isinstance(data, str):

        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            error = ConfigError(source, where, f"environment variable {name} is not set")
            if unset is None:
                raise error
            unset.append(error)
            return match.group(0)

        return VARIABLE.sub(replace, data)
    return data
