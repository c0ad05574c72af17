"""Alert rules as data: what they accept, what each measure reads of a tally, how the
state moves with hysteresis, and the burn rates of an objective."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openline.domain.alerts import (
    FIRING,
    OK,
    RESOLVED,
    Reading,
    RuleProblem,
    example_order,
    parse_rule,
    read_objective,
    read_threshold,
    step,
    window_text,
)
from openline.domain.calls import LogEvent, LogMetric, Role, Turn
from openline.domain.tally import Tally

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def call(status: str = "completed", end_reason: str = "agent_hangup", facts=(), results=()):
    return Tally.of_call(status, T0, T0, end_reason, list(facts), results)


def merged(*tallies: Tally) -> Tally:
    return Tally.merged(tallies)


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"measure": {"type": "fail_rate"}, "threshold": 1}, "measure.type", "unknown measure"),
        ({"measure": {"type": "failure_rate"}, "threshold": 1, "window": "15x"}, "window", "90s"),
        (
            {"measure": {"type": "failure_rate"}, "threshold": 1, "window": "10s"},
            "window",
            "1 minute",
        ),
        ({"measure": {"type": "failure_rate"}}, "threshold", "missing"),
        (
            {"measure": {"type": "latency", "latency": "ttfb"}, "threshold": 1},
            "measure.latency",
            "unknown",
        ),
        ({"measure": {"type": "metric"}, "threshold": 1}, "measure.metric", "name"),
        (
            {"measure": {"type": "failure_rate", "metric": "x"}, "threshold": 1},
            "measure.metric",
            "not a parameter",
        ),
        (
            {"measure": {"type": "failure_rate"}, "threshold": 0.2, "resolve_threshold": 0.3},
            "resolve_threshold",
            "good side",
        ),
        (
            {"kind": "objective", "objective": {"target_s": 1.2, "ratio": 1.5}},
            "objective.ratio",
            "between",
        ),
        ({"objective": {"target_s": 1.2}, "threshold": 3}, "threshold", "no threshold"),
        (
            {"measure": {"type": "call_count"}, "threshold": 1, "colour": "red"},
            "colour",
            "not a field",
        ),
    ],
)
def test_a_rule_that_cannot_be_evaluated_is_refused_naming_its_field(given, field, says):
    with pytest.raises(RuleProblem) as refused:
        parse_rule(given)
    assert refused.value.field == field
    assert says in str(refused.value)


def test_a_rule_reads_back_from_its_stored_spec():
    rule = parse_rule(
        {"measure": {"type": "latency", "latency": "response"}, "threshold": 1.5, "window": 900}
        | {"scope": {"agent_id": "agent_a", "metadata": {"tier": "gold"}}}
    )
    assert parse_rule(rule.spec()) == rule
    assert rule.spec()["measure"] == {"type": "latency", "latency": "response", "quantile": "p95"}
    assert rule.describe() == "response latency p95 > 1.5 over 15m"
    assert window_text(90) == "90s" and window_text(7 * 86_400) == "7d"


def test_each_measure_reads_its_number_of_the_tally():
    slow = Turn("c", 2, 2, 3.0, Role.ASSISTANT, "ok", end_timestamp=4.0, latency=1.0)
    slow.latency_parts = {"endpointing": 0.3, "stt": 0.1, "agent": 0.4, "tts": 0.1, "playout": 0.1}
    asked = Turn("c", 1, 1, 1.0, Role.USER, "hi", end_timestamp=2.0)
    tally = merged(
        call(
            "failed",
            "error",
            [LogEvent("c", 3, 3, 1, "escalated"), LogMetric("c", 4, 4, 1, "csat", 4)],
        ),
        call(
            facts=[asked, slow, LogMetric("c", 5, 5, 1, "csat", 2)],
            results=[("greets", "completed", True)],
        ),
        call(end_reason="inactivity", results=[("greets", "completed", False)]),
        call(results=[("greets", "failed", None)]),
    )

    def value(measure: dict) -> float | None:
        return parse_rule({"measure": measure, "threshold": 0}).measure.value(tally)

    assert value({"type": "call_count"}) == 4
    assert value({"type": "failure_rate"}) == 0.25
    assert value({"type": "end_reason_share", "end_reasons": ["error", "inactivity"]}) == 0.5
    assert value({"type": "latency", "latency": "response", "quantile": "p50"}) == pytest.approx(
        1.0, rel=0.01
    )
    assert value({"type": "latency", "latency": "tts_ttfb"}) is None  # none measured
    for part in ("endpointing", "agent", "playout"):  # where the answer's wait went
        wait = slow.latency_parts[part]
        assert value({"type": "latency", "latency": part}) == pytest.approx(wait, rel=0.01)
    assert value({"type": "metric", "metric": "csat"}) == 3
    assert value({"type": "metric", "metric": "csat", "aggregate": "min"}) == 2
    assert value({"type": "metric", "metric": "nps", "aggregate": "count"}) == 0
    assert value({"type": "metric", "metric": "nps"}) is None
    assert value({"type": "event_count", "event": "escalated"}) == 1
    assert value({"type": "event_count", "event": "escalated", "per_call": True}) == 0.25
    assert value({"type": "pass_rate", "metric": "greets"}) == 0.5  # the error has no verdict
    assert value({"type": "pass_rate", "metric": "other"}) is None


def test_too_few_calls_cannot_fire_and_no_value_neither_fires_nor_resolves():
    rule = parse_rule({"measure": {"type": "failure_rate"}, "threshold": 0.2, "min_calls": 3})
    two_failed = read_threshold(rule, merged(call("failed", "error"), call("failed", "error")))
    assert (two_failed.value, two_failed.breaching, two_failed.clear) == (1.0, False, False)
    nothing = read_threshold(rule, Tally())
    assert (nothing.value, nothing.breaching, nothing.clear) == (None, False, False)
    assert step(rule, FIRING, 1, nothing) == step(rule, FIRING, 0, two_failed)  # stays firing
    count = parse_rule({"measure": {"type": "call_count"}, "comparison": "<", "threshold": 1})
    dead = read_threshold(count, Tally())
    assert (dead.value, dead.breaching, count.min_calls) == (0.0, True, 0)  # a dead line


def test_hysteresis_a_hovering_measure_does_not_flap():
    rule = parse_rule(
        {"measure": {"type": "failure_rate"}, "threshold": 0.2, "resolve_threshold": 0.1}
        | {"min_calls": 0, "fire_after": 2, "resolve_after": 2}
    )

    def reading(value: float) -> Reading:
        tally = Tally()
        tally.calls, tally.failed = 100, round(value * 100)
        return read_threshold(rule, tally)

    state, streak, seen = OK, 0, []
    for value in [0.3, 0.1, 0.3, 0.3, 0.15, 0.25, 0.15, 0.05, 0.3, 0.05, 0.05, 0.3, 0.3]:
        moved = step(rule, state, streak, reading(value))
        state, streak = moved.state, moved.streak
        seen.append(state)
    assert seen == [
        OK, OK, OK, FIRING,  # two breaching in a row
        FIRING, FIRING, FIRING,  # 0.15 is not past the resolve threshold
        FIRING, FIRING, FIRING,  # one clear, then a breach breaks the row
        RESOLVED,  # two clear in a row
        RESOLVED, FIRING,
    ]  # fmt: skip


def turns_with_latencies(latencies: list[float]) -> Tally:
    tally = Tally()
    for latency in latencies:
        tally.latency["response"].add(latency)
        tally.calls += 1
    return tally


def test_an_objective_fires_when_both_windows_of_a_condition_burn_fast():
    rule = parse_rule(
        {"objective": {"latency": "response", "target_s": 1.2, "ratio": 0.95, "period": "30d"}}
        | {"min_calls": 1}
    )
    fast, slow = rule.objective.conditions()
    assert (fast.factor, fast.long_s, fast.short_s) == (14.4, 3600, 300)
    assert (slow.factor, slow.long_s, slow.short_s) == (6.0, 21600, 1800)
    burning = turns_with_latencies([2.0] * 80 + [0.5] * 20)  # 80 % bad: burn rate 16
    calm = turns_with_latencies([2.0] * 2 + [0.5] * 98)  # 2 % bad: burn rate 0.4
    both = read_objective(rule, dict.fromkeys([3600, 300, 21600, 1800], burning))
    assert both.breaching and both.detail["condition"] == "fast"
    assert both.value == pytest.approx(16.0, rel=0.02) and both.threshold == 14.4
    # The burn stopped 5 minutes ago: the long window still burns, the short one does not.
    stopped = read_objective(rule, {3600: burning, 300: calm, 21600: burning, 1800: burning})
    assert stopped.breaching and stopped.detail["condition"] == "slow"
    recovered = read_objective(rule, {3600: burning, 300: calm, 21600: burning, 1800: calm})
    assert not recovered.breaching and recovered.clear
    assert rule.objective.budget_left(calm) == pytest.approx(0.6, abs=0.01)
    weekly = parse_rule({"objective": {"target_s": 1, "period": "7d"}}).objective.conditions()[0]
    assert (weekly.long_s, weekly.short_s) == (840, 70)


def test_examples_are_the_calls_that_show_the_problem_worst_first():
    rule = parse_rule({"measure": {"type": "latency", "latency": "response"}, "threshold": 1.0})
    calls = [
        (f"call_{i}", turns_with_latencies([latency]))
        for i, latency in enumerate([0.5, 3.0, 1.5, 0.9, 2.0])
    ]
    assert example_order(rule, calls) == ["call_1", "call_4", "call_2"]
    failing = parse_rule({"measure": {"type": "failure_rate"}, "threshold": 0.2})
    tallies = [("call_a", call()), ("call_b", call("failed", "error"))]
    assert example_order(failing, tallies) == ["call_b"]
