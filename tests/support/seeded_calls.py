"""Calls seeded straight into a platform's store, skipping the harness: a finished call's
row and its facts in one transaction, through the store's own row mapping. For tests and
benches that need a big or exactly known call without running one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from openline.store.facts import TABLE_OF, to_row


def create_finished_call(
    platform,
    agent: dict,
    call_id: str,
    start: datetime,
    seconds: float,
    deliveries: Sequence[dict] = (),
    **fields,
) -> None:
    """A completed web call of ``agent``, ``seconds`` long from ``start``, with its webhook
    deliveries; ``fields`` add to or override the row (``end_reason``, ``summary``, ...)."""
    row = {
        "id": call_id,
        "agent_id": agent["id"],
        "agent_name": agent["name"],
        "status": "completed",
        "start_time": start,
        "end_time": start + timedelta(seconds=seconds),
        "end_reason": "client_hangup",
        "telephony_params": {"from": "websocket", "to": agent["id"]},
        "rev": 1,
    }
    platform.calls.create(row | fields, deliveries)


def insert_facts(platform, facts: list) -> None:
    """The facts as the ledger would have stored them, each at its own revision."""
    for fact in facts:
        fact.rev = fact.seq
    with platform.engine.begin() as connection:
        for kind, table in TABLE_OF.items():
            rows = [to_row(fact) for fact in facts if type(fact) is kind]
            if rows:
                connection.execute(table.insert(), rows)
