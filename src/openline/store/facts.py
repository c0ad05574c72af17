"""Mapping between fact objects and their rows."""

from __future__ import annotations

import dataclasses
from enum import Enum

from sqlalchemy import Connection, Table, select

from openline.domain.calls import (
    Fact,
    LogEvent,
    LogMetric,
    LogRecord,
    Role,
    Signal,
    ToolCall,
    Turn,
    TurnEndReason,
)
from openline.store import schema

TABLE_OF: dict[type[Fact], Table] = {
    Turn: schema.turns,
    ToolCall: schema.tool_calls,
    LogEvent: schema.log_events,
    LogMetric: schema.log_metrics,
    Signal: schema.call_signals,
    LogRecord: schema.call_logs,
}
_TYPE_OF: dict[Table, type[Fact]] = {table: kind for kind, table in TABLE_OF.items()}


_FIELDS_OF: dict[type[Fact], tuple[str, ...]] = {
    kind: tuple(field.name for field in dataclasses.fields(kind)) for kind in TABLE_OF
}


def to_row(fact: Fact) -> dict:
    row = {}
    for name in _FIELDS_OF[type(fact)]:
        value = getattr(fact, name)
        row[name] = value.value if isinstance(value, Enum) else value
    return row


def from_row(table: Table, row: dict) -> Fact:
    kind = _TYPE_OF[table]
    if kind is Turn:
        row = dict(row)
        row["role"] = Role(row["role"])
        if row["end_reason"] is not None:
            row["end_reason"] = TurnEndReason(row["end_reason"])
        row["text_chunks"] = row["text_chunks"] or []
    return kind(**row)


def read_facts(
    connection: Connection, call_ids: list[str], kinds: tuple[type[Fact], ...], since_rev: int
) -> dict[str, list[Fact]]:
    """The facts of ``kinds`` of each call changed after ``since_rev``, in call order."""
    found: dict[str, list[Fact]] = {call_id: [] for call_id in call_ids}
    if not call_ids:
        return found
    for kind in kinds:
        table = TABLE_OF[kind]
        query = select(table).where(table.c.call_id.in_(call_ids), table.c.rev > since_rev)
        for row in connection.execute(query):
            found[row.call_id].append(from_row(table, dict(row._mapping)))
    for facts in found.values():
        facts.sort(key=lambda fact: fact.seq)
    return found
