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


def evaluated(passed: int, failed: int, errored: int = 0) -> dict:
    """Ten calls' public tally with results of ``scored-high`` (and always-erroring ``judge``)."""
    verdicts = [True] * passed + [False] * failed
    tallies = []
    for n in range(10):
        results = [("judge", "failed", None)]
        if n < len(verdicts):
            results.append(("scored-high", "completed", verdicts[n]))
        elif n < len(verdicts) + errored:
            results.append(("scored-high", "failed", None))
        tallies.append(Tally.of_call("completed", T0, T0, None, [], results))
    return Tally.merged(tallies).public()


def test_a_pass_rate_more_than_ten_points_lower_is_worse():
    changes = compare(evaluated(9, 1), evaluated(7, 3))  # 90 % → 70 %
    rows = [c for c in changes if c.section == "evaluations"]
    assert [(c.measure, c.before, c.after, c.worse) for c in rows] == [
        ("scored-high pass rate", 0.9, 0.7, True)
    ]  # judge: only errors, no rate to compare
    within = compare(evaluated(9, 1), evaluated(8, 2))  # 10 points down: not more
    assert [c.worse for c in within if c.section == "evaluations"] == [False]
    assert not any(c.worse for c in compare(evaluated(5, 5), evaluated(8, 1, errored=1)))


def test_a_pass_rate_on_one_side_only_is_shown_not_judged():
    before, after = evaluated(9, 1), deployment(0, 0.2, 0)  # no evaluations at all
    rows = [c for c in compare(before, after) if c.section == "evaluations"]
    assert [(c.before, c.after, c.worse) for c in rows] == [(0.9, None, None)]
    old_reply = {key: value for key, value in after.items() if key != "evaluations"}
    assert [c.after for c in compare(before, old_reply) if c.section == "evaluations"] == [None]
