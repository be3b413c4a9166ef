"""The users table of the admin UI: filter, sort and page everyone the gateway knows, from the
query string. Unlike the admin API, which refuses a bad parameter, a page falls back to the
default for anything it does not understand (a hand-edited or stale link still shows a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.admin.people import People, Person
from gateway.mapping import Evaluation

SORTS = {
    "userName": "Username (A–Z)",
    "-userName": "Username (Z–A)",
    "-lastLoginAt": "Last sign-in (newest first)",
    "lastLoginAt": "Last sign-in (oldest first)",
    "-createdAt": "Created (newest first)",
    "createdAt": "Created (oldest first)",
}
STATUSES = {"": "Any status", "enabled": "Enabled", "disabled": "Disabled"}
PER_PAGE = (10, 25, 50, 100)
DEFAULT_PER_PAGE = 25
MAX_FILTER_CHARS = 200
_FLOOR = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    """What the list shows: ``q`` (part of username, email or display name), ``provider``,
    ``status``, ``sort``, ``page`` (from 1) and ``per_page``."""

    q: str = ""
    provider: str = ""
    status: str = ""
    sort: str = "userName"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Query:
        """The query of a request's arguments, with defaults for anything unusable."""
        sort = args.get("sort", "userName")
        status = args.get("status", "")
        per_page = _number(args.get("per_page"), DEFAULT_PER_PAGE)
        return cls(
            q=args.get("q", "")[:MAX_FILTER_CHARS].strip(),
            provider=args.get("provider", "")[:64],
            status=status if status in STATUSES else "",
            sort=sort if sort in SORTS else "userName",
            page=max(1, _number(args.get("page"), 1)),
            per_page=per_page if per_page in PER_PAGE else DEFAULT_PER_PAGE,
        )

    def link(self, **changes: Any) -> str:
        """The list's URL with some parameters changed (defaults left out)."""
        values = {**self.__dict__, **changes}
        defaults = Query().__dict__
        kept = {key: value for key, value in values.items() if value != defaults[key]}
        return "/admin/users" + ("?" + urlencode(kept) if kept else "")


@dataclass(frozen=True)
class Row:
    """One user as the table shows them."""

    person: Person
    evaluation: Evaluation | None

    @property
    def roles(self) -> tuple[str, ...]:
        evaluation = self.evaluation
        return evaluation.roles if evaluation is not None and not evaluation.denied else ()

    @property
    def denied(self) -> bool:
        return bool(self.evaluation is not None and self.evaluation.denied)


@dataclass(frozen=True)
class Listing:
    rows: list[Row]
    total: int
    query: Query

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))

    @property
    def page(self) -> int:
        return self.query.page

    def link(self, page: int) -> str:
        """The list's URL at ``page``, with the same filters."""
        return self.query.link(page=page)

    @property
    def first(self) -> int:
        """The 1-based position of the first row shown (0 when there is none)."""
        return (self.query.page - 1) * self.query.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def listing(people: People, query: Query) -> Listing:
    """The page of users ``query`` asks for; a page past the end shows the last page."""
    matching = [person for person in people.all() if _matches(person, query)]
    key = query.sort.lstrip("-")
    sort_value = {
        "userName": lambda p: p.username,
        "createdAt": lambda p: (_aware(p.created_at), p.username),
        "lastLoginAt": lambda p: (_aware(p.last_login_at), p.username),
    }[key]
    matching.sort(key=sort_value, reverse=query.sort.startswith("-"))
    pages = max(1, -(-len(matching) // query.per_page))
    if query.page > pages:
        query = Query(**{**query.__dict__, "page": pages})
    start = (query.page - 1) * query.per_page
    shown = matching[start : start + query.per_page]
    return Listing([Row(person, people.evaluation(person)) for person in shown], len(matching), query)


def _matches(person: Person, query: Query) -> bool:
    if query.provider and person.provider != query.provider:
        return False
    if query.status and person.enabled != (query.status == "enabled"):
        return False
    if not query.q:
        return True
    needle = query.q.casefold()
    identity = person.identity
    texts = (
        person.username,
        identity.email if identity else None,
        identity.display_name if identity else None,
    )
    return any(needle in text.casefold() for text in texts if text)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return _FLOOR
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _number(text: str | None, default: int) -> int:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 9:
        return default
    return int(text)
