"""This process's lease, and the sweep that closes the calls of processes that are gone.

Every ``heartbeat_s`` (off the call path: a background task, the database in a worker
thread) the process renews its lease, then closes the open calls of processes whose
lease expired (``call_failed``, analysis), exactly once however many processes sweep.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta

from openline.domain.time import utcnow
from openline.store.calls import CallRepo
from openline.store.feed import ChangeFeed, table_topic
from openline.store.processes import ProcessRepo
from openline.store.schema import webhook_deliveries

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(
        self,
        process_id: str,
        processes: ProcessRepo,
        calls: CallRepo,
        feed: ChangeFeed,
        after_close: Callable[[str], None],
        heartbeat_s: float,
        ttl_s: float,
        unowned_grace_s: float,
    ) -> None:
        self.process_id = process_id
        self._processes = processes
        self._calls = calls
        self._feed = feed
        self._after_close = after_close  # post-call analysis of each call closed here
        self._heartbeat_s = heartbeat_s
        self._ttl_s = ttl_s
        self._unowned_grace_s = unowned_grace_s  # calls without an owner: older than this
        self._task: asyncio.Task | None = None

    def register(self) -> None:
        self._processes.register(self.process_id, socket.gethostname(), os.getpid(), self._ttl_s)

    async def sweep(self, unowned_grace_s: float | None = None) -> list[str]:
        """Close the calls of processes that are gone; returns their ids."""
        grace = self._unowned_grace_s if unowned_grace_s is None else unowned_grace_s
        unowned_before = utcnow() - timedelta(seconds=grace)
        closed: list[str] = []
        while batch := await asyncio.to_thread(
            self._calls.close_abandoned, self._processes.live(), unowned_before
        ):
            closed += batch
        if closed:
            log.warning("closed %d calls whose openline process is gone", len(closed))
            self._feed.publish({*closed, table_topic(webhook_deliveries.name)})
            for call_id in closed:
                self._after_close(call_id)
        await asyncio.to_thread(self._processes.clear_expired)
        return closed

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openline-lease")

    async def close(self) -> None:
        """Stop renewing and give the lease up: calls still open here are closed by the
        next sweep, in another process or in this one's successor."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._processes.expire, [self.process_id])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                if not await asyncio.to_thread(
                    self._processes.heartbeat, self.process_id, self._ttl_s
                ):
                    # Expired and cleared while this process was unreachable: its open
                    # calls were closed elsewhere. Hold a lease again for the calls to come.
                    log.error("lease %s had expired; registering again", self.process_id)
                    await asyncio.to_thread(self.register)
                await self.sweep()
            except Exception:  # the database may be away for a while: try again next beat
                log.warning("lease heartbeat or sweep failed", exc_info=True)
