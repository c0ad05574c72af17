"""Parameter types every route shares, bounded to what the databases hold, so a value
out of their range is a 422 that says why instead of an error deep in a query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# Sequence numbers and revisions are INTEGER columns: 32 bits on PostgreSQL, so one
# bound for both databases.
INTEGER_MAX = 2**31 - 1


def _in_utc(value: datetime) -> datetime:
    """``value`` in UTC (naive: taken as UTC); a time whose UTC form falls outside years
    1–9999 (``0001-01-01T00:00:00+01:00``) cannot be compared with stored times."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "is outside years 0001 to 9999 once converted to UTC; give an RFC 3339 time in range"
        ) from None


UtcTime = Annotated[datetime, AfterValidator(_in_utc)]
"""An RFC 3339 time, handed to the route in UTC."""

Cursor = Annotated[int, Field(ge=0, le=INTEGER_MAX)]
"""A sequence number or revision to page after."""


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000), which PostgreSQL cannot store")
    return value


def storable_json(value: dict[str, Any]) -> dict[str, Any]:
    pending: list[Any] = [value]
    while pending:  # a loop, not recursion: bodies may nest as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, str):
            _storable(item)
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return value


Text = Annotated[str, AfterValidator(_storable)]
"""A string both databases can store and compare against (ids, search text, fields)."""

JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
"""A JSON object whose strings, keys included, the databases can store."""
