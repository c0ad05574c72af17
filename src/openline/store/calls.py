"""Reading calls and their facts, listing, and redaction.

Calls are written by the harness through the batching writer (see ``writer.py``);
only call creation, which precedes any turn, is written directly.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from openline.domain.calls import CallStatus, Fact, LogRecord
from openline.domain.evaluations import result_json
from openline.domain.shapes import call_json
from openline.domain.time import as_utc, utcnow
from openline.domain.webhook_events import CALL_FAILED, ENVELOPE_KEYS, analysis_event, call_event
from openline.store import schema
from openline.store.db import snapshot
from openline.store.delivery_queue import STARTED, after, announced, last_fact_rev, queue
from openline.store.evaluations import redact_results, shown_of_call
from openline.store.facts import TABLE_OF, from_row, read_facts
from openline.store.pagination import Page, PageRequest, paginate
from openline.store.rollups import queue_tallies


@dataclass(frozen=True)
class CallFilter:
    agent_id: str | None = None
    deployment_id: str | None = None
    status: str | None = None
    end_reason: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    text: str | None = None  # said by either side, case-insensitive
    name: str | None = None  # a log event's or metric's exact name
    metric: str | None = None  # calls that logged this metric, with the value bounds below
    metric_min: float | None = None  # a numeric value at least this
    metric_max: float | None = None  # and below this
    metric_value: str | None = None  # a non-numeric value, as analytics names it ("true")


class CallRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, row: dict, outbox: Sequence[dict] = ()) -> None:
        """Record a new call, and the webhook deliveries announcing it, together."""
        with self._engine.begin() as connection:
            connection.execute(schema.calls.insert(), row)
            if outbox:
                connection.execute(schema.webhook_deliveries.insert(), list(outbox))

    def get(self, call_id: str) -> dict | None:
        query = select(schema.calls).where(schema.calls.c.id == call_id)
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else _call_row(found._mapping)

    def trace_of(self, call_id: str) -> tuple[str, str] | None:
        """The call's trace id and root span id, if its process exported a trace."""
        c = schema.calls.c
        query = select(c.trace_id, c.trace_span_id).where(c.id == call_id)
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        if found is None or found.trace_id is None or found.trace_span_id is None:
            return None
        return found.trace_id, found.trace_span_id

    # For type checkers ``list`` in the annotations of the class body from here on is this
    # method, hence ``builtins.list`` below.
    def list(self, where: CallFilter, page: PageRequest) -> Page:
        """Calls matching ``where``, newest first."""
        c = schema.calls.c
        query = select(schema.calls)
        for column, value in (
            (c.agent_id, where.agent_id),
            (c.deployment_id, where.deployment_id),
            (c.status, where.status),
            (c.end_reason, where.end_reason),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.started_after is not None:
            query = query.where(c.start_time >= where.started_after)
        if where.started_before is not None:
            query = query.where(c.start_time < where.started_before)
        if where.text:
            t = schema.turns.c
            said = t.text.ilike(_containing(where.text), escape="\\")
            query = query.where(exists().where(t.call_id == c.id, said))
        if where.name:
            e, m = schema.log_events.c, schema.log_metrics.c
            query = query.where(
                or_(
                    exists().where(e.call_id == c.id, e.event == where.name),
                    exists().where(m.call_id == c.id, m.name == where.name),
                )
            )
        if where.metric:
            query = query.where(self._metric_matches(where))
        with self._engine.connect() as connection:
            result = paginate(connection, query, c.id, page)
        return Page(rows=[_call_row(row) for row in result.rows], has_more=result.has_more)

    def _metric_matches(self, where: CallFilter) -> Any:
        """The call logged ``where.metric`` with a value in the bounds: numbers for the
        numeric bounds, anything else (as text) for ``metric_value``, as analytics splits
        them. Values are JSON, read through a CASE so a string is never cast to a number
        (neither database promises to test the type first in a plain AND)."""
        m = schema.log_metrics.c
        if self._engine.dialect.name == "postgresql":
            root = m.value.op("#>>")(literal_column("'{}'"))
            kind = func.jsonb_typeof(m.value)
            number = case((kind == "number", cast(root, Float)))
            text = case((kind == "string", root), (kind != "number", cast(m.value, Text)))
        else:
            kind = func.json_type(m.value)
            numeric = kind.in_(("integer", "real"))
            number = case((numeric, func.json_extract(m.value, "$")))
            text = case(
                (kind == "text", func.json_extract(m.value, "$")), (~numeric, func.json(m.value))
            )
        conditions = [m.call_id == schema.calls.c.id, m.name == where.metric]
        if where.metric_min is not None:
            conditions.append(number >= where.metric_min)
        if where.metric_max is not None:
            conditions.append(number < where.metric_max)
        if where.metric_value is not None:
            conditions.append(text == where.metric_value)
        return exists().where(*conditions)

    def turn_counts(self, call_ids: builtins.list[str]) -> dict[str, int]:
        """How many turns each of these calls has (calls without any are left out)."""
        if not call_ids:
            return {}
        t = schema.turns.c
        query = select(t.call_id, func.count()).where(t.call_id.in_(call_ids)).group_by(t.call_id)
        with self._engine.connect() as connection:
            return dict(connection.execute(query).all())

    def agent_stats(self) -> dict[str, dict]:
        """Per agent: how many calls, how many are in progress, and when the last began."""
        c = schema.calls.c
        in_progress = func.sum(case((c.status == CallStatus.STARTED.value, 1), else_=0))
        query = select(c.agent_id, func.count(), in_progress, func.max(c.start_time)).group_by(
            c.agent_id
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            agent_id: {"calls": count, "live": int(live or 0), "last_call": as_utc(last)}
            for agent_id, count, live, last in rows
        }

    def webhooks_told(self, call_id: str) -> builtins.list[str]:
        """Every webhook endpoint told about this call (the agent's webhook may have changed)."""
        d = schema.webhook_deliveries.c
        query = select(d.webhook_id).where(d.call_id == call_id).distinct()
        with self._engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    def facts(
        self,
        call_ids: builtins.list[str],
        kinds: tuple[type[Fact], ...] = tuple(TABLE_OF),
        since_rev: int = -1,
    ) -> dict[str, builtins.list[Fact]]:
        """Facts of the given calls changed after ``since_rev``, each call's in seq order."""
        with snapshot(self._engine) as connection:
            return read_facts(connection, call_ids, kinds, since_rev)

    def with_facts(
        self, call_id: str, kinds: tuple[type[Fact], ...] = tuple(TABLE_OF), since_rev: int = -1
    ) -> tuple[dict | None, builtins.list[Fact]]:
        """A call and its facts as of one instant, so neither is ahead of the other."""
        with snapshot(self._engine) as connection:
            found = connection.execute(select(schema.calls).where(schema.calls.c.id == call_id))
            row = found.first()
            if row is None:
                return None, []
            return _call_row(row._mapping), read_facts(connection, [call_id], kinds, since_rev)[
                call_id
            ]

    def turns_with_tools(self, call_id: str, turn_seqs: set[int]) -> builtins.list[Fact]:
        """The given turns and all their tool calls, as of one instant: what is shown
        again when any one of them changed."""
        if not turn_seqs:
            return []
        t, tc = schema.turns, schema.tool_calls
        with snapshot(self._engine) as connection:
            turns = connection.execute(
                select(t).where(t.c.call_id == call_id, t.c.seq.in_(turn_seqs))
            )
            found = [from_row(t, dict(row._mapping)) for row in turns]
            tools = connection.execute(
                select(tc).where(tc.c.call_id == call_id, tc.c.turn_seq.in_(turn_seqs))
            )
            found += [from_row(tc, dict(row._mapping)) for row in tools]
        return found

    def logs(
        self,
        call_id: str,
        levels: tuple[str, ...] | None = None,
        search: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> tuple[builtins.list[LogRecord], bool]:
        """A page of the call's log lines in order, and whether more follow."""
        table = schema.call_logs
        query = select(table).where(table.c.call_id == call_id, table.c.seq > after_seq)
        if levels is not None:
            query = query.where(table.c.level.in_(levels))
        if search:
            query = query.where(table.c.message.ilike(_containing(search), escape="\\"))
        query = query.order_by(table.c.seq).limit(limit + 1)
        with self._engine.connect() as connection:
            rows = [LogRecord(**row._mapping) for row in connection.execute(query)]
        return rows[:limit], len(rows) > limit

    def redact(self, call_id: str) -> dict | None:
        """Wipe what the call said and carried; keep that it happened."""
        d = schema.webhook_deliveries
        with self._engine.begin() as connection:
            for table in schema.FACT_TABLES:
                connection.execute(table.delete().where(table.c.call_id == call_id))
            # Webhook payloads carry the transcript too: keep only their envelopes.
            stored = connection.execute(select(d.c.id, d.c.payload).where(d.c.call_id == call_id))
            for delivery_id, payload in stored.all():
                envelope = {key: payload.get(key) for key in ENVELOPE_KEYS} | {"redacted": True}
                connection.execute(d.update().where(d.c.id == delivery_id), {"payload": envelope})
            redact_results(connection, call_id)
            connection.execute(
                schema.calls.update()
                .where(schema.calls.c.id == call_id)
                .values(
                    summary=None,
                    metadata=None,
                    error_message=None,
                    agent_end_reason=None,
                    redacted_at=utcnow(),
                    rev=schema.calls.c.rev + 1,
                )
            )
            queue_tallies(connection, [call_id], utcnow())  # out of the analytics too
        return self.get(call_id)

    def save_analysis(self, call_id: str, summary: str, unless_done: bool = False) -> bool:
        """Store the summary and queue ``post_call_analysis`` (with the call's metric
        results) for the endpoint that was told of this call's start, after its other
        events, in one transaction.

        ``unless_done``: only if no analysis was stored meanwhile (two processes' sweeps may
        both pick a call up; the first to finish wins). Returns whether it was stored."""
        c = schema.calls.c
        which = c.id == call_id
        if unless_done:
            which &= c.analysis_status != "done"
        with self._engine.begin() as connection:
            stored = connection.execute(
                schema.calls.update()
                .where(which)
                .values(
                    summary=summary,
                    analysis_status="done",
                    analysis_error=None,
                    analysis_attempts=c.analysis_attempts + 1,
                    rev=c.rev + 1,
                )
            )
            if not stored.rowcount:
                return False
            results = [result_json(row, summary) for row in shown_of_call(connection, call_id)]
            if results:  # their pass rates join the call's tally
                queue_tallies(connection, [call_id], utcnow())
            last_fact = last_fact_rev(connection, call_id)
            for webhook_id, (agent_id, last_position) in announced(connection, call_id).items():
                payload = analysis_event(call_id, agent_id, webhook_id, summary, results)
                queue(connection, webhook_id, after(last_position, last_fact), payload)
        return True

    def analysis_failed(self, call_id: str, message: str) -> None:
        c = schema.calls.c
        with self._engine.begin() as connection:
            connection.execute(
                schema.calls.update()
                .where(c.id == call_id, c.analysis_status != "done")  # another process won
                .values(
                    analysis_status="failed",
                    analysis_error=message[:2000],
                    analysis_attempts=c.analysis_attempts + 1,
                )
            )

    def analyses_due(self, max_attempts: int, older_than_s: float) -> builtins.list[str]:
        """Ended calls whose analysis failed, or never ran (a restart), to try again."""
        c = schema.calls.c
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        query = select(c.id).where(
            c.analysis_status.in_(("pending", "failed")),
            c.analysis_attempts < max_attempts,
            c.redacted_at.is_(None),
            c.end_time < cutoff,
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query.limit(100)).scalars())

    def close_abandoned(
        self, live_processes, unowned_before: datetime, limit: int = 100
    ) -> builtins.list[str]:
        """Close, as failed, open calls whose process is gone: owned by none of
        ``live_processes`` (a subquery of process ids), or owned by nobody (calls from
        before leases) and started before ``unowned_before``. Returns their ids.

        Each is announced ``call_failed``, in the same transaction, to every webhook told
        of the call, after its other events, and queued for post-call analysis. One UPDATE
        claims the calls (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and closes them only
        while still `started`, so several processes sweeping at once close each exactly
        once; on SQLite, writing first takes the write lock before anything is read."""
        c = schema.calls.c
        owner = c.owner_process_id
        abandoned = (owner.is_not(None) & owner.not_in(live_processes)) | (
            owner.is_(None) & (c.start_time < unowned_before)
        )
        started = c.status == CallStatus.STARTED.value
        claim = (
            select(c.id)
            .where(started, abandoned)
            .order_by(c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        close = (
            schema.calls.update()
            .where(c.id.in_(claim), started)
            .values(
                ended_values(
                    CallStatus.FAILED, utcnow(), "error", _abandoned_message(owner), c.rev + 1
                )
            )
            .returning(*schema.calls.c)
        )
        with self._engine.begin() as connection:
            rows = [_call_row(found._mapping) for found in connection.execute(close)]
            facts = read_facts(connection, [row["id"] for row in rows], tuple(TABLE_OF), -1)
            for row in rows:
                _announce_failed(connection, row, facts[row["id"]])
            queue_tallies(connection, [row["id"] for row in rows], utcnow())
        return [row["id"] for row in rows]


def ended_values(
    status: CallStatus,
    end_time: Any,
    end_reason: str,
    error_message: Any,
    rev: Any,
    agent_end_reason: str | None = None,
) -> dict[str, Any]:
    """The columns a call's end sets, however it ended (its session, or the sweep closing a
    dead process's calls); its analysis is then due. Values may be SQL expressions."""
    return {
        "status": status.value,
        "end_time": end_time,
        "end_reason": end_reason,
        "agent_end_reason": agent_end_reason,
        "error_message": error_message,
        "analysis_status": "pending",
        "rev": rev,
    }


def _abandoned_message(owner):
    stopped = " stopped while the call was in progress"
    return case(
        (owner.is_(None), literal("openline" + stopped)),
        else_=literal("openline process ") + owner + literal(stopped + " (its lease expired)"),
    )


def _announce_failed(connection, row: dict, facts: list[Fact]) -> None:
    """Queue ``call_failed`` for each webhook told of the call (``call_started``), or, when
    none was (a call recorded before its agent had one), the agent's enabled webhook."""
    a, w = schema.agents.c, schema.webhooks.c
    told = {webhook_id: last for webhook_id, (_, last) in announced(connection, row["id"]).items()}
    if not told:
        enabled = connection.execute(
            select(w.id)
            .join(schema.agents, a.webhook_id == w.id)
            .where(a.id == row["agent_id"], w.disabled_at.is_(None))
        )
        told = dict.fromkeys(enabled.scalars(), STARTED)
    last_fact = max((fact.rev for fact in facts), default=0)
    for webhook_id, last_position in told.items():
        payload = call_event(CALL_FAILED, call_json(row, facts), webhook_id)
        queue(connection, webhook_id, after(last_position, last_fact), payload)


def _containing(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _call_row(mapping) -> dict:
    row = dict(mapping)
    for name in ("start_time", "end_time", "redacted_at"):
        row[name] = as_utc(row[name])
    return row
