"""The batching writer: calls hand it rows and move on; it commits them in batches.

A call's turn path only appends to an in-memory queue. One background task drains
whatever accumulated while the previous batch was committing, writes it in a single
transaction (in a worker thread, so the event loop never blocks on the database) and
then tells the change feed which calls moved. Nothing is dropped: a failed batch is
retried, and a fact the database refuses is logged and skipped alone, together with
the outbox rows that announce it (a webhook never announces a fact that was refused).

With a journal (``journal.py``), each op is appended to a local file before it is
queued, so a fact the caller was shown survives a kill of the process: what the
writer had not committed yet is replayed at the next start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Table, and_, bindparam
from sqlalchemy.exc import OperationalError

from openline.store.feed import ChangeFeed, table_topic
from openline.store.journal import Journal
from openline.store.ops import Insert, Op, Update

log = logging.getLogger(__name__)

_RETRY_DELAYS_S = (0.05, 0.2, 1.0, 2.0, 5.0)


class Writer:
    def __init__(
        self,
        engine: Engine,
        feed: ChangeFeed,
        max_batch: int = 2000,
        journal: Journal | None = None,
        on_commit: Callable[[float], None] | None = None,
    ) -> None:
        """``on_commit`` hears each batch's commit time in seconds (telemetry)."""
        self._engine = engine
        self._on_commit = on_commit
        self._journal = journal
        self._feed = feed
        self._max_batch = max_batch
        self._pending: list[Op] = []
        self._wakeup = asyncio.Event()
        self._enqueued = 0
        self._committed = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self.batches = 0

    @property
    def depth(self) -> int:
        """Ops queued and not yet taken into a batch."""
        return len(self._pending)

    def insert(
        self, table: Table, row: dict[str, Any], call_id: str, with_previous: bool = False
    ) -> None:
        """Queue a row; ``with_previous`` keeps it in the same transaction as the last op
        (an outbox row and the fact it announces are committed together or not at all)."""
        self._push(Insert(table, row, call_id, with_previous))

    def update(self, table: Table, key: tuple, values: dict[str, Any], call_id: str) -> None:
        self._push(Update(table, key, values, call_id))

    def _push(self, op: Op) -> None:
        if self._journal is not None:
            try:
                self._journal.append(op)
            except Exception:  # not picklable, or the disk is full: it is still committed,
                # it only loses its crash safety; the call goes on
                log.exception("writer: cannot journal this fact: %r", op)
        self._pending.append(op)
        self._enqueued += 1
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openline-writer")

    async def flush(self) -> None:
        """Wait until everything enqueued before this call is committed."""
        target = self._enqueued
        async with self._progress:
            await self._progress.wait_for(lambda: self._committed >= target)

    async def close(self) -> None:
        if self._task is None:
            return
        await self.flush()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._journal is not None:  # everything in it is committed
            self._journal.close()
            self._journal = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                size = min(self._max_batch, len(self._pending))
                while size < len(self._pending) and _joins_previous(self._pending[size]):
                    size += 1
                batch = self._pending[:size]
                del self._pending[:size]
                started = time.perf_counter()
                await self._commit_with_retry(batch)
                if self._on_commit is not None:
                    self._on_commit(time.perf_counter() - started)
                self.batches += 1
                self._feed.publish(_topics(batch))
                async with self._progress:
                    self._committed += len(batch)
                    self._progress.notify_all()
                if self._journal is not None:
                    self._journal.trim(self._committed)

    async def _commit_with_retry(self, batch: list[Op]) -> None:
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self._commit, batch)
                return
            except OperationalError:  # database unreachable or locked: wait, never drop
                delay = _RETRY_DELAYS_S[min(attempt, len(_RETRY_DELAYS_S) - 1)]
                attempt += 1
                log.warning("writer: database unavailable, retrying in %.2fs", delay)
                await asyncio.sleep(delay)
            except Exception:
                units = _units(batch)
                if len(units) == 1:
                    log.exception("writer: the database refuses this fact: %r", batch)
                    return
                # Commit fact by fact so one bad row cannot hold back the rest.
                for unit in units:
                    await self._commit_with_retry(unit)
                return

    def _commit(self, batch: list[Op]) -> None:
        inserts: dict[Table, list[dict]] = defaultdict(list)
        updates: dict[tuple[Table, tuple], dict] = {}
        for op in batch:
            if isinstance(op, Insert):
                inserts[op.table].append(op.row)
            else:  # several changes to one row in a batch collapse into the last state
                updates.setdefault((op.table, op.key), {}).update(op.values)
        with self._engine.begin() as connection:
            for table, rows in inserts.items():
                connection.execute(table.insert(), rows)
            for (table, columns), rows in _group_updates(updates).items():
                connection.execute(_update_statement(table, columns), rows)
            self._feed.announce_in_transaction(connection, _topics(batch))


@functools.cache
def _update_statement(table: Table, columns: tuple[str, ...]):
    """UPDATE … WHERE <primary key>, built once per table and set of columns."""
    pk = list(table.primary_key.columns)
    return (
        table.update()
        .where(and_(*(c == bindparam(f"_pk_{c.name}") for c in pk)))
        .values({name: bindparam(name) for name in columns})
    )


def _topics(batch: list[Op]) -> set[str]:
    """The calls a batch changed, and the tables it added rows to."""
    return {op.call_id for op in batch} | {
        table_topic(op.table.name) for op in batch if isinstance(op, Insert)
    }


def _joins_previous(op: Op) -> bool:
    return isinstance(op, Insert) and op.with_previous


def _units(batch: list[Op]) -> list[list[Op]]:
    """The batch cut into the ops that must commit together: each op with the
    ``with_previous`` rows that follow it."""
    units: list[list[Op]] = []
    for op in batch:
        if units and _joins_previous(op):
            units[-1].append(op)
        else:
            units.append([op])
    return units


def _group_updates(updates: dict[tuple[Table, tuple], dict]) -> dict[tuple, list[dict]]:
    """executemany needs one statement per (table, set of columns)."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for (table, key), values in updates.items():
        pk_names = [c.name for c in table.primary_key.columns]
        row = dict(values) | {
            f"_pk_{name}": value for name, value in zip(pk_names, key, strict=True)
        }
        grouped[(table, tuple(sorted(values)))].append(row)
    return grouped
