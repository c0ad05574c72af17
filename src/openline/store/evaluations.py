"""Evaluation metrics, the agents they are attached to, and their results per call.

A result row is made ``pending`` for each (call, metric) pair when the call's analysis
starts. A process judges a pair only while it holds the pair's lease
(``claimed_until``), taken by one conditional UPDATE, so two processes never judge one
pair at once; a lease left by a killed process expires and the pair is judged again.
A result is written only by the lease holder, and is final once completed, or failed
for a reason retrying cannot change, or failed too often.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from openline import ids
from openline.domain.evaluations import ResultStatus
from openline.domain.rules import Verdict
from openline.domain.time import utcnow
from openline.store import schema
from openline.store.db import snapshot
from openline.store.pagination import Page, PageRequest, paginate

m = schema.eval_metrics
r = schema.metric_results


class DuplicateName(ValueError):
    pass


@dataclass(frozen=True)
class ResultFilter:
    agent_id: str | None = None
    call_id: str | None = None
    deployment_id: str | None = None
    metric_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A pending pair this process may judge until ``until``."""

    result_id: str
    metric: dict
    until: datetime
    attempts: int  # failed attempts so far


@dataclass(frozen=True)
class Outcome:
    """What judging a claimed pair came to: a verdict, or a failure and its reason."""

    claim: Claim
    verdict: Verdict | None
    failure: str = ""
    final: bool = True  # a failure that will not be retried


def _values(outcome: Outcome) -> dict[str, Any]:
    verdict = outcome.verdict
    if verdict is None:
        return {
            "status": ResultStatus.FAILED,
            "final": outcome.final,
            "reason": outcome.failure[:2000],
        }
    return {
        "status": ResultStatus.COMPLETED,
        "final": True,
        "result": verdict.result,
        "value": verdict.value,
        "json_result": verdict.details,
        "reason": verdict.reason,
        "passed": verdict.passed,
    }


class MetricRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, prompt: str, display_name: str | None, rule: Any) -> dict:
        row = {
            "id": ids.new_id(ids.METRIC),
            "name": name,
            "display_name": display_name,
            "prompt": prompt,
            "rule": rule,
            "created_at": utcnow(),
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(m.insert(), row)
        except IntegrityError as error:
            raise DuplicateName(f"a metric named {name!r} exists already") from error
        return row

    def get(self, metric_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(select(m).where(m.c.id == metric_id)).first()
        return None if found is None else dict(found._mapping)

    def find(self, id_or_name: str) -> dict | None:
        query = select(m).where(or_(m.c.id == id_or_name, m.c.name == id_or_name))
        with self._engine.connect() as connection:
            found = connection.execute(query).first()
        return None if found is None else dict(found._mapping)

    def list(self, page: PageRequest) -> Page:
        with self._engine.connect() as connection:
            return paginate(connection, select(m), m.c.id, page)

    def attach(self, agent_id: str, metric_id: str) -> None:
        """Idempotent: attaching twice keeps one attachment."""
        row = {"agent_id": agent_id, "metric_id": metric_id, "created_at": utcnow()}
        try:
            with self._engine.begin() as connection:
                connection.execute(schema.agent_metrics.insert(), row)
        except IntegrityError:
            pass  # attached already

    def detach(self, agent_id: str, metric_id: str) -> bool:
        a = schema.agent_metrics
        with self._engine.begin() as connection:
            gone = connection.execute(
                a.delete().where(a.c.agent_id == agent_id, a.c.metric_id == metric_id)
            )
        return bool(gone.rowcount)

    def of_agent(self, agent_id: str) -> builtins.list[dict]:
        a = schema.agent_metrics
        query = (
            select(m)
            .join(a, a.c.metric_id == m.c.id)
            .where(a.c.agent_id == agent_id)
            .order_by(m.c.name)
        )
        with self._engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


class ResultRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open_pairs(self, call: dict) -> None:
        """Make a pending result for each metric attached to the call's agent that has
        none yet, in one statement (two processes doing it at once make each once)."""
        a = schema.agent_metrics
        query = (
            select(m.c.id, m.c.name)
            .join(a, a.c.metric_id == m.c.id)
            .where(a.c.agent_id == call["agent_id"])
            .where(
                ~select(r.c.id).where(r.c.call_id == call["id"], r.c.metric_id == m.c.id).exists()
            )
        )
        with self._engine.connect() as connection:
            missing = connection.execute(query).all()
        if not missing:
            return
        now = utcnow()
        rows = [
            {
                "id": ids.new_id(ids.METRIC_RESULT),
                "call_id": call["id"],
                "metric_id": metric_id,
                "metric_name": name,
                "agent_id": call["agent_id"],
                "deployment_id": call.get("deployment_id"),
                "status": ResultStatus.PENDING,
                "created_at": now,
                "updated_at": now,
            }
            for metric_id, name in missing
        ]
        # Its own transaction, writing first: on SQLite a read turned write fails at once
        # when another connection wrote meanwhile.
        with self._engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(r).values(rows).on_conflict_do_nothing())

    def claim(self, call_id: str, lease_s: float) -> builtins.list[Claim]:
        """Take, in one UPDATE, the lease of each of the call's unfinished pairs that
        nobody holds (a pair another process is taking at the same moment is its)."""
        now = utcnow()
        until = now + timedelta(seconds=lease_s)
        free = or_(r.c.claimed_until.is_(None), r.c.claimed_until < now)
        with self._engine.begin() as connection:
            taken = (
                connection.execute(
                    r.update()
                    .where(r.c.call_id == call_id, r.c.final.is_(False), free)
                    .values(claimed_until=until)
                    .returning(r.c.id)
                )
                .scalars()
                .all()
            )
            if not taken:
                return []
            rows = connection.execute(
                select(r.c.id.label("result_id"), r.c.attempts, m)
                .join(m, m.c.id == r.c.metric_id)
                .where(r.c.id.in_(taken))
            ).all()
        claims = []
        for row in rows:
            fields = dict(row._mapping)
            result_id, attempts = fields.pop("result_id"), fields.pop("attempts")
            claims.append(Claim(result_id, fields, until, attempts))
        return claims

    def settle(self, call_id: str, outcomes: Sequence[Outcome]) -> bool:
        """Write each outcome whose lease is still ours (one lost meanwhile is not
        written), in one transaction; whether every pair of the call is final now."""
        with self._engine.begin() as connection:
            for outcome in outcomes:
                connection.execute(
                    r.update()
                    .where(
                        r.c.id == outcome.claim.result_id,
                        r.c.claimed_until == outcome.claim.until,
                    )
                    .values(
                        **_values(outcome),
                        attempts=r.c.attempts + 1,
                        claimed_until=None,
                        updated_at=utcnow(),
                    )
                )
            unfinished = select(r.c.id).where(r.c.call_id == call_id, r.c.final.is_(False))
            return connection.execute(unfinished.limit(1)).first() is None

    def of_call(self, call_id: str) -> builtins.list[dict]:
        with self._engine.connect() as connection:
            return shown_of_call(connection, call_id)

    def list(self, where: ResultFilter, page: PageRequest) -> Page:
        with self._engine.connect() as connection:
            return paginate(connection, _shown(where), r.c.id, page)

    def export(self, where: ResultFilter, batch: int = 500) -> Iterator[dict]:
        """Every matching result, newest first, read in batches from one snapshot."""
        with snapshot(self._engine) as connection:
            after: str | None = None
            while True:
                query = _shown(where).order_by(r.c.id.desc()).limit(batch)
                if after is not None:
                    query = query.where(r.c.id < after)
                rows = [dict(row._mapping) for row in connection.execute(query)]
                yield from rows
                if len(rows) < batch:
                    return
                after = rows[-1]["id"]


def redact_results(connection: Connection, call_id: str) -> None:
    """Keep whether each of the call's metrics passed, not what the judge said of it (a
    reason may quote the caller). A pair still being judged is closed: its lease holder
    can no longer write."""
    connection.execute(
        r.update()
        .where(r.c.call_id == call_id)
        .values(
            result=None,
            value=None,
            json_result=None,
            reason=None,
            final=True,
            claimed_until=None,
            updated_at=utcnow(),
        )
    )


def shown_of_call(connection: Connection, call_id: str) -> list[dict]:
    """A call's judged results (with the call's summary), by metric name."""
    query = _shown(ResultFilter(call_id=call_id)).order_by(r.c.metric_name)
    return [dict(row._mapping) for row in connection.execute(query)]


def _shown(where: ResultFilter):
    """Judged results (never pending ones) with their call's summary."""
    c = schema.calls
    query = (
        select(r, c.c.summary)
        .join(c, c.c.id == r.c.call_id)
        .where(r.c.status != ResultStatus.PENDING)
    )
    for column, value in (
        (r.c.agent_id, where.agent_id),
        (r.c.call_id, where.call_id),
        (r.c.deployment_id, where.deployment_id),
        (r.c.metric_id, where.metric_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.start_date is not None:
        query = query.where(r.c.created_at >= where.start_date)
    if where.end_date is not None:
        query = query.where(r.c.created_at <= where.end_date)
    return query
