"""Rendering the gateway's e-mails from Jinja templates (``gateway/mail/templates``): a plain
text part and an HTML part, the HTML autoescaped, each with the brand name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

KINDS = (
    "password_reset",
    "verify_email",
    "already_registered",
    "registration_pending",
    "registration_approved",
    "test",
)
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, brand: str, **context: Any) -> Rendered:
    """The message ``kind`` (one of KINDS) for ``context``; the subject is its template's
    first line."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    context = {"brand": brand, **context}
    text = _ENV.get_template(f"{kind}.txt").render(**context)
    subject, _, body = text.partition("\n")
    html = _ENV.get_template(f"{kind}.html").render(subject=subject.strip(), **context)
    return Rendered(subject=" ".join(subject.split())[:300], text=body.lstrip("\n"), html=html)
