"""The webhook delivery queue (the outbox): where deliveries are written, in what order,
and how they are claimed, recorded and redelivered.

Every delivery is written by ``queue``, at a position that orders it among its call's
deliveries to one endpoint (they go out in position order):

- ``call_started`` is first (``STARTED``);
- a delivery announcing a fact takes that fact's rev (``fact.rev`` when it is queued);
- one announcing the call's end or its analysis goes after everything so far: one past
  the highest position and fact rev (``after``).

What an endpoint's attempts mean for its health (streak, circuit, disabling) is decided by
a policy (``HealthRules``, implemented in ``openline.webhooks.health``); this module only
applies the decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    and_,
    bindparam,
    exists,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from openline import ids
from openline.domain.notifications import JSON
from openline.domain.time import as_utc, utcnow
from openline.domain.webhook_health import is_open
from openline.store.schema import FACT_TABLES, webhook_attempts, webhook_deliveries, webhooks
from openline.store.webhook_secrets import WebhookSecrets
from openline.store.writer import Writer

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

STARTED = 0  # the position of ``call_started``: before every fact


def after(last_position: int, last_fact_rev: int) -> int:
    """The position of a delivery announcing the call's end or its analysis."""
    return max(last_position, last_fact_rev) + 1


def queue(
    into: Writer | Connection,
    webhook_id: str,
    position: int,
    payload: dict[str, Any],
    claimed_until: datetime | None = None,
    subject: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Write one delivery of ``payload``: through the batching writer, in the transaction
    of the op queued just before it (the fact it announces), or in an open transaction.
    Returns the row. ``claimed_until``: the caller sends it itself (a test send).
    ``subject``: (what the deliveries go in order of, agent id) of an event that is not
    a call's (an alert's: its rule); a call event's are its call and agent."""
    row = outbox_row(webhook_id, position, payload, subject)
    if claimed_until is not None:
        row["claimed_until"] = claimed_until
    if isinstance(into, Connection):
        into.execute(webhook_deliveries.insert(), row)
    else:
        into.insert(webhook_deliveries, row, row["call_id"], with_previous=True)
    return row


def outbox_row(
    webhook_id: str,
    position: int,
    payload: dict[str, Any],
    subject: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A pending delivery of ``payload``; its id is the ``webhook-id`` header, fixed for
    every retry so receivers can deduplicate."""
    now = utcnow()
    ordered_by, agent_id = subject or (payload["call_id"], payload["agent_id"])
    return {
        "id": ids.new_id(ids.DELIVERY),
        "webhook_id": webhook_id,
        "call_id": ordered_by,
        "agent_id": agent_id,
        "event_type": payload["type"],
        "position": position,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def announced(connection: Connection, call_id: str) -> dict[str, tuple[str, int]]:
    """The endpoints told of the call so far: webhook id -> (agent id, highest position)."""
    d = webhook_deliveries.c
    query = (
        select(d.webhook_id, d.agent_id, func.max(d.position))
        .where(d.call_id == call_id)
        .group_by(d.webhook_id, d.agent_id)
    )
    return {
        webhook_id: (agent_id, last) for webhook_id, agent_id, last in connection.execute(query)
    }


def last_fact_rev(connection: Connection, call_id: str) -> int:
    """The highest rev among the call's recorded facts (0: none)."""
    revs = union_all(*(select(t.c.rev).where(t.c.call_id == call_id) for t in FACT_TABLES))
    found = connection.execute(select(func.max(revs.subquery().c.rev))).scalar()
    return found or 0


@dataclass(frozen=True)
class Claimed:
    """A delivery this process may attempt now, with what it needs to send it."""

    id: str
    webhook_id: str
    call_id: str
    url: str
    secret: str | None  # None: sealed with another key than this process's
    payload: dict[str, Any]
    attempts: int
    retry_step: int = 0  # failed attempts that counted against the retry schedule
    format: str = JSON  # how it is sent (domain.notifications)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: float
    response_excerpt: str | None
    error: str | None
    retry_in_s: float | None  # by the delivery's schedule; None: delivered, or used up
    delivered: bool
    disable_reason: str | None = None  # the endpoint asked to stop (410 Gone)


@dataclass(frozen=True)
class EndpointHealth:
    """An endpoint's health as stored, before the attempts being recorded."""

    failure_streak: int
    failing_since: datetime | None
    disabled: bool


@dataclass(frozen=True)
class HealthMove:
    """What an endpoint's attempts change: the policy's decision, for the queue to apply."""

    changes: dict[str, Any]  # its health columns to write; empty: none change
    holds: bool = False  # its failed deliveries wait for it (paused or disabled)
    resumed: bool = False  # it takes deliveries again: what it held is due now


@dataclass(frozen=True)
class DeliveryMove:
    """What one attempt means for its delivery."""

    status: str
    retry_step: int
    next_attempt_at: datetime | None


class HealthRules(Protocol):
    def endpoint_after(
        self, before: EndpointHealth, outcomes: list[Outcome], now: datetime
    ) -> HealthMove:
        """The endpoint's health after these attempts (in the order they finished)."""
        ...

    def delivery_after(
        self, delivery: Claimed, outcome: Outcome, holds: bool, now: datetime
    ) -> DeliveryMove:
        """``holds``: the endpoint holds its failed deliveries (paused or disabled)."""
        ...


class DeliveryQueue:
    def __init__(self, engine: Engine, secrets: WebhookSecrets, health: HealthRules) -> None:
        self._engine = engine
        self._secrets = secrets
        self._health = health
        self._claim: tuple | None = None  # the claim statements, built on first use

    def enqueue(
        self,
        webhook_id: str,
        position: int,
        payload: dict[str, Any],
        claimed_until: datetime | None = None,
    ) -> dict[str, Any]:
        """Queue one delivery on its own (not announcing a fact of a live call)."""
        with self._engine.begin() as connection:
            return queue(connection, webhook_id, position, payload, claimed_until)

    def claim_due(
        self, limit: int, lease_s: float, room: dict[str, int] | None = None
    ) -> list[Claimed]:
        """Take up to ``limit`` deliveries that are due and first in line for their call.

        Events of one call go out in order: a delivery waits while an earlier one for the
        same call and endpoint is pending. Disabled endpoints, and paused ones until their
        next probe, are skipped; a paused endpoint whose probe is due gets exactly one
        delivery (the probe), and is paused again while it is under way. ``room`` caps
        how many more deliveries some endpoints may get (the dispatcher's pacing).

        Claims are leases: another process (or this one after a crash) takes the delivery
        again only once the lease has run out; with PostgreSQL, ``SKIP LOCKED`` keeps two
        processes from claiming the same row.

        The claim is one ``UPDATE … WHERE id IN (SELECT …) RETURNING``. On SQLite a
        read-only look comes first, in a transaction of its own, and most wake-ups end
        there (nothing due) without taking the write lock the writer needs; a transaction
        that read first and then wrote would fail at once ("database is locked", not
        waited for) whenever another connection committed in between.
        """
        room = room or {}
        now = utcnow()
        until = now + timedelta(seconds=lease_s)
        look, claim, claimed = self._claim_statements()
        full = [webhook_id for webhook_id, left in room.items() if left <= 0]
        params = {"now": now, "until": until, "limit": limit, "full": full}
        if self._engine.dialect.name == "sqlite":
            with self._engine.connect() as connection:
                if connection.execute(look, params).first() is None:
                    return []
        with self._engine.begin() as connection:
            claimed_ids = connection.execute(claim, params).scalars().all()
            if not claimed_ids:
                return []
            rows = connection.execute(claimed, {"ids": claimed_ids}).all()
            kept, given_back = _within_room(rows, room)
            for webhook_id in {r.webhook_id for r in kept if is_open(r.failure_streak)}:
                # The probe holds the circuit: no one else probes while it is under way.
                probing = connection.execute(
                    update(webhooks)
                    .where(
                        webhooks.c.id == webhook_id,
                        webhooks.c.paused_until.is_(None) | (webhooks.c.paused_until <= now),
                    )
                    .values(paused_until=until)
                ).rowcount
                if not probing:  # another process probes it right now
                    given_back += [r for r in kept if r.webhook_id == webhook_id]
                    kept = [r for r in kept if r.webhook_id != webhook_id]
            if given_back:
                connection.execute(
                    webhook_deliveries.update()
                    .where(webhook_deliveries.c.id.in_([r.id for r in given_back]))
                    .values(claimed_until=None)
                )
            return [
                Claimed(
                    r.id,
                    r.webhook_id,
                    r.call_id,
                    r.url,
                    self._secrets.open_or_none(r.webhook_id, r.secret),
                    r.payload,
                    r.attempts,
                    r.retry_step,
                    r.format,
                )
                for r in kept
            ]

    def _claim_statements(self):
        """Built once: the dispatcher claims after every commit, and building these
        expressions costs more CPU than running them."""
        if self._claim is None:
            d, earlier, hook = webhook_deliveries, aliased(webhook_deliveries), webhooks.c
            now: BindParameter[datetime] = bindparam("now")
            takes_deliveries = select(hook.id).where(
                hook.disabled_at.is_(None),
                hook.paused_until.is_(None) | (hook.paused_until <= now),
                hook.id.not_in(bindparam("full", expanding=True)),
            )
            due = (
                select(d.c.id)
                .where(
                    d.c.status == PENDING,
                    d.c.webhook_id.in_(takes_deliveries),
                    d.c.next_attempt_at <= now,
                    (d.c.claimed_until.is_(None)) | (d.c.claimed_until < now),
                    ~exists().where(
                        earlier.c.webhook_id == d.c.webhook_id,
                        earlier.c.call_id == d.c.call_id,
                        earlier.c.status == PENDING,
                        earlier.c.position < d.c.position,
                    ),
                )
                .order_by(d.c.next_attempt_at)
                .limit(bindparam("limit"))
            )
            look = due.limit(1)
            if self._engine.dialect.name == "postgresql":
                due = due.with_for_update(of=d, skip_locked=True)
            claim = (
                update(d)
                .where(d.c.id.in_(due))
                .values(claimed_until=bindparam("until"))
                .returning(d.c.id)
            )
            claimed = (
                select(d, hook.url, hook.secret, hook.failure_streak, hook.format)
                .join(webhooks, hook.id == d.c.webhook_id)
                .where(d.c.id.in_(bindparam("ids", expanding=True)))
                .order_by(d.c.next_attempt_at)
            )
            self._claim = (look, claim, claimed)
        return self._claim

    def record(self, delivery: Claimed, outcome: Outcome) -> None:
        """Log one attempt and move the delivery and its endpoint's health along."""
        self.record_many([(delivery, outcome)])

    def record_many(self, results: list[tuple[Claimed, Outcome]]) -> None:
        """Log attempts (in the order they finished) in one transaction, and move each
        endpoint's health along: its failure streak, circuit and disabling."""
        now = utcnow()
        attempts = [
            {
                "delivery_id": delivery.id,
                "attempt": delivery.attempts + 1,
                "at": now,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "response_excerpt": outcome.response_excerpt,
                "error": outcome.error,
            }
            for delivery, outcome in results
        ]
        with self._engine.begin() as connection:  # writes first: see claim_due
            connection.execute(webhook_attempts.insert(), attempts)
            holding, resumed = self._move_health(connection, results, now)
            moved = [
                self._moved(delivery, outcome, delivery.webhook_id in holding, now)
                for delivery, outcome in results
            ]
            connection.execute(_MOVE_ALONG, moved)
            for webhook_id in resumed:
                connection.execute(resume_held(webhook_id, now))

    def _move_health(
        self, connection: Connection, results: list[tuple[Claimed, Outcome]], now: datetime
    ) -> tuple[set[str], list[str]]:
        """Apply the policy's decision for each endpoint; returns those that hold their
        failed deliveries (paused or disabled) and those that just came back."""
        outcomes: dict[str, list[Outcome]] = {}
        for delivery, outcome in results:
            outcomes.setdefault(delivery.webhook_id, []).append(outcome)
        hook = webhooks.c
        query = (
            select(hook.id, hook.failure_streak, hook.failing_since, hook.disabled_at)
            .where(hook.id.in_(list(outcomes)))
            .order_by(hook.id)  # one order for every process: no deadlock
        )
        if not all(outcome.delivered for _, outcome in results):
            query = query.with_for_update()  # exact counts across processes (PostgreSQL)
        holding: set[str] = set()
        resumed: list[str] = []
        for row in connection.execute(query).all():  # one deleted meanwhile is not there
            before = EndpointHealth(
                row.failure_streak, as_utc(row.failing_since), row.disabled_at is not None
            )
            move = self._health.endpoint_after(before, outcomes[row.id], now)
            if move.changes:
                connection.execute(update(webhooks).where(hook.id == row.id).values(move.changes))
            if move.holds:
                holding.add(row.id)
            if move.resumed:
                resumed.append(row.id)
        return holding, resumed

    def _moved(self, delivery: Claimed, outcome: Outcome, holds: bool, now: datetime) -> dict:
        move = self._health.delivery_after(delivery, outcome, holds, now)
        return {
            "_id": delivery.id,
            "status": move.status,
            "attempts": delivery.attempts + 1,
            "retry_step": move.retry_step,
            "next_attempt_at": move.next_attempt_at,
            "claimed_until": None,
            "delivered_at": now if outcome.delivered else None,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }

    def backlog(self) -> tuple[int, datetime | None]:
        """Deliveries not yet delivered nor given up, and when the oldest was queued."""
        d = webhook_deliveries.c
        query = select(func.count(), func.min(d.created_at)).where(d.status == PENDING)
        with self._engine.connect() as connection:
            count, oldest = connection.execute(query).one()
        return count, as_utc(oldest)

    def release(self, delivery_ids: list[str]) -> None:
        """Give up the leases on deliveries this process claimed but did not finish (it is
        stopping), so that another process, or the next one, takes them at once."""
        d = webhook_deliveries.c
        with self._engine.begin() as connection:
            connection.execute(
                webhook_deliveries.update()
                .where(d.id.in_(delivery_ids), d.status == PENDING)
                .values(claimed_until=None)
            )

    def redeliver(
        self, webhook_id: str, delivery_id: str | None = None, failed_since: datetime | None = None
    ) -> int:
        """Queue failed (or given) deliveries for one more attempt now; returns how many.

        ``failed_since``: only those whose last attempt was at or after that time."""
        d, a = webhook_deliveries, webhook_attempts
        conditions = [d.c.webhook_id == webhook_id]
        if delivery_id is not None:
            conditions += [d.c.id == delivery_id, d.c.status != PENDING]
        else:
            conditions += [d.c.status == FAILED]
            if failed_since is not None:
                conditions.append(exists().where(a.c.delivery_id == d.c.id, a.c.at >= failed_since))
        with self._engine.begin() as connection:
            result = connection.execute(
                update(d).where(and_(*conditions)),
                {"status": PENDING, "next_attempt_at": utcnow(), "claimed_until": None},
            )
        return result.rowcount


def resume_held(webhook_id: str, now: datetime):
    """An endpoint takes deliveries again: what it held is due now, its schedule fresh,
    so one failure in the catch-up costs a short wait, not the long ones of the outage."""
    d = webhook_deliveries.c
    return (
        webhook_deliveries.update()
        .where(
            d.webhook_id == webhook_id,
            d.status == PENDING,
            (d.next_attempt_at > now) | (d.retry_step > 0),
        )
        .values(next_attempt_at=now, retry_step=0)
    )


def utc_row(row: dict) -> dict:
    """The row with its times in UTC (SQLite returns them naive)."""
    for key, value in row.items():
        if isinstance(value, datetime):
            row[key] = as_utc(value)
    return row


def _within_room(rows: Sequence, room: dict[str, int]) -> tuple[list, list]:
    """Split claimed rows (oldest first) into those to send and those to give back: a
    paused endpoint gets one (its probe), a paced one no more than its room."""
    kept: list = []
    given_back: list = []
    taken: Counter[str] = Counter()
    for row in rows:
        allowed = 1 if is_open(row.failure_streak) else room.get(row.webhook_id, len(rows))
        if taken[row.webhook_id] < allowed:
            taken[row.webhook_id] += 1
            kept.append(row)
        else:
            given_back.append(row)
    return kept, given_back


# One attempt's consequence for its delivery (executemany: one row per attempt).
_MOVE_ALONG = (
    update(webhook_deliveries)
    .where(webhook_deliveries.c.id == bindparam("_id"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "status",
                "attempts",
                "retry_step",
                "next_attempt_at",
                "claimed_until",
                "delivered_at",
                "last_status_code",
                "last_error",
            )
        }
    )
)
