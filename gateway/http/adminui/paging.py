"""Pages of a long list (sessions, audit events): which page the query string asks for, and
the links of the pager (``admin/_paging.html``). Anything unusable falls back to page 1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


def page_number(args: Mapping[str, str]) -> int:
    """The ``page`` argument (from 1); 1 for anything else."""
    text = args.get("page", "1")
    usable = text.isascii() and text.isdigit() and 0 < len(text) <= 6 and int(text) > 0
    return int(text) if usable else 1


@dataclass(frozen=True)
class Paging:
    """Page ``page`` of ``total`` items, ``per_page`` a page, under ``path`` with ``params``
    (the filters; empty values left out of links)."""

    page: int
    per_page: int
    total: int
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (min(self.page, self.pages) - 1) * self.per_page

    def first_last(self, shown: int) -> tuple[int, int]:
        """1-based positions of the first and last of the ``shown`` items (0, 0 for none)."""
        return (self.offset + 1, self.offset + shown) if shown else (0, 0)

    def link(self, page: int) -> str:
        """This list's URL at ``page``."""
        kept = {key: value for key, value in self.params.items() if value not in ("", None)}
        if page > 1:
            kept["page"] = page
        return self.path + ("?" + urlencode(kept) if kept else "")
