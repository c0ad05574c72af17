"""How a live call reaches the store: the harness writes through this port, never tables.

The call row is created at once (with the deliveries announcing it, in one transaction);
every fact after it goes through the batching ``Writer``, so nothing on a call's turn
path waits on the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openline.domain.calls import CallStatus, Fact
from openline.store import schema
from openline.store.calls import CallRepo, ended_values
from openline.store.facts import TABLE_OF, to_row
from openline.store.rollups import due_after, queue_row
from openline.store.writer import Writer


class FactWrites:
    """Facts of calls (a ledger's sink), as rows queued on the writer."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def add(self, fact: Fact) -> None:
        self._writer.insert(TABLE_OF[type(fact)], to_row(fact), fact.call_id)

    def change(self, fact: Fact) -> None:
        key = (fact.call_id, fact.seq)
        self._writer.update(TABLE_OF[type(fact)], key, to_row(fact), fact.call_id)


class CallWrites(FactWrites):
    """One call's writes: its row when it starts, its facts, its end."""

    def __init__(self, writer: Writer, calls: CallRepo, call_id: str, tally_delay_s: float) -> None:
        super().__init__(writer)
        self._calls = calls
        self._call_id = call_id
        self._tally_delay_s = tally_delay_s  # the facts an agent sends after the end

    def open(self, row: dict[str, Any], outbox: list[dict[str, Any]]) -> None:
        """Create the call row with the deliveries announcing it (blocking: a thread's job)."""
        self._calls.create(row, outbox)

    def end(
        self,
        row: dict[str, Any],
        status: CallStatus,
        end_time: datetime,
        end_reason: str,
        agent_end_reason: str | None,
        error_message: str | None,
        rev: int,
    ) -> dict[str, Any]:
        """Queue the call's end, and with it its tally for the analytics (due once the
        facts the agent still sends are in); its analysis is then due too. Returns the
        ended call row."""
        ended = ended_values(status, end_time, end_reason, error_message, rev, agent_end_reason)
        self._writer.update(schema.calls, (self._call_id,), ended, self._call_id)
        tally = queue_row(self._call_id, due_after(end_time, self._tally_delay_s))
        self._writer.insert(schema.analytics_queue, tally, self._call_id, with_previous=True)
        return row | ended

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._writer.flush()
