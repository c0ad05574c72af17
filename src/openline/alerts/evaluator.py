"""The alert evaluator: every interval, each enabled rule's reading from the analytics
rollups, its state moved on, and each transition notified through the webhook outbox.

Runs in the one process that leads (``store.leadership``), in a worker thread: nothing
here touches a call. ``evaluate(now)`` takes the clock as an argument, so a test can
step a rule through simulated time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from openline import ids
from openline.alerts.notify import queue_notifications
from openline.domain.alerts import (
    EXAMPLES,
    FIRING,
    example_order,
    read_objective,
    read_threshold,
    step,
    test_transition,
)
from openline.domain.analytics import AnalyticsFilter
from openline.domain.tally import Tally
from openline.domain.time import utcnow
from openline.store.alerts import AlertRepo, Evaluation, StoredRule
from openline.store.analytics import AnalyticsRepo
from openline.store.feed import ChangeFeed, table_topic
from openline.store.leadership import Leadership
from openline.store.schema import webhook_deliveries

log = logging.getLogger(__name__)

LOCK_ID = 7_405_316  # arbitrary, constant: the advisory lock of the one evaluator
BUDGET_EVERY_S = 300.0  # an objective's budget reads its whole period: not every interval
CANDIDATES = 200  # calls looked at for examples


class AlertEvaluator:
    def __init__(
        self,
        repo: AlertRepo,
        analytics: AnalyticsRepo,
        leadership: Leadership,
        feed: ChangeFeed | None,
        console_base: str,
        interval_s: float,
    ) -> None:
        self._repo = repo
        self._analytics = analytics
        self._leadership = leadership
        self._feed = feed
        self._console_base = console_base.rstrip("/")
        self._interval_s = interval_s
        self._budgets: dict[str, tuple[datetime, float | None]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="openline-alerts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.to_thread(self._leadership.release)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                if await asyncio.to_thread(self._leadership.lead):
                    await asyncio.to_thread(self.evaluate, utcnow())
            except Exception:  # the database may be away for a while: next interval
                log.warning("alert evaluation failed", exc_info=True)

    def evaluate(self, now: datetime) -> list[dict[str, Any]]:
        """One round over every enabled rule, written in one transaction; returns the
        transitions it made. Rules of one scope share the windows they read."""
        windows = Windows(self._analytics, now)
        evaluations = []
        for stored in self._repo.enabled():
            try:
                evaluations.append(self._evaluate(stored, windows))
            except Exception:  # one rule's trouble must not stop the others
                log.exception("alert rule %s: evaluation failed", stored.id)
        made = self._repo.record(evaluations, now, self._notify)
        if made and self._feed is not None:
            self._feed.publish({table_topic(webhook_deliveries.name)})  # send them now
        self._repo.prune_samples(now)
        return made

    def console_url(self, rule_id: str) -> str:
        return f"{self._console_base}/console/alerts/{rule_id}"

    def send_test(self, rule_id: str) -> list[dict[str, Any]] | None:
        """Queue a sample ``alert_firing`` to each of the rule's targets; returns the
        deliveries (None: no such rule)."""

        def queue_test(connection: Connection, rule: dict, targets: list[str]) -> list[dict]:
            transition = test_transition(rule, ids.new_id(ids.ALERT_TRANSITION))
            url = self.console_url(rule_id)
            return queue_notifications(connection, targets, rule, transition, url, 0, test=True)

        queued = self._repo.with_rule(rule_id, queue_test)
        if queued and self._feed is not None:
            self._feed.publish({table_topic(webhook_deliveries.name)})
        return queued

    def _evaluate(self, stored: StoredRule, windows: Windows) -> Evaluation:
        rule, now = stored.rule, windows.now
        if rule.objective is None:
            reading = read_threshold(rule, windows.last(rule.window_s, rule.scope))
        else:
            lengths = {s for c in rule.objective.conditions() for s in (c.long_s, c.short_s)}
            tallies = {seconds: windows.last(seconds, rule.scope) for seconds in lengths}
            reading = read_objective(rule, tallies)
            reading.detail["budget_left"] = self._budget_left(stored, windows)
        moved = step(rule, stored.state, stored.streak, reading)
        examples: list[str] = []
        if moved.state != stored.state:
            start = now - timedelta(seconds=rule.window_s)
            calls = self._analytics.newest_calls(start, now, rule.scope, CANDIDATES)
            if moved.state == FIRING:
                examples = example_order(rule, calls)
            else:  # resolved: the newest calls, which show it clear
                examples = [call_id for call_id, _ in calls[:EXAMPLES]]
        return Evaluation(stored, moved, reading, examples)

    def _notify(
        self,
        connection: Connection,
        rule: dict,
        transition: dict,
        position: int,
        targets: list[str],
    ) -> None:
        url = self.console_url(rule["id"])
        queue_notifications(connection, targets, rule, transition, url, position)

    def _budget_left(self, stored: StoredRule, windows: Windows) -> float | None:
        objective, now = stored.rule.objective, windows.now
        assert objective is not None
        cached = self._budgets.get(stored.id)
        if cached is not None and abs((now - cached[0]).total_seconds()) < BUDGET_EVERY_S:
            return cached[1]
        left = objective.budget_left(windows.last(objective.period_s, stored.rule.scope))
        left = None if left is None else round(left, 4)
        self._budgets[stored.id] = (now, left)
        return left


class Windows:
    """The tallies of one round's windows, each (length, scope) read once."""

    def __init__(self, analytics: AnalyticsRepo, now: datetime) -> None:
        self.now = now
        self._analytics = analytics
        self._read: dict[tuple[int, AnalyticsFilter], Tally] = {}

    def last(self, seconds: int, scope: AnalyticsFilter) -> Tally:
        """The tally of the calls that started in the last ``seconds``."""
        key = (seconds, scope)
        if key not in self._read:
            start = self.now - timedelta(seconds=seconds)
            self._read[key] = self._analytics.total(start, self.now, scope)
        return self._read[key]
