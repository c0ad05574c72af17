"""Webhook configs: an endpoint's URL, its sealed secret, whether it is enabled, and how
it is doing (its health state and backlog)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, exists, func, select

from openline import ids
from openline.domain.notifications import JSON
from openline.domain.time import as_utc, utcnow
from openline.domain.webhook_health import state
from openline.store.delivery_queue import FAILED, PENDING, resume_held, utc_row
from openline.store.schema import webhook_deliveries, webhooks
from openline.store.webhook_secrets import WebhookSecrets


class WebhookConfigs:
    def __init__(self, engine: Engine, secrets: WebhookSecrets) -> None:
        self._engine = engine
        self._secrets = secrets

    def create(self, url: str, secret: str, display_name: str | None, format: str = JSON) -> dict:
        now, webhook_id = utcnow(), ids.new_id(ids.WEBHOOK)
        row = {
            "id": webhook_id,
            "url": url,
            "format": format,
            "secret": self._secrets.seal(secret),
            "display_name": display_name,
            "created_at": now,
            "updated_at": now,
            "failure_streak": 0,
        }
        with self._engine.begin() as connection:
            connection.execute(webhooks.insert(), row)
        created = self.get(webhook_id)
        assert created is not None  # a fresh id: no one else knows it yet
        return created

    def get(self, webhook_id: str) -> dict | None:
        """The webhook, its health and its backlog (``pending``, ``oldest_pending_at``)."""
        found = self._config(webhook_id)
        return None if found is None else found | self._backlogs([webhook_id])[webhook_id]

    def find(self, url: str, format: str) -> dict | None:
        """The endpoint of this url and format, if there is one (the oldest)."""
        w = webhooks.c
        query = select(w.id).where(w.url == url, w.format == format).order_by(w.id).limit(1)
        with self._engine.connect() as connection:
            webhook_id = connection.execute(query).scalar()
        return None if webhook_id is None else self.get(webhook_id)

    def list(self) -> list[dict]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(webhooks).order_by(webhooks.c.id.desc())).all()
        found = [self._opened_row(row) for row in rows]
        backlogs = self._backlogs([row["id"] for row in found])
        return [row | backlogs[row["id"]] for row in found]

    def active(self, webhook_id: str | None) -> dict | None:
        """The webhook events are queued for, if it exists: enabled or not. A disabled or
        paused endpoint holds its events and gets them, in order, once it takes them again."""
        return self._config(webhook_id) if webhook_id else None

    def update(self, webhook_id: str, **changes: Any) -> dict | None:
        now = utcnow()
        values = {k: v for k, v in changes.items() if k in ("url", "display_name")}
        if "secret" in changes:
            values["secret"] = self._secrets.seal(changes["secret"])
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
        with self._engine.begin() as connection:  # writes only: see DeliveryQueue.claim_due
            if changes.get("enabled"):
                # What was held while it was disabled is due now, with a fresh schedule.
                connection.execute(
                    resume_held(webhook_id, now).where(
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
        """Delete the webhook; what it still had pending is given up."""
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

    def seal_plain(self) -> int:
        """Seal the secrets stored in plain text before sealing existed; returns how many."""
        return self._secrets.seal_plain(self._engine)

    def _config(self, webhook_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return None if found is None else self._opened_row(found)

    def _opened_row(self, row) -> dict:
        found = utc_row(dict(row._mapping))
        found["secret"] = self._secrets.open_or_none(found["id"], found["secret"])
        found["state"] = state(found)
        return found

    def _backlogs(self, webhook_ids: Sequence[str]) -> dict[str, dict]:
        d = webhook_deliveries.c
        query = (
            select(d.webhook_id, func.count(), func.min(d.created_at))
            .where(d.status == PENDING, d.webhook_id.in_(webhook_ids))
            .group_by(d.webhook_id)
        )
        found: dict[str, dict] = {w: {"pending": 0, "oldest_pending_at": None} for w in webhook_ids}
        with self._engine.connect() as connection:
            for webhook_id, pending, oldest in connection.execute(query):
                found[webhook_id] = {"pending": pending, "oldest_pending_at": as_utc(oldest)}
        return found
