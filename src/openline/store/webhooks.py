"""Webhook configs, the delivery outbox and its attempt log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import aliased

from openline import ids
from openline.domain.time import as_utc, utcnow
from openline.store.pagination import Page, PageRequest, paginate
from openline.store.schema import webhook_attempts, webhook_deliveries, webhooks

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Claimed:
    """A delivery this process may attempt now, with what it needs to send it."""

    id: str
    webhook_id: str
    call_id: str
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: float
    response_excerpt: str | None
    error: str | None
    retry_in_s: float | None  # None: no more retries (delivered, or given up)
    delivered: bool
    disable_reason: str | None = None  # the endpoint asked to stop (410) or kept failing


class WebhookRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._claim: tuple | None = None  # the claim statements, built on first use

    # -- configs --------------------------------------------------------------------------

    def create(self, url: str, secret: str, display_name: str | None) -> dict:
        now = utcnow()
        row = {
            "id": ids.new_id(ids.WEBHOOK),
            "url": url,
            "secret": secret,
            "display_name": display_name,
            "created_at": now,
            "updated_at": now,
            "failure_streak": 0,
        }
        with self._engine.begin() as connection:
            connection.execute(webhooks.insert(), row)
        return self.get(row["id"])

    def get(self, webhook_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return None if found is None else _times(dict(found._mapping))

    def list(self) -> list[dict]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(webhooks).order_by(webhooks.c.id.desc()))
            return [_times(dict(row._mapping)) for row in rows]

    def update(self, webhook_id: str, **changes: Any) -> dict | None:
        now = utcnow()
        values = {k: v for k, v in changes.items() if k in ("url", "secret", "display_name")}
        if changes.get("enabled"):
            values |= {"disabled_at": None, "disabled_reason": None, "failure_streak": 0}
        elif changes.get("enabled") is False:
            values |= {"disabled_at": now, "disabled_reason": "disabled by a user"}
        values["updated_at"] = now
        with self._engine.begin() as connection:  # writes only: see claim_due
            if changes.get("enabled"):
                # What was held while it was disabled is due now, not at its backed-off time.
                d = webhook_deliveries.c
                connection.execute(
                    webhook_deliveries.update()
                    .where(
                        d.webhook_id == webhook_id,
                        d.status == PENDING,
                        d.next_attempt_at > now,
                        exists().where(
                            webhooks.c.id == webhook_id, webhooks.c.disabled_at.is_not(None)
                        ),
                    )
                    .values(next_attempt_at=now)
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
        """The webhook events should be queued for, if it exists and is enabled."""
        found = self.get(webhook_id) if webhook_id else None
        return found if found and found["disabled_at"] is None else None

    # -- the outbox -------------------------------------------------------------------------

    def enqueue(self, row: dict) -> None:
        with self._engine.begin() as connection:
            connection.execute(webhook_deliveries.insert(), row)

    def claim_due(self, limit: int, lease_s: float) -> list[Claimed]:
        """Take up to ``limit`` deliveries that are due and first in line for their call.

        Events of one call go out in order: a delivery waits while an earlier one for the
        same call and endpoint is pending. Claims are leases: another process (or this one
        after a crash) takes the delivery again only once the lease has run out; with
        PostgreSQL, ``SKIP LOCKED`` keeps two processes from claiming the same row.

        The claim is one ``UPDATE … WHERE id IN (SELECT …) RETURNING``. On SQLite a
        read-only look comes first, in a transaction of its own, and most wake-ups end
        there (nothing due) without taking the write lock the writer needs; a transaction
        that read first and then wrote would fail at once ("database is locked", not
        waited for) whenever another connection committed in between.
        """
        now = utcnow()
        look, claim, claimed = self._claim_statements()
        params = {"now": now, "until": now + timedelta(seconds=lease_s), "limit": limit}
        if self._engine.dialect.name == "sqlite":
            with self._engine.connect() as connection:
                if connection.execute(look, params).first() is None:
                    return []
        with self._engine.begin() as connection:
            claimed_ids = connection.execute(claim, params).scalars().all()
            if not claimed_ids:
                return []
            rows = connection.execute(claimed, {"ids": claimed_ids})
            return [
                Claimed(r.id, r.webhook_id, r.call_id, r.url, r.secret, r.payload, r.attempts)
                for r in rows
            ]

    def _claim_statements(self):
        """Built once: the dispatcher claims after every commit, and building these
        expressions costs more CPU than running them."""
        if self._claim is None:
            d, earlier = webhook_deliveries, aliased(webhook_deliveries)
            now = bindparam("now")
            due = (
                select(d.c.id)
                .join(webhooks, webhooks.c.id == d.c.webhook_id)
                .where(
                    d.c.status == PENDING,
                    d.c.next_attempt_at <= now,
                    (d.c.claimed_until.is_(None)) | (d.c.claimed_until < now),
                    webhooks.c.disabled_at.is_(None),
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
                select(d, webhooks.c.url, webhooks.c.secret)
                .join(webhooks, webhooks.c.id == d.c.webhook_id)
                .where(d.c.id.in_(bindparam("ids", expanding=True)))
                .order_by(d.c.next_attempt_at)
            )
            self._claim = (look, claim, claimed)
        return self._claim

    def record(self, delivery: Claimed, outcome: Outcome) -> None:
        """Log one attempt and move the delivery and its endpoint's health along."""
        self.record_many([(delivery, outcome)])

    def record_many(self, results: list[tuple[Claimed, Outcome]]) -> None:
        """Log attempts (in the order they finished) in one transaction."""
        now = utcnow()
        attempts, changes = [], []
        streaks: dict[str, tuple[bool, int]] = {}  # webhook -> (a success?, failures after)
        disable: dict[str, str] = {}
        for delivery, outcome in results:
            attempt = delivery.attempts + 1
            if outcome.delivered:
                status, next_at = DELIVERED, None
            elif outcome.retry_in_s is None:
                status, next_at = FAILED, None
            else:
                status, next_at = PENDING, now + timedelta(seconds=outcome.retry_in_s)
            attempts.append(
                {
                    "delivery_id": delivery.id,
                    "attempt": attempt,
                    "at": now,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                    "response_excerpt": outcome.response_excerpt,
                    "error": outcome.error,
                }
            )
            changes.append(
                {
                    "_id": delivery.id,
                    "status": status,
                    "attempts": attempt,
                    "next_attempt_at": next_at,
                    "claimed_until": None,
                    "delivered_at": now if outcome.delivered else None,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                }
            )
            succeeded, failures = streaks.get(delivery.webhook_id, (False, 0))
            streaks[delivery.webhook_id] = (
                (True, 0) if outcome.delivered else (succeeded, failures + 1)
            )
            if outcome.disable_reason:
                disable.setdefault(delivery.webhook_id, outcome.disable_reason)
        hook = webhooks.c
        with self._engine.begin() as connection:  # writes first: see claim_due
            connection.execute(webhook_attempts.insert(), attempts)
            connection.execute(_MOVE_ALONG, changes)
            for webhook_id, (succeeded, failures) in streaks.items():
                if succeeded:  # only when it changes: no write to a hot row for nothing
                    connection.execute(
                        update(webhooks)
                        .where(hook.id == webhook_id, hook.failure_streak != failures)
                        .values(failure_streak=failures)
                    )
                else:
                    connection.execute(
                        update(webhooks)
                        .where(hook.id == webhook_id)
                        .values(failure_streak=hook.failure_streak + failures)
                    )
            for webhook_id, reason in disable.items():
                connection.execute(
                    update(webhooks)
                    .where(hook.id == webhook_id, hook.disabled_at.is_(None))
                    .values(disabled_at=now, disabled_reason=reason)
                )

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

    def failure_streak(self, webhook_id: str) -> int:
        found = self.get(webhook_id)
        return found["failure_streak"] if found else 0

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
