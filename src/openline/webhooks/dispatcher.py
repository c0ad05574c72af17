"""Delivers the outbox: claim what is due, POST it, record the attempt, schedule the next.

It wakes when the writer commits new rows (the change feed), when a retry it scheduled
comes due, and otherwise every quarter second (for rows committed without telling it,
such as retries other processes scheduled). Sends run concurrently across calls, in
order within a call, paced per endpoint (``pacing``); an endpoint that keeps failing is
paused and probed (``health``, applied where attempts are logged).
Nothing here runs on a call's path: a dead endpoint only ever delays its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import sys
import time
from typing import cast

import httpx

from openline.domain.notifications import EMAIL, SLACK, email_address, email_of, slack_body
from openline.domain.time import utcnow
from openline.store.delivery_queue import Claimed, DeliveryQueue, Outcome
from openline.store.feed import ChangeFeed, table_topic
from openline.store.schema import webhook_deliveries
from openline.store.sealing import SETTING
from openline.telemetry import Telemetry
from openline.webhooks.mailer import Mailer, MailSent
from openline.webhooks.pacing import Pacer
from openline.webhooks.schedule import next_delay
from openline.webhooks.signing import delivery_headers
from openline.webhooks.targets import TargetPolicy, TargetRefused, check_resolved

log = logging.getLogger(__name__)


def _remember_missing_sniffio() -> None:
    """httpcore runs ``import sniffio`` several times per request; when sniffio is not
    installed, each failed import searches sys.path again, which costs more CPU than the
    request itself. A ``None`` in sys.modules makes the import fail at once, as it would."""
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]  # on purpose


_remember_missing_sniffio()

EXCERPT_BYTES = 2048
LEASE_S = 60.0  # longer than any one attempt can take (timeout 15 s)
HTTP_SHARDS = 16
POLL_S = 0.25  # for rows committed without a wake-up (other processes' retries)
_OTHER_KEY = (
    f"the webhook's secret was sealed with another key: give every openline worker the "
    f"same {SETTING}"
)


class Dispatcher:
    def __init__(
        self,
        repo: DeliveryQueue,
        feed: ChangeFeed,
        policy: TargetPolicy,
        schedule: tuple[float, ...],
        timeout_s: float = 15.0,
        concurrency: int = 64,
        mailer: Mailer | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._repo = repo
        self._telemetry = telemetry  # counts attempts, and draws them in their call's trace
        self._mailer = mailer  # for endpoints of format email
        self._feed = feed
        self._policy = policy
        self._schedule = schedule
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._pacer = Pacer(concurrency)
        # httpx transports (connection pools), not clients: a client's cookie jar, request
        # merging and redirect and auth layers cost a fifth of the CPU of a delivery and
        # do nothing here. Several small pools rather than one big one: httpcore's pool
        # does work in proportion to its connections on every request, so one pool of 64
        # spends about three times the CPU per request of 16 pools of 4. They share one
        # TLS context (certificates verified).
        shards = max(1, min(HTTP_SHARDS, concurrency))
        per_shard = -(-concurrency // shards)
        limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            # Below the 5 s many servers keep an idle connection open (uvicorn, Node), so
            # a request is not sent on a connection the receiver is closing.
            keepalive_expiry=4.0,
        )
        tls = httpx.create_ssl_context()
        self._pools = [httpx.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(shards)]
        self._busy = [0] * shards  # requests under way per pool
        self._timeouts = httpx.Timeout(timeout_s).as_dict()
        self._task: asyncio.Task | None = None
        self._recorder: asyncio.Task | None = None
        self._held: set[str] = set()  # claimed here and not yet recorded
        self._sending: dict[asyncio.Task, str] = {}  # attempts under way -> their delivery
        self._finished: list[tuple[Claimed, Outcome]] = []  # attempts made, to record
        self._record_now = asyncio.Event()
        # Woken by commits that add outbox rows, not by every write of every call.
        self._changed = (
            feed.subscribe(table_topic(webhook_deliveries.name))
            if feed is not None
            else asyncio.Event()
        )
        self._retries_due: list[float] = []  # heap of loop times when our retries come due

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openline-webhooks")
        self._recorder = asyncio.create_task(self._record(), name="openline-webhooks-log")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        if self._recorder is not None:
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
        try:
            if self._finished:  # attempts that were made are logged, not made again
                await asyncio.to_thread(self._repo.record_many, self._finished)
                self._held.difference_update(d.id for d, _ in self._finished)
            if self._held:  # hand the other claims back: the next process resumes them at once
                await asyncio.to_thread(self._repo.release, list(self._held))
        except Exception:
            log.warning("webhook dispatcher: could not log or release claims", exc_info=True)
        for pool in self._pools:
            await pool.aclose()

    def wake(self) -> None:
        """Look for due deliveries now (something was queued or re-enabled)."""
        self._changed.set()

    async def _run(self) -> None:
        changed = self._changed
        loop = asyncio.get_running_loop()
        while True:
            changed.clear()
            try:
                await self._dispatch_due()
            except Exception:  # a database hiccup must not stop deliveries for good
                log.exception("webhook dispatcher: claiming deliveries failed")
            now = loop.time()
            while self._retries_due and self._retries_due[0] <= now:
                heapq.heappop(self._retries_due)
            wait = min(POLL_S, self._retries_due[0] - now) if self._retries_due else POLL_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)

    async def _dispatch_due(self) -> None:
        while True:
            room = self._concurrency - len(self._held)
            if room <= 0:
                return
            claimed = await asyncio.to_thread(
                self._repo.claim_due, room, LEASE_S, self._pacer.room()
            )
            for delivery in claimed:
                self._held.add(delivery.id)
                self._pacer.started(delivery.webhook_id)
                task = asyncio.create_task(self._deliver(delivery))
                self._sending[task] = delivery.id
                task.add_done_callback(self._sent)
            if len(claimed) < room:
                return

    def _sent(self, task: asyncio.Task) -> None:
        self._sending.pop(task, None)

    async def _deliver(self, delivery: Claimed) -> None:
        started_ns = time.time_ns()
        try:
            outcome = await self.attempt(delivery)
        except Exception as error:  # a bug here must not strand the claim
            log.exception("webhook dispatcher: attempt at %s failed", delivery.id)
            retry_in = next_delay(delivery.retry_step + 1, self._schedule, None)
            outcome = Outcome(None, 0.0, None, f"internal error: {error!r}", retry_in, False)
        if self._telemetry is not None:
            self._telemetry.delivery_attempted(
                delivery.call_id,
                str(delivery.payload.get("type", "")),
                delivery.url,
                started_ns,
                time.time_ns(),
                outcome_label(outcome),
                outcome.status_code,
                outcome.error,
                delivery.attempts + 1,
            )
        self._finished.append((delivery, outcome))
        self._record_now.set()

    async def _record(self) -> None:
        """Log finished attempts, many per transaction, and move their deliveries along."""
        loop = asyncio.get_running_loop()
        while True:
            await self._record_now.wait()
            self._record_now.clear()
            while self._finished:
                batch, self._finished = self._finished, []
                try:
                    await asyncio.to_thread(self._repo.record_many, batch)
                except Exception:  # keep them, and try again shortly
                    log.exception("webhook dispatcher: logging attempts failed; retrying")
                    self._finished[:0] = batch
                    await asyncio.sleep(1.0)
                    continue
                for delivery, outcome in batch:
                    self._held.discard(delivery.id)
                    self._pacer.finished(delivery.webhook_id, outcome.delivered)
                    if outcome.retry_in_s is not None and outcome.disable_reason is None:
                        due = loop.time() + outcome.retry_in_s + 0.005
                        heapq.heappush(self._retries_due, due)  # wake for it, not the poll
                self._changed.set()  # the next events of these calls may go now

    async def attempt(self, delivery: Claimed) -> Outcome:
        if delivery.format == EMAIL:
            return await self._mail(delivery)
        if delivery.secret is None:
            retry_in = next_delay(delivery.retry_step + 1, self._schedule, None)
            return Outcome(None, 0.0, None, _OTHER_KEY, retry_in, delivered=False)
        shown = slack_body(delivery.payload) if delivery.format == SLACK else delivery.payload
        body = json.dumps(shown, separators=(",", ":"))
        headers = delivery_headers(delivery.secret, delivery.id, utcnow(), body)
        started = time.perf_counter()
        status = excerpt = error = retry_after = None
        try:
            await check_resolved(delivery.url, self._policy)
            request = httpx.Request("POST", delivery.url, content=body, headers=headers)
            request.extensions["timeout"] = self._timeouts
            shard = min(range(len(self._pools)), key=self._busy.__getitem__)
            self._busy[shard] += 1
            try:
                # One deadline for the whole exchange: a trickling receiver cannot stretch it.
                async with asyncio.timeout(self._timeout_s):
                    reply = await self._pools[shard].handle_async_request(request)
                    try:
                        status = reply.status_code
                        retry_after = reply.headers.get("retry-after")
                        excerpt = await _read_capped(reply)
                    finally:
                        await reply.aclose()
            finally:
                self._busy[shard] -= 1
        except TargetRefused as refused:
            error = f"target refused: {refused}"
        except TimeoutError:
            status, error = None, f"timed out after {self._timeout_s:g}s"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}".removesuffix(": ")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        if status is not None and 200 <= status < 300:
            return Outcome(status, elapsed_ms, excerpt, None, None, delivered=True)
        retry_in = next_delay(delivery.retry_step + 1, self._schedule, retry_after)
        if status == 410:
            # The endpoint is disabled; this delivery stays queued (held, with the call's
            # later events behind it) so that re-enabling resumes it in order.
            gone = "the endpoint answered 410 Gone"
            return Outcome(status, elapsed_ms, excerpt, "410 Gone", retry_in, False, gone)
        error = error or f"HTTP {status}"
        return Outcome(status, elapsed_ms, excerpt, error, retry_in, delivered=False)

    async def _mail(self, delivery: Claimed) -> Outcome:
        to = email_address(delivery.url)
        if self._mailer is None or to is None:
            sent = MailSent(None, 0.0, f"cannot email {delivery.url!r}")
        else:
            sent = await self._mailer.send(email_of(delivery.payload, self._mailer.sender, to))
        if sent.error is None:
            return Outcome(sent.status_code, sent.duration_ms, None, None, None, delivered=True)
        retry_in = next_delay(delivery.retry_step + 1, self._schedule, None)
        return Outcome(sent.status_code, sent.duration_ms, None, sent.error, retry_in, False)


def outcome_label(outcome: Outcome) -> str:
    """What became of an attempt, as telemetry counts it."""
    if outcome.delivered:
        return "delivered"
    if outcome.disable_reason is not None:
        return "disabled"
    return "failed" if outcome.retry_in_s is None else "retrying"


async def _read_capped(reply: httpx.Response) -> str:
    """At most EXCERPT_BYTES of the body: a receiver cannot make us read a huge reply."""
    kept = bytearray()
    stream = cast(httpx.AsyncByteStream, reply.stream)  # an async transport's reply
    async for chunk in stream:  # the raw bytes as they come
        kept += chunk[: EXCERPT_BYTES - len(kept)]
        if len(kept) >= EXCERPT_BYTES:
            break
    return kept.decode("utf-8", "replace")
