"""Evaluates the metrics attached to a call's agent, after the call, off its path.

Each (call, metric) pair is judged by the process that holds its lease
(``store/evaluations.py``), all of a call's pairs at once. A failure that trying again
could change is retried with the call's analysis, up to its attempts; the others, and
the last attempt's, are final. The call's analysis is complete once every pair is.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from openline.analysis.judges import Judge, JudgeFailed
from openline.store.evaluations import Claim, Outcome, ResultRepo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    settled: bool  # every pair of the call is final
    retrying: list[str]  # metrics this pass failed that will be judged again


class Evaluator:
    def __init__(self, results: ResultRepo, judge: Judge, lease_s: float, max_attempts: int):
        self._results = results
        self._judge = judge
        self._lease_s = lease_s
        self._max_attempts = max_attempts

    async def evaluate(self, call: dict, shaped: dict[str, Any]) -> Evaluation:
        """Judge the pairs of ``call`` no process holds; ``shaped`` is its public JSON."""
        await asyncio.to_thread(self._results.open_pairs, call)
        claims = await asyncio.to_thread(self._results.claim, call["id"], self._lease_s)
        outcomes = await asyncio.gather(*(self._judge_one(claim, shaped) for claim in claims))
        settled = await asyncio.to_thread(self._results.settle, call["id"], outcomes)
        retrying = [o.claim.metric["name"] for o in outcomes if o.verdict is None and not o.final]
        return Evaluation(settled, retrying)

    async def _judge_one(self, claim: Claim, shaped: dict[str, Any]) -> Outcome:
        try:
            return Outcome(claim, await self._judge.judge(claim.metric, shaped))
        except Exception as error:  # noqa: BLE001 - any failure is a failed result, never lost
            failure = error if isinstance(error, JudgeFailed) else _unexpected(error)
            final = not failure.retry or claim.attempts + 1 >= self._max_attempts
            return Outcome(claim, None, failure.reason, final)


def _unexpected(error: Exception) -> JudgeFailed:
    log.warning("judging failed unexpectedly", exc_info=error)
    return JudgeFailed(f"{type(error).__name__}: {error}", retry=True)
