"""Delivers the outbox: claim what is due, POST it, record the attempt, schedule the next.

It wakes when the writer commits new rows (the change feed) and otherwise every second
for retries that come due. Sends run concurrently across calls, in order within a call.
Nothing here runs on a call's path: a dead endpoint only ever delays its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import httpx

from openline.domain.time import utcnow
from openline.store.feed import ChangeFeed
from openline.store.webhooks import Claimed, Outcome, WebhookRepo
from openline.webhooks.schedule import next_delay
from openline.webhooks.signing import delivery_headers
from openline.webhooks.targets import TargetPolicy, TargetRefused, check_resolved

log = logging.getLogger(__name__)

EXCERPT_BYTES = 2048
LEASE_S = 60.0  # longer than any one attempt can take (timeout 15 s)
POLL_S = 1.0


class Dispatcher:
    def __init__(
        self,
        repo: WebhookRepo,
        feed: ChangeFeed,
        policy: TargetPolicy,
        schedule: tuple[float, ...],
        timeout_s: float = 15.0,
        disable_after_failures: int = 100,
        concurrency: int = 64,
    ) -> None:
        self._repo = repo
        self._feed = feed
        self._policy = policy
        self._schedule = schedule
        self._timeout_s = timeout_s
        self._disable_after = disable_after_failures
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._http = httpx.AsyncClient(follow_redirects=False, verify=True)
        self._task: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openline-webhooks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        changed = self._feed.subscribe()
        while True:
            changed.clear()
            try:
                await self._dispatch_due()
            except Exception:  # a database hiccup must not stop deliveries for good
                log.exception("webhook dispatcher: claiming deliveries failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), POLL_S)

    async def _dispatch_due(self) -> None:
        while True:
            room = self._concurrency - len(self._in_flight)
            if room <= 0:
                return
            claimed = await asyncio.to_thread(self._repo.claim_due, room, LEASE_S)
            for delivery in claimed:
                task = asyncio.create_task(self._deliver(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if len(claimed) < room:
                return

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is None:
            self._feed.publish(())  # a finished delivery may unblock the next of its call

    async def _deliver(self, delivery: Claimed) -> None:
        async with self._slots:
            outcome = await self.attempt(delivery)
        await asyncio.to_thread(self._repo.record, delivery, outcome)

    async def attempt(self, delivery: Claimed) -> Outcome:
        body = json.dumps(delivery.payload, separators=(",", ":"))
        headers = delivery_headers(delivery.secret, delivery.id, utcnow(), body)
        started = time.perf_counter()
        status = excerpt = error = retry_after = None
        try:
            await check_resolved(delivery.url, self._policy)
            # One deadline for the whole exchange: a receiver trickling bytes cannot stretch it.
            async with asyncio.timeout(self._timeout_s):
                async with self._http.stream(
                    "POST", delivery.url, content=body, headers=headers, timeout=self._timeout_s
                ) as reply:
                    status = reply.status_code
                    retry_after = reply.headers.get("retry-after")
                    excerpt = await _read_capped(reply)
        except TargetRefused as refused:
            error = f"target refused: {refused}"
        except TimeoutError:
            status, error = None, f"timed out after {self._timeout_s:g}s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}".removesuffix(": ")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        if status is not None and 200 <= status < 300:
            return Outcome(status, elapsed_ms, excerpt, None, None, delivered=True)
        if status == 410:
            return Outcome(
                status,
                elapsed_ms,
                excerpt,
                "410 Gone",
                None,
                delivered=False,
                disable_reason="the endpoint answered 410 Gone",
            )
        if error is None:
            error = f"HTTP {status}"
        retry_in = next_delay(delivery.attempts + 1, self._schedule, retry_after)
        disable = None
        streak = await asyncio.to_thread(self._repo.failure_streak, delivery.webhook_id)
        if streak + 1 >= self._disable_after:
            disable = f"disabled after {streak + 1} failed attempts in a row; last: {error}"
        return Outcome(
            status, elapsed_ms, excerpt, error, retry_in, delivered=False, disable_reason=disable
        )


async def _read_capped(reply: httpx.Response) -> str:
    """At most EXCERPT_BYTES of the body: a receiver cannot make us read a huge reply."""
    kept = bytearray()
    async for chunk in reply.aiter_raw():
        kept += chunk[: EXCERPT_BYTES - len(kept)]
        if len(kept) >= EXCERPT_BYTES:
            break
    return kept.decode("utf-8", "replace")
