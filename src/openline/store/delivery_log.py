"""The webhook delivery log: each endpoint's deliveries and the attempts at each."""

from __future__ import annotations

from sqlalchemy import Engine, select

from openline.store.delivery_queue import FAILED, utc_row
from openline.store.pagination import Page, PageRequest, paginate
from openline.store.schema import webhook_attempts, webhook_deliveries


class DeliveryLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
        return Page(rows=[utc_row(row) for row in found.rows], has_more=found.has_more)

    def of_call(self, call_id: str) -> list[dict]:
        """Every delivery of the call's events, to any webhook, oldest first."""
        d = webhook_deliveries
        query = select(d).where(d.c.call_id == call_id).order_by(d.c.id)
        with self._engine.connect() as connection:
            return [utc_row(dict(row._mapping)) for row in connection.execute(query)]

    def states_of_call(self, call_id: str) -> list[dict]:
        """Where each delivery of the call's events stands, without its payload (a
        ``call_completed`` carries the whole transcript), oldest first."""
        d = webhook_deliveries
        query = (
            select(d.c.id, d.c.event_type, d.c.status, d.c.last_status_code, d.c.created_at)
            .where(d.c.call_id == call_id)
            .order_by(d.c.id)
        )
        with self._engine.connect() as connection:
            return [utc_row(dict(row._mapping)) for row in connection.execute(query)]

    def delivery(self, delivery_id: str) -> dict | None:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            ).first()
        return None if found is None else utc_row(dict(found._mapping))

    def attempts(self, delivery_ids: list[str]) -> dict[str, list[dict]]:
        """Each delivery's attempts, in order."""
        found: dict[str, list[dict]] = {delivery_id: [] for delivery_id in delivery_ids}
        query = (
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt)
        )
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                found[row.delivery_id].append(utc_row(dict(row._mapping)))
        return found
