"""Webhook configs, the delivery outbox and its attempt log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select, update
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
        values = {k: v for k, v in changes.items() if k in ("url", "secret", "display_name")}
        if changes.get("enabled"):
            values |= {"disabled_at": None, "disabled_reason": None, "failure_streak": 0}
        elif changes.get("enabled") is False:
            values |= {"disabled_at": utcnow(), "disabled_reason": "disabled by a user"}
        values["updated_at"] = utcnow()
        with self._engine.begin() as connection:
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
        """
        now = utcnow()
        d, earlier = webhook_deliveries, aliased(webhook_deliveries)
        query = (
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
            .limit(limit)
        )
        if self._engine.dialect.name == "postgresql":
            query = query.with_for_update(of=d, skip_locked=True)
        with self._engine.begin() as connection:
            claimed_ids = connection.execute(query).scalars().all()
            if not claimed_ids:
                return []
            connection.execute(
                update(d).where(d.c.id.in_(claimed_ids)),
                {"claimed_until": now + timedelta(seconds=lease_s)},
            )
            rows = connection.execute(
                select(d, webhooks.c.url, webhooks.c.secret)
                .join(webhooks, webhooks.c.id == d.c.webhook_id)
                .where(d.c.id.in_(claimed_ids))
            )
            return [
                Claimed(r.id, r.webhook_id, r.call_id, r.url, r.secret, r.payload, r.attempts)
                for r in rows
            ]

    def record(self, delivery: Claimed, outcome: Outcome) -> None:
        """Log one attempt and move the delivery and its endpoint's health along."""
        now = utcnow()
        attempt = delivery.attempts + 1
        d = webhook_deliveries
        if outcome.delivered:
            status, next_at = DELIVERED, None
        elif outcome.retry_in_s is None:
            status, next_at = FAILED, None
        else:
            status, next_at = PENDING, now + timedelta(seconds=outcome.retry_in_s)
        with self._engine.begin() as connection:
            connection.execute(
                webhook_attempts.insert(),
                {
                    "delivery_id": delivery.id,
                    "attempt": attempt,
                    "at": now,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                    "response_excerpt": outcome.response_excerpt,
                    "error": outcome.error,
                },
            )
            connection.execute(
                update(d).where(d.c.id == delivery.id),
                {
                    "status": status,
                    "attempts": attempt,
                    "next_attempt_at": next_at,
                    "claimed_until": None,
                    "delivered_at": now if outcome.delivered else None,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                },
            )
            hook = webhooks.c
            if outcome.delivered:
                connection.execute(
                    update(webhooks).where(hook.id == delivery.webhook_id), {"failure_streak": 0}
                )
            else:
                connection.execute(
                    update(webhooks)
                    .where(hook.id == delivery.webhook_id)
                    .values(failure_streak=hook.failure_streak + 1)
                )
            if outcome.disable_reason:
                connection.execute(
                    update(webhooks)
                    .where(hook.id == delivery.webhook_id, hook.disabled_at.is_(None))
                    .values(disabled_at=now, disabled_reason=outcome.disable_reason)
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
        """Queue failed (or given) deliveries for one more attempt now; returns how many."""
        d = webhook_deliveries
        conditions = [d.c.webhook_id == webhook_id]
        if delivery_id is not None:
            conditions += [d.c.id == delivery_id, d.c.status != PENDING]
        else:
            conditions += [d.c.status == FAILED]
            if failed_since is not None:
                conditions.append(d.c.created_at >= failed_since)
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
