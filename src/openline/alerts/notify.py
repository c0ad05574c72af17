"""Alert notifications into the webhook outbox: one delivery per target endpoint, whatever
its format (json, slack, email), queued in the transaction that records the transition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from openline.domain.alerts import alert_event
from openline.store.delivery_queue import queue


def queue_notifications(
    connection: Connection,
    webhook_ids: list[str],
    rule: dict[str, Any],
    transition: dict[str, Any],
    console_url: str,
    position: int,
    test: bool = False,
) -> list[dict[str, Any]]:
    """Queue ``transition``'s event to each endpoint; returns the deliveries.

    A rule's deliveries to an endpoint go out in the order of its transitions (a resolved
    never overtakes its firing); a test notification is ordered on its own, so one sent
    to an endpoint that is down holds back nothing real."""
    subject = transition["id"] if test else rule["id"]
    agent_id = rule["scope"].get("agent_id") or ""
    return [
        queue(
            connection,
            webhook_id,
            position,
            alert_event(webhook_id, rule, transition, console_url, test),
            subject=(subject, agent_id),
        )
        for webhook_id in webhook_ids
    ]
