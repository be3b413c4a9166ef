"""Reading query-string arguments: a 400 naming the argument for anything out of shape."""

from __future__ import annotations

from flask import request

from gateway.admin.errors import AdminError

MAX_TEXT = 200


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The whole number ``name`` from ``low`` to ``high``, ``default`` when absent."""
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise AdminError(400, f"{name} must be a whole number from {low} to {high}", name)
    return int(text)


def bool_arg(name: str, default: bool = False) -> bool:
    """``true`` or ``false`` (``1``/``0`` too), ``default`` when absent."""
    text = request.args.get(name)
    if text is None:
        return default
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise AdminError(400, f"{name} must be true or false", name)


def text_arg(name: str) -> str | None:
    """The text ``name`` (at most MAX_TEXT characters), None when absent or empty."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if len(text) > MAX_TEXT or "\x00" in text:  # PostgreSQL refuses NUL in text
        raise AdminError(400, f"{name} must be at most {MAX_TEXT} characters, without NUL", name)
    return text


BOOL_SCHEMA = {"type": "string", "enum": ["true", "false"]}
PAGE_QUERY = {
    "offset": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
}
