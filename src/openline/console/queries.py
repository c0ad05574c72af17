"""Read queries the console needs beyond what the repositories offer.

The console reads the store directly (never its own HTTP API): these are the searches
and roll-ups behind its pages — calls filtered by what was said or logged in them,
per-agent call counts, a call's webhook deliveries across endpoints, and the few facts
a live update has to re-render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, Table, Text, case, cast, exists, func, or_, select

from openline.domain.time import as_utc
from openline.store import schema
from openline.store.db import snapshot
from openline.store.pagination import Page, PageRequest, paginate


@dataclass(frozen=True)
class CallSearch:
    agent_id: str | None = None
    deployment_id: str | None = None
    status: str | None = None
    end_reason: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    text: str | None = None  # said by either side, case-insensitive
    name: str | None = None  # a log event's or metric's exact name


def search_calls(engine: Engine, where: CallSearch, page: PageRequest) -> Page:
    """Calls newest first, each with how many turns it has (``turn_count``)."""
    c = schema.calls.c
    query = select(schema.calls)
    for column, value in (
        (c.agent_id, where.agent_id),
        (c.deployment_id, where.deployment_id),
        (c.status, where.status),
        (c.end_reason, where.end_reason),
    ):
        if value:
            query = query.where(column == value)
    if where.started_after is not None:
        query = query.where(c.start_time >= where.started_after)
    if where.started_before is not None:
        query = query.where(c.start_time < where.started_before)
    if where.text:
        t = schema.turns.c
        query = query.where(
            exists().where(t.call_id == c.id, t.text.ilike(_contains(where.text), escape="\\"))
        )
    if where.name:
        e, m = schema.log_events.c, schema.log_metrics.c
        query = query.where(
            or_(
                exists().where(e.call_id == c.id, e.event == where.name),
                exists().where(m.call_id == c.id, m.name == where.name),
            )
        )
    with engine.connect() as connection:
        found = paginate(connection, query, c.id, page)
        counts = _turn_counts(connection, [row["id"] for row in found.rows])
    rows = []
    for row in found.rows:
        for name in ("start_time", "end_time", "redacted_at"):
            row[name] = as_utc(row[name])
        rows.append(row | {"turn_count": counts.get(row["id"], 0)})
    return Page(rows=rows, has_more=found.has_more)


def _turn_counts(connection, call_ids: list[str]) -> dict[str, int]:
    if not call_ids:
        return {}
    t = schema.turns.c
    query = select(t.call_id, func.count()).where(t.call_id.in_(call_ids)).group_by(t.call_id)
    return dict(connection.execute(query).all())


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def agent_call_stats(engine: Engine) -> dict[str, dict]:
    """Per agent: how many calls, how many are in progress, and when the last began."""
    c = schema.calls.c
    in_progress = func.sum(case((c.status == "started", 1), else_=0))
    query = select(c.agent_id, func.count(), in_progress, func.max(c.start_time)).group_by(
        c.agent_id
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        agent_id: {"calls": count, "live": int(live or 0), "last_call": as_utc(last)}
        for agent_id, count, live, last in rows
    }


def webhook_ids_for_call(engine: Engine, call_id: str) -> list[str]:
    """Every webhook endpoint told about this call (the agent's webhook may have changed)."""
    d = schema.webhook_deliveries.c
    query = select(d.webhook_id).where(d.call_id == call_id).distinct()
    with engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


@dataclass
class Transcript:
    """A call's transcript facts as plain rows, JSON columns left as their JSON text:
    the page shows them as they are, so nothing is parsed only to be printed again.
    Each row's columns are in the order of the ``*_COLUMNS`` below, so readers unpack
    them (much faster than reading attributes, thousands of times)."""

    call: dict | None
    turns: list = field(default_factory=list)
    tools: list = field(default_factory=list)
    events: list = field(default_factory=list)
    metrics: list = field(default_factory=list)

    @property
    def rev(self) -> int:
        rows = (*self.turns, *self.tools, *self.events, *self.metrics)
        return max((row[1] for row in rows), default=-1)


TURN_COLUMNS = (
    "seq", "rev", "timestamp", "role", "text", "end_timestamp", "end_reason",
    "interruptible", "text_chunks", "tts_ttfb", "stt_ttfb", "vad_buffer_ms", "generated_text",
)  # fmt: skip
TOOL_COLUMNS = (
    "seq", "rev", "timestamp", "name", "arguments", "tool_call_id", "turn_seq", "result",
    "result_timestamp",
)  # fmt: skip
EVENT_COLUMNS = ("seq", "rev", "timestamp", "event", "metadata", "level", "message")
METRIC_COLUMNS = ("seq", "rev", "timestamp", "name", "value")
_JSON = {"text_chunks", "arguments", "metadata", "value"}


def _columns(table: Table, names: tuple[str, ...]) -> list:
    return [
        cast(table.c[name], Text).label(name) if name in _JSON else table.c[name] for name in names
    ]


_TURNS = _columns(schema.turns, TURN_COLUMNS)
_TOOLS = _columns(schema.tool_calls, TOOL_COLUMNS)
_EVENTS = _columns(schema.log_events, EVENT_COLUMNS)
_METRICS = _columns(schema.log_metrics, METRIC_COLUMNS)


def transcript(engine: Engine, call_id: str, since_rev: int = -1) -> Transcript:
    """The call and its facts changed after ``since_rev``, read in one snapshot."""
    t, tc, e, m = schema.turns, schema.tool_calls, schema.log_events, schema.log_metrics
    with snapshot(engine) as connection:
        found = connection.execute(select(schema.calls).where(schema.calls.c.id == call_id))
        row = found.first()
        if row is None:
            return Transcript(None)
        call = dict(row._mapping)
        for name in ("start_time", "end_time", "redacted_at"):
            call[name] = as_utc(call[name])

        def read(table: Table, columns: list) -> list:
            query = select(*columns).where(table.c.call_id == call_id, table.c.rev > since_rev)
            return connection.execute(query).all()

        return Transcript(
            call, read(t, _TURNS), read(tc, _TOOLS), read(e, _EVENTS), read(m, _METRICS)
        )


def turns_with_tools(engine: Engine, call_id: str, turn_seqs: set[int]) -> Transcript:
    """The given turns and all their tool calls: what a live update draws again when
    any one of them changed."""
    if not turn_seqs:
        return Transcript(None)
    t, tc = schema.turns, schema.tool_calls
    with snapshot(engine) as connection:
        turns = connection.execute(
            select(*_TURNS).where(t.c.call_id == call_id, t.c.seq.in_(turn_seqs))
        ).all()
        tools = connection.execute(
            select(*_TOOLS).where(tc.c.call_id == call_id, tc.c.turn_seq.in_(turn_seqs))
        ).all()
    return Transcript(None, turns, tools)
