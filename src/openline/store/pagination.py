"""Cursor pagination over time-ordered ids, newest first, as Cartesia's lists page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Select


@dataclass(frozen=True)
class PageRequest:
    limit: int = 10
    starting_after: str | None = None  # return items older than this id
    ending_before: str | None = None  # return items newer than this id


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    has_more: bool

    @property
    def next_page(self) -> str | None:
        return self.rows[-1]["id"] if self.has_more and self.rows else None


def paginate(connection, query: Select, id_column: Column, page: PageRequest) -> Page:
    if page.ending_before is not None:
        # Take the `limit` items just newer than the cursor, then show them newest first.
        query = query.where(id_column > page.ending_before).order_by(id_column.asc())
        rows = _dicts(connection.execute(query.limit(page.limit + 1)))
        return Page(rows=list(reversed(rows[: page.limit])), has_more=len(rows) > page.limit)
    if page.starting_after is not None:
        query = query.where(id_column < page.starting_after)
    rows = _dicts(connection.execute(query.order_by(id_column.desc()).limit(page.limit + 1)))
    return Page(rows=rows[: page.limit], has_more=len(rows) > page.limit)


def _dicts(result) -> list[dict]:
    return [dict(row._mapping) for row in result]
