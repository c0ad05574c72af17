"""Terminal output and the small parsers and formatters the commands share."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from openline.cli._errors import CliError

PIPE_WIDTH = 200  # tables written to a pipe or file are not folded at 80 columns


def _width(stream) -> int | None:
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return None if is_terminal or os.environ.get("COLUMNS") else PIPE_WIDTH


console = Console(soft_wrap=True, highlight=False, width=_width(sys.stdout))
err_console = Console(stderr=True, soft_wrap=True, highlight=False, width=_width(sys.stderr))


def print_json(value: Any) -> None:
    """JSON for scripts: plain (never colored or wrapped), on stdout."""
    console.file.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    console.file.flush()


Cell = str | Text | None
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


def _cell(value: Cell) -> Text:
    """Text as it is (never read as Rich markup); nothing shown as "-"."""
    if isinstance(value, Text):
        return value
    return Text(str(value)) if value not in (None, "") else Text("-")


def list_table(columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Table:
    """Rows under bold headings, no borders: the CLI's lists."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    return table


def print_list(
    items: Sequence[dict],
    columns: Sequence[str],
    cells: Callable[[dict], Sequence[Cell]],
    *,
    empty: str,
    as_json: bool,
    json_value: Any = None,
) -> None:
    """What a list command prints: the API's JSON (``json_value``, else the items) with
    --json; otherwise a table, or ``empty`` when there is nothing to list."""
    if as_json:
        print_json(items if json_value is None else json_value)
    elif not items:
        console.print(empty)
    else:
        console.print(list_table(columns, map(cells, items)))


def print_fields(
    item: dict, fields: Callable[[dict], Iterable[tuple[str, Cell]]], *, as_json: bool
) -> None:
    """What a `get` command prints: the API's JSON with --json, otherwise ``fields(item)``."""
    if as_json:
        print_json(item)
    else:
        console.print(fields_table(fields(item)))


def fields_table(fields: Iterable[tuple[str, Cell]]) -> Table:
    """One thing's fields, a bold label before each: what the CLI's `get` commands show."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in fields:
        table.add_row(label, _cell(value))
    return table


def compact(value: Any, limit: int | None = 200) -> str:
    """A one-line rendering of a JSON value (strings as they are)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# -- time -----------------------------------------------------------------------------------


def offset(seconds: float | None) -> str:
    """Seconds from call start as ``mm:ss.mmm`` (``h:mm:ss.mmm`` past an hour)."""
    if seconds is None:
        return "--:--.---"
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{millis:03d}"
    return f"{minutes:02d}:{secs:02d}.{millis:03d}"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)


def when(value: str | None) -> str:
    """An RFC 3339 instant from the API, shown in UTC to the second."""
    moment = parse_time(value)
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: str | None, end: str | None) -> str:
    begun, ended = parse_time(start), parse_time(end)
    if begun is None or ended is None:
        return "-"
    seconds = max(0.0, (ended - begun).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> str:
    """``--since`` / ``--until``: an ISO 8601 date or time (UTC unless it says otherwise),
    or an age such as ``30m``, ``2h``, ``7d``. Returns an RFC 3339 UTC instant."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        moment = now - timedelta(**{_UNITS[unit]: amount})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CliError(
                f"{value!r} is not a time: use ISO 8601 (2025-01-31, 2025-01-31T14:00, "
                "2025-01-31T14:00+02:00) or an age (30m, 2h, 7d)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_json_object(value: str | None, option: str) -> dict | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise CliError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise CliError(f'{option} must be a JSON object, like \'{{"team": "support"}}\'')
    return parsed
