"""The writer's operations, and their one-line form in the journal.

A line is compact JSON: ``["i", table, call_id, with_previous, row]`` or ``["u", table,
call_id, key, values]``. Datetimes are written as ISO 8601 and read back as datetimes by
the column type they are stored in (a JSON column's strings stay strings); floats and
JSON values round-trip exactly.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Table

from openline.store.schema import metadata


@dataclass(frozen=True, slots=True)
class Insert:
    table: Table
    row: dict[str, Any]
    call_id: str
    with_previous: bool = False  # commit in the same transaction as the op before it


@dataclass(frozen=True, slots=True)
class Update:
    table: Table
    key: tuple[Any, ...]  # primary-key values, in the table's primary-key column order
    values: dict[str, Any]
    call_id: str


Op = Insert | Update


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_encode = json.JSONEncoder(separators=(",", ":"), default=_iso).encode


def encode(op: Op) -> bytes:
    if type(op) is Insert:
        line = ["i", op.table.name, op.call_id, op.with_previous, op.row]
    else:
        line = ["u", op.table.name, op.call_id, op.key, op.values]
    return (_encode(line) + "\n").encode()


def decode(line: bytes) -> Op:
    kind, table_name, call_id, third, fields = json.loads(line)
    table = metadata.tables[table_name]
    for name in _datetime_columns(table).intersection(fields):
        if isinstance(fields[name], str):
            fields[name] = datetime.fromisoformat(fields[name])
    if kind == "i":
        return Insert(table, fields, call_id, third)
    return Update(table, tuple(third), fields, call_id)


@functools.cache
def _datetime_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, DateTime))
