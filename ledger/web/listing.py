"""Sorting, paging and searching for every long list: one reading of ``page``, ``sort`` and ``q``.

A list names the columns it may be sorted by (a whitelist): an unknown ``sort`` is ignored and
the default order used. A page number that is not a number, or below 1, shows the first page;
one past the end shows the last; each says so in a note instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.sql import Select

from ..extensions import db
from .forms import _

PAGE_SIZE = 50
#: a search longer than this is cut (a name or number is never this long)
MAX_SEARCH = 100


@dataclass(frozen=True)
class Sort:
    """The chosen sort column and direction; ``key`` is always one the list allows."""

    key: str
    descending: bool

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key


@dataclass(frozen=True)
class Listing:
    """One page of a list, with what the pager and the column headers need."""

    items: list
    page: int
    pages: int
    total: int
    sort: Sort
    #: why another page than the one asked for is shown, or None
    note: str | None = None

    def link(self, **changes: Any) -> str:
        """This list's URL with ``changes`` to its query (``page``, ``sort``, a filter); None removes one."""
        args = {**request.args.to_dict(), **changes}
        kept = {name: value for name, value in args.items() if value not in (None, "")}
        return url_for(request.endpoint, **(request.view_args or {}), **kept)

    def sort_link(self, key: str) -> str:
        """The link a column header gives: by ``key``, the other way round when it is the current sort."""
        descending = not self.sort.descending if key == self.sort.key else False
        return self.link(sort=("-" if descending else "") + key, page=None)

    def aria_sort(self, key: str) -> str | None:
        if key != self.sort.key:
            return None
        return "descending" if self.sort.descending else "ascending"


def search_text() -> tuple[str, str | None]:
    """The ``q`` typed, trimmed and cut to :data:`MAX_SEARCH` characters, and a note when it was cut."""
    raw = request.args.get("q", "").strip()
    if len(raw) <= MAX_SEARCH:
        return raw, None
    return raw[:MAX_SEARCH], _("The search was cut to its first %(count)d characters.") % {"count": MAX_SEARCH}


def searched(statement: Select, search: str, *columns: Any) -> Select:
    """The rows where any of ``columns`` holds ``search`` (all rows for an empty one), case aside; the
    search's own ``%`` and ``_`` are taken literally (escaped with ``\\``)."""
    if not search:
        return statement
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return statement.where(or_(*(column.ilike(pattern, escape="\\") for column in columns)))


def chosen_sort(allowed: Sequence[str], default: str) -> Sort:
    """The ``sort`` asked for (``-key`` for descending) if ``allowed``; ``default`` otherwise."""
    raw = request.args.get("sort", "")
    if raw.removeprefix("-") not in allowed:
        raw = default
    return Sort(raw.removeprefix("-"), raw.startswith("-"))


def _page_asked() -> tuple[int, str | None]:
    raw = request.args.get("page", "1").strip() or "1"
    try:
        number = int(raw) if len(raw) < 20 else None
    except ValueError:
        number = None
    if number is None or number < 1:
        return 1, _("There is no page “%(page)s”: pages are numbered from 1. Here is the first.") % {
            "page": raw[:20]}
    return number, None


def _page_bounds(total: int) -> tuple[int, int, str | None]:
    """The page to show, the number of pages, and a note when it is not the page asked for."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page, note = _page_asked()
    if page > pages:
        note = _("There is no page %(page)d: the list has %(pages)d. Here is the last.") % {
            "page": page, "pages": pages}
        page = pages
    return page, pages, note


def paginate(statement: Select, columns: dict[str, Any], default: str, tiebreak: Any) -> Listing:
    """One page of ``statement``'s rows, sorted by the column ``columns`` names for ``sort``, then ``tiebreak``."""
    sort = chosen_sort(list(columns), default)
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    page, pages, note = _page_bounds(total)
    column = columns[sort.key]
    ordered = statement.order_by(None).order_by(column.desc() if sort.descending else column.asc(),
                                                tiebreak.desc() if sort.descending else tiebreak.asc())
    items = db.session.scalars(ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return Listing(list(items), page, pages, total, sort, note)


def paginate_list(rows: Sequence, keys: dict[str, Callable[[Any], Any]], default: str) -> Listing:
    """One page of ``rows`` already read (a list whose order is computed, not stored), sorted in Python."""
    sort = chosen_sort(list(keys), default)
    page, pages, note = _page_bounds(len(rows))
    ordered = sorted(rows, key=keys[sort.key], reverse=sort.descending)
    start = (page - 1) * PAGE_SIZE
    return Listing(ordered[start:start + PAGE_SIZE], page, pages, len(rows), sort, note)
