"""Comparing two deployments' tallies: what got worse, beyond the 10 % allowance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openline.domain.analytics import compare
from openline.domain.calls import LogEvent, LogMetric, Role, Turn
from openline.domain.tally import Tally

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def deployment(failed: int, latency: float, errors: int) -> dict:
    tallies = []
    for n in range(10):
        facts = [
            Turn("c", 1, 1, 1.0, Role.USER, "hi", end_timestamp=2.0),
            Turn("c", 2, 2, 2.0 + latency, Role.ASSISTANT, "hello", end_timestamp=3.0),
            LogMetric("c", 3, 3, 2.5, "score", 5),
            LogMetric("c", 4, 4, 2.6, "answer", "yes"),
        ]
        if n < errors:
            facts.append(LogEvent("c", 5, 5, 2.7, "payment_failed", level="error"))
        status, reason = ("failed", "error") if n < failed else ("completed", "agent_hangup")
        tallies.append(Tally.of_call(status, T0, T0 + timedelta(seconds=30), reason, facts))
    return Tally.merged(tallies).public()


def test_worse_failures_latency_and_error_events_are_marked_and_nothing_else():
    changes = compare(deployment(1, 0.2, 1), deployment(4, 0.5, 3))
    worse = {(c.section, c.measure) for c in changes if c.worse}
    assert worse == {
        ("calls", "failure rate"),
        ("latency_s", "response p50"),
        ("latency_s", "response p95"),
        ("latency_s", "response p99"),
        ("events", "payment_failed per call"),
    }
    measures = {c.measure for c in changes}
    assert "score mean" in measures and "answer mean" not in measures  # values have no mean


def test_better_or_within_the_allowance_is_not_worse():
    assert not any(c.worse for c in compare(deployment(4, 0.5, 3), deployment(1, 0.2, 1)))
    assert not any(c.worse for c in compare(deployment(1, 0.50, 1), deployment(1, 0.54, 1)))
