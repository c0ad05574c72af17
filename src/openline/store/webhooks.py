"""Webhook configs (secrets sealed at rest), their health, the delivery outbox and its
attempt log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import aliased

from openline import ids
from openline.domain.time import as_utc, utcnow
from openline.domain.webhook_health import HealthPolicy, is_open, state
from openline.store.pagination import Page, PageRequest, paginate
from openline.store.schema import webhook_attempts, webhook_deliveries, webhooks
from openline.store.sealing import SealedWithAnotherKey, Sealer, seal_plain

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


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


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: float
    response_excerpt: str | None
    error: str | None
    retry_in_s: float | None  # by the delivery's schedule; None: delivered, or used up
    delivered: bool
    disable_reason: str | None = None  # the endpoint asked to stop (410 Gone)


class WebhookRepo:
    def __init__(self, engine: Engine, sealer: Sealer, health: HealthPolicy | None = None) -> None:
        self._engine = engine
        self._sealer = sealer
        self.health = health or HealthPolicy()
        self._opened: dict[str, str] = {}  # sealed secret -> plain: opening costs CPU per claim
        self._claim: tuple | None = None  # the claim statements, built on first use

    # -- configs --------------------------------------------------------------------------

    def create(self, url: str, secret: str, display_name: str | None) -> dict:
        now = utcnow()
        row = {
            "id": ids.new_id(ids.WEBHOOK),
            "url": url,
            "secret": self._sealer.seal(secret),
            "display_name": display_name,
            "created_at": now,
            "updated_at": now,
            "failure_streak": 0,
        }
        with self._engine.begin() as connection:
            connection.execute(webhooks.insert(), row)
        return self.get(row["id"])

    def get(self, webhook_id: str) -> dict | None:
        """The webhook, its health and its backlog (``pending``, ``oldest_pending_at``)."""
        found = self._config(webhook_id)
        return None if found is None else found | self._backlogs([webhook_id])[webhook_id]

    def list(self) -> list[dict]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(webhooks).order_by(webhooks.c.id.desc())).all()
        found = [self._opened_row(row) for row in rows]
        backlogs = self._backlogs([row["id"] for row in found])
        return [row | backlogs[row["id"]] for row in found]

    def _config(self, webhook_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return None if found is None else self._opened_row(found)

    def _opened_row(self, row) -> dict:
        found = _times(dict(row._mapping))
        found["secret"] = self._secret_or_none(found["id"], found["secret"])
        found["state"] = state(found)
        return found

    def _secret(self, webhook_id: str, stored: str) -> str:
        opened = self._opened.get(stored)
        if opened is None:
            opened = self._opened[stored] = self._sealer.open(
                stored, f"webhook {webhook_id}'s secret"
            )
        return opened

    def _secret_or_none(self, webhook_id: str, stored: str) -> str | None:
        """None when this process cannot open it: the attempt fails, visibly, instead of
        every claim (another endpoint's too) failing with it."""
        try:
            return self._secret(webhook_id, stored)
        except SealedWithAnotherKey:
            return None

    def _backlogs(self, webhook_ids: list[str]) -> dict[str, dict]:
        d = webhook_deliveries.c
        query = (
            select(d.webhook_id, func.count(), func.min(d.created_at))
            .where(d.status == PENDING, d.webhook_id.in_(webhook_ids))
            .group_by(d.webhook_id)
        )
        found = {w: {"pending": 0, "oldest_pending_at": None} for w in webhook_ids}
        with self._engine.connect() as connection:
            for webhook_id, pending, oldest in connection.execute(query):
                found[webhook_id] = {"pending": pending, "oldest_pending_at": as_utc(oldest)}
        return found

    def seal_plain(self) -> int:
        """Seal the secrets stored in plain text before sealing existed; returns how many."""
        return seal_plain(self._engine, webhooks, "secret", self._sealer)

    def update(self, webhook_id: str, **changes: Any) -> dict | None:
        now = utcnow()
        values = {k: v for k, v in changes.items() if k in ("url", "display_name")}
        if "secret" in changes:
            values["secret"] = self._sealer.seal(changes["secret"])
        if changes.get("enabled"):
            values |= {
                "disabled_at": None,
                "disabled_reason": None,
                "failure_streak": 0,
                "failing_since": None,
                "paused_until": None,
            }
        elif changes.get("enabled") is False:
            values |= {"disabled_at": now, "disabled_reason": "disabled by a user"}
        values["updated_at"] = now
        with self._engine.begin() as connection:  # writes only: see claim_due
            if changes.get("enabled"):
                # What was held while it was disabled is due now, with a fresh schedule.
                connection.execute(
                    _resume(webhook_id, now).where(
                        exists().where(
                            webhooks.c.id == webhook_id, webhooks.c.disabled_at.is_not(None)
                        )
                    )
                )
            result = connection.execute(
                webhooks.update().where(webhooks.c.id == webhook_id), values
            )
        return self.get(webhook_id) if result.rowcount else None

    def delete(self, webhook_id: str) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
            connection.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.webhook_id == webhook_id,
                    webhook_deliveries.c.status == PENDING,
                )
                .values(status=FAILED, last_error="the webhook was deleted")
            )
        return bool(result.rowcount)

    def active(self, webhook_id: str | None) -> dict | None:
        """The webhook events are queued for, if it exists: enabled or not. A disabled or
        paused endpoint holds its events and gets them, in order, once it takes them again."""
        return self._config(webhook_id) if webhook_id else None

    # -- the outbox -------------------------------------------------------------------------

    def enqueue(self, row: dict) -> None:
        with self._engine.begin() as connection:
            connection.execute(webhook_deliveries.insert(), row)

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
                    self._secret_or_none(r.webhook_id, r.secret),
                    r.payload,
                    r.attempts,
                    r.retry_step,
                )
                for r in kept
            ]

    def _claim_statements(self):
        """Built once: the dispatcher claims after every commit, and building these
        expressions costs more CPU than running them."""
        if self._claim is None:
            d, earlier, hook = webhook_deliveries, aliased(webhook_deliveries), webhooks.c
            now = bindparam("now")
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
                select(d, hook.url, hook.secret, hook.failure_streak)
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
            holding = self._move_health(connection, results, now)
            connection.execute(_MOVE_ALONG, [_moved(d, o, holding, now) for d, o in results])
            for webhook_id in holding.resumed:
                connection.execute(_resume(webhook_id, now))

    def _move_health(self, connection, results: list[tuple[Claimed, Outcome]], now) -> _Held:
        """Update each endpoint's streak, circuit and disabling; says which endpoints hold
        their failed deliveries (paused or disabled) and which just came back."""
        streaks: dict[str, tuple[bool, int]] = {}  # webhook -> (a success?, failures after)
        last: dict[str, Outcome] = {}
        for delivery, outcome in results:
            succeeded, failures = streaks.get(delivery.webhook_id, (False, 0))
            streaks[delivery.webhook_id] = (
                (True, 0) if outcome.delivered else (succeeded, failures + 1)
            )
            if not outcome.delivered:
                last[delivery.webhook_id] = outcome
        hook = webhooks.c
        query = (
            select(hook.id, hook.failure_streak, hook.failing_since, hook.disabled_at)
            .where(hook.id.in_(list(streaks)))
            .order_by(hook.id)  # one order for every process: no deadlock
        )
        if last:  # exact counts across processes (PostgreSQL; SQLite has one writer)
            query = query.with_for_update()
        before = {row.id: row for row in connection.execute(query)}
        held = _Held()
        for webhook_id, (succeeded, failures) in streaks.items():
            row = before.get(webhook_id)
            if row is None:  # deleted meanwhile
                continue
            if succeeded and not failures:
                if row.failure_streak:  # only when it changes: no write to a hot row
                    connection.execute(
                        update(webhooks)
                        .where(hook.id == webhook_id, hook.failure_streak != 0)
                        .values(failure_streak=0, failing_since=None, paused_until=None)
                    )
                if is_open(row.failure_streak):
                    held.resumed.append(webhook_id)
                continue
            streak = failures if succeeded else row.failure_streak + failures
            since = now if succeeded else (as_utc(row.failing_since) or now)
            values: dict[str, Any] = {"failure_streak": streak, "failing_since": since}
            values["paused_until"] = (
                now + self.health.probe_wait(now - since) if is_open(streak) else None
            )
            failed = last[webhook_id]
            reason = failed.disable_reason or self.health.disable_reason(
                now - since, streak, failed.error or "failed"
            )
            if reason and row.disabled_at is None:
                values |= {"disabled_at": now, "disabled_reason": reason}
            if is_open(streak) or reason or row.disabled_at is not None:
                held.endpoints.add(webhook_id)
            connection.execute(update(webhooks).where(hook.id == webhook_id).values(values))
        return held

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

    # -- the delivery log ---------------------------------------------------------------------

    def deliveries(
        self,
        webhook_id: str,
        page: PageRequest,
        call_id: str | None = None,
        failed_only: bool = False,
    ) -> Page:
        d = webhook_deliveries
        query = select(d).where(d.c.webhook_id == webhook_id)
        if call_id:
            query = query.where(d.c.call_id == call_id)
        if failed_only:
            query = query.where(d.c.status == FAILED)
        with self._engine.connect() as connection:
            found = paginate(connection, query, d.c.id, page)
        return Page(rows=[_times(row) for row in found.rows], has_more=found.has_more)

    def delivery(self, delivery_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            ).first()
        return None if found is None else _times(dict(found._mapping))

    def attempts(self, delivery_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {delivery_id: [] for delivery_id in delivery_ids}
        query = (
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt)
        )
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                found[row.delivery_id].append(_times(dict(row._mapping)))
        return found

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

    def pending_count(self) -> int:
        d = webhook_deliveries
        with self._engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(d).where(d.c.status == PENDING)
            ).scalar_one()


@dataclass
class _Held:
    endpoints: set[str] = field(default_factory=set)  # failed deliveries wait for them
    resumed: list[str] = field(default_factory=list)  # paused until now: send what waited


def _within_room(rows: list, room: dict[str, int]) -> tuple[list, list]:
    """Split claimed rows (oldest first) into those to send and those to give back: a
    paused endpoint gets one (its probe), a paced one no more than its room."""
    kept, given_back, taken = [], [], Counter()
    for row in rows:
        allowed = 1 if is_open(row.failure_streak) else room.get(row.webhook_id, len(rows))
        if taken[row.webhook_id] < allowed:
            taken[row.webhook_id] += 1
            kept.append(row)
        else:
            given_back.append(row)
    return kept, given_back


def _moved(delivery: Claimed, outcome: Outcome, held: _Held, now: datetime) -> dict:
    """One attempt's consequence for its delivery.

    A delivery whose schedule is used up (or that was meant to be tried once) is given
    up. Otherwise a failure while its endpoint is paused or disabled is the endpoint's,
    not the event's: the delivery stays due, at the same step of its schedule, and goes
    when the endpoint takes deliveries again. Any other failure waits by the schedule."""
    step, next_at, status = delivery.retry_step, None, DELIVERED
    if not outcome.delivered:
        step, status = step + 1, PENDING
        if outcome.retry_in_s is None:
            status = FAILED
        elif delivery.webhook_id in held.endpoints:
            step, next_at = delivery.retry_step, now
        else:
            next_at = now + timedelta(seconds=outcome.retry_in_s)
    return {
        "_id": delivery.id,
        "status": status,
        "attempts": delivery.attempts + 1,
        "retry_step": step,
        "next_attempt_at": next_at,
        "claimed_until": None,
        "delivered_at": now if outcome.delivered else None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }


def _resume(webhook_id: str, now: datetime):
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


def _times(row: dict) -> dict:
    for key, value in row.items():
        if isinstance(value, datetime):
            row[key] = as_utc(value)
    return row


def outbox_row(webhook_id: str, position: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A pending delivery of ``payload``; its id is the ``webhook-id`` header, fixed for
    every retry so receivers can deduplicate."""
    now = utcnow()
    return {
        "id": ids.new_id(ids.DELIVERY),
        "webhook_id": webhook_id,
        "call_id": payload["call_id"],
        "agent_id": payload["agent_id"],
        "event_type": payload["type"],
        "position": position,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
