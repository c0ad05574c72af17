"""Runs post-call analysis after each call, off the call's path, and retries failures.

A call ends with ``analysis_status = pending``. The runner summarizes it and evaluates
the metrics attached to its agent (``evaluator.py``); once every metric result is final
it stores the summary and queues the ``post_call_analysis`` webhook, with the results,
in one transaction. Failures are recorded on the call and retried by a periodic sweep,
which also picks up calls whose analysis was interrupted by a restart.
"""

from __future__ import annotations

import asyncio
import logging

from openline.analysis.evaluator import Evaluator
from openline.analysis.summarizers import Summarizer
from openline.domain.calls import TRANSCRIPT_KINDS
from openline.domain.shapes import call_json
from openline.store.calls import CallRepo
from openline.store.feed import ChangeFeed, table_topic
from openline.store.schema import webhook_deliveries

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def analysis_awaited(call: dict) -> bool:
    """Whether an ended call's analysis is still to come (being made, or to be retried)."""
    return (
        call["status"] != "started"
        and call["redacted_at"] is None
        and call["analysis_status"] in ("pending", "failed")
        and call["analysis_attempts"] < MAX_ATTEMPTS
    )


class MetricsUnsettled(Exception):
    """Some metric results are not final yet: the analysis is stored once they are."""


class AnalysisRunner:
    def __init__(
        self,
        calls: CallRepo,
        summarizer: Summarizer,
        evaluator: Evaluator,
        retry_s: float,
        feed: ChangeFeed | None = None,
    ) -> None:
        self._calls = calls
        self._evaluator = evaluator
        self._feed = feed  # told when a summary is stored: wakes the dispatcher and tails
        self._summarizer = summarizer
        self._retry_s = retry_s
        self._tasks: set[asyncio.Task] = set()
        self._running: set[str] = set()  # calls being analyzed here now
        self._sweeper: asyncio.Task | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="openline-analysis")

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def schedule(self, call_id: str) -> None:
        if call_id in self._running:  # the sweep found a call whose analysis is under way
            return
        self._running.add(call_id)
        task = asyncio.create_task(self._run_logged(call_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._running.discard(call_id))

    async def analyze(self, call_id: str, unless_done: bool = False) -> str:
        """Evaluate and summarize a call now; raises when it cannot (a failure is recorded).
        ``unless_done``: keep (and announce) the summary only if no other process stored
        one meanwhile; asked for explicitly, a call is analysed again."""
        call, facts = await asyncio.to_thread(self._calls.with_facts, call_id, TRANSCRIPT_KINDS)
        if call is None:
            raise LookupError(f"no call with id {call_id!r}")
        shaped = call_json(call, facts)
        # Metrics first: while some are judged elsewhere or due again, a summary would be
        # made for nothing (an LLM's costs money).
        evaluation = await self._evaluator.evaluate(call, shaped)
        if evaluation.retrying:
            message = f"metric results failed and will be retried: {', '.join(evaluation.retrying)}"
            await asyncio.to_thread(self._calls.analysis_failed, call_id, message)
            raise MetricsUnsettled(message)
        if not evaluation.settled:  # another process is judging some: it stores the analysis
            raise MetricsUnsettled("metric results are being judged by another process")
        try:
            summary = await self._summarizer.summarize(shaped)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            await asyncio.to_thread(self._calls.analysis_failed, call_id, message)
            raise
        stored = await asyncio.to_thread(self._calls.save_analysis, call_id, summary, unless_done)
        if stored and self._feed is not None:  # the call changed, and an outbox row was added
            self._feed.publish({call_id, table_topic(webhook_deliveries.name)})
        return summary

    async def _run_logged(self, call_id: str) -> None:
        try:
            await self.analyze(call_id, unless_done=True)
        except MetricsUnsettled as unsettled:
            log.info("analysis of %s waits: %s", call_id, unsettled)
        except Exception:
            log.warning("analysis of %s failed; it will be retried", call_id, exc_info=True)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._retry_s)
            try:
                due = await asyncio.to_thread(self._calls.analyses_due, MAX_ATTEMPTS, self._retry_s)
            except Exception:
                log.exception("analysis sweep failed")
                continue
            for call_id in due:
                self.schedule(call_id)
