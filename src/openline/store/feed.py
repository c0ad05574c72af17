"""The change feed: who is told that a call's stored facts changed.

Within one process, subscribers are woken directly after the writer commits. With
PostgreSQL, the writer also issues ``NOTIFY`` inside its transaction, and every
openline process ``LISTEN``s, so a live tail works on any worker behind a load balancer.
A notification only says "call X changed"; subscribers then read the store, so what
they show is always what was durably recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

CHANNEL = "openline_calls"
ANY_CALL = "*"


def table_topic(table_name: str) -> str:
    """The topic announced when rows of ``table_name`` are committed (e.g. the outbox)."""
    return f"~{table_name}"


_PAYLOAD_LIMIT = 7000  # PostgreSQL caps a NOTIFY payload at 8000 bytes


class ChangeFeed:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task | None = None

    def subscribe(self, call_id: str = ANY_CALL) -> asyncio.Event:
        """An event that is set whenever ``call_id`` (or any call, by default) changes."""
        event = asyncio.Event()
        self._subscribers[call_id].add(event)
        return event

    def unsubscribe(self, call_id: str, event: asyncio.Event) -> None:
        self._subscribers[call_id].discard(event)
        if not self._subscribers[call_id]:
            del self._subscribers[call_id]

    def publish(self, call_ids: Iterable[str]) -> None:
        for call_id in call_ids:
            for event in self._subscribers.get(call_id, ()):
                event.set()
        for event in self._subscribers.get(ANY_CALL, ()):
            event.set()

    def announce_in_transaction(self, connection: Connection, call_ids: set[str]) -> None:
        """Queue NOTIFYs that PostgreSQL delivers to other processes at commit."""
        if connection.dialect.name != "postgresql":
            return
        for payload in _chunks(sorted(call_ids)):
            connection.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": payload},
            )

    def listen(self, psycopg_dsn: str) -> None:
        """Start relaying other processes' NOTIFYs to local subscribers."""
        self._listener = asyncio.create_task(self._listen(psycopg_dsn), name="openline-feed")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def _listen(self, dsn: str) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for notify in conn.notifies():
                        self.publish(notify.payload.split(","))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "change feed: lost the PostgreSQL listener; reconnecting", exc_info=True
                )
                await asyncio.sleep(1.0)


def _chunks(call_ids: list[str]) -> Iterable[str]:
    chunk: list[str] = []
    size = 0
    for call_id in call_ids:
        if chunk and size + len(call_id) + 1 > _PAYLOAD_LIMIT:
            yield ",".join(chunk)
            chunk, size = [], 0
        chunk.append(call_id)
        size += len(call_id) + 1
    if chunk:
        yield ",".join(chunk)
