"""Expectations checked against a recorded call (the JSON of ``GET /agents/calls/{id}``) and
its evaluation results (``GET /agents/metrics/results``): each one met, and each one
unmet with the message that says why."""

from __future__ import annotations

import pytest

from openline.scenarios.expect import check, latencies, replies
from openline.scenarios.spec import Scenario


def turn(role: str, text: str, at: float, **extra) -> dict:
    return {"role": role, "text": text, "start_timestamp": at, "end_timestamp": at} | extra


def system(at: float, **entry) -> dict:
    return {"role": "system", "text": "", "start_timestamp": at, "end_timestamp": at} | entry


CALL = {
    "id": "call_1",
    "end_reason": "agent_hangup",
    "transcript": [
        turn("assistant", "Hi! What's your order number?", 0.4),
        turn("user", "where is A123?", 2.0),
        turn(
            "assistant",
            "Order A123 is shipped.",
            2.1,
            text_chunks=[{"text": "Order A123 is shipped.", "start_timestamp": 2.5}],
            tool_calls=[{"id": "t1", "name": "lookup_order", "arguments": {"order_id": "A123"}}],
        ),
        system(
            2.2,
            log_event={"event": "order_processed", "metadata": {"level": "info"}, "timestamp": 2.2},
        ),
        system(2.3, log_metric={"name": "csat", "value": 3, "timestamp": 2.3}),
        system(2.4, log_metric={"name": "csat", "value": 4, "timestamp": 2.4}),
        system(2.4, log_metric={"name": "mood", "value": "calm", "timestamp": 2.4}),
        turn("user", "and B456?", 5.0),
        turn("user", "bye", 9.0),
        turn(
            "assistant", "Goodbye!", 9.5, text_chunks=[{"text": "Goodbye!", "start_timestamp": 9.5}]
        ),
    ],
}
LINES = ["where is A123?", "and B456?", "bye"]


def failures(expect: list, results: list | None = None) -> list[str]:
    scenario = Scenario.model_validate({"name": "s", "caller": LINES, "expect": expect})
    return check(scenario, CALL, results)


def test_replies_and_latencies_follow_the_caller_lines():
    assert replies(CALL) == [
        "Hi! What's your order number?",
        "Order A123 is shipped.",
        "",
        "Goodbye!",
    ]
    assert latencies(CALL) == [0.5, None, 0.5]  # from the line to the first text chunk


MET = [
    {"assistant_says": "SHIPPED"},  # any turn, ignoring case
    {"assistant_says": {"text": "order number", "turn": 0}},
    {"assistant_says": {"text": "a123 is", "turn": 1}},
    {"assistant_matches": r"A\d{3}"},
    {"assistant_matches": {"pattern": "^good", "turn": 3}},
    {"tool_called": "lookup_order"},
    {"tool_called": {"name": "lookup_order", "arguments": {"order_id": "A123"}}},
    {"event": "order_processed"},
    {"event": {"name": "order_processed", "metadata": {"level": "info"}}},
    {"metric": "mood"},
    {"metric": {"name": "csat", "equals": 4, "min": 4, "max": 4}},  # the last value counts
    {"metric": {"name": "mood", "equals": "calm"}},
    {"end_reason": ["client_hangup", "agent_hangup"]},
]


@pytest.mark.parametrize("expectation", MET, ids=str)
def test_met(expectation):
    assert failures([expectation]) == []


UNMET = [
    (
        {"assistant_says": "refund"},
        "assistant_says: no assistant turn contains 'refund'; the agent said "
        "\"Hi! What's your order number?\", 'Order A123 is shipped.', 'Goodbye!'",
    ),
    (
        {"assistant_says": {"text": "B456", "turn": 2}},
        "assistant_says: the reply to line 2 ('and B456?') does not contain 'B456'; "
        "the agent said nothing",
    ),
    (
        {"assistant_matches": {"pattern": "^Hello", "turn": 0}},
        "assistant_matches: the greeting does not match /^Hello/; "
        'the agent said "Hi! What\'s your order number?"',
    ),
    (
        {"tool_called": {"name": "lookup_order", "arguments": {"order_id": "B456"}}},
        "tool_called: tool 'lookup_order' with {'order_id': 'B456'} never found; "
        "called: lookup_order {'order_id': 'A123'}",
    ),
    (
        {"event": {"name": "order_processed", "metadata": {"level": "error"}}},
        "event: event 'order_processed' with {'level': 'error'} never found; "
        "events: order_processed",
    ),
    ({"metric": "nps"}, "metric: metric 'nps' was never logged"),
    ({"metric": {"name": "csat", "equals": 3}}, "metric: metric 'csat' was 4, not 3"),
    ({"metric": {"name": "csat", "equals": True}}, "metric: metric 'csat' was 4, not True"),
    ({"metric": {"name": "csat", "min": 5}}, "metric: metric 'csat' was 4, not >= 5"),
    ({"metric": {"name": "csat", "max": 3.5}}, "metric: metric 'csat' was 4, not <= 3.5"),
    (
        {"metric": {"name": "mood", "min": 1}},
        "metric: metric 'mood' was logged, but never as a number",
    ),
    (
        {"end_reason": "client_hangup"},
        "end_reason: end reason 'agent_hangup' is not in ['client_hangup']",
    ),
]


@pytest.mark.parametrize(("expectation", "message"), UNMET, ids=[m for _, m in UNMET])
def test_unmet(expectation, message):
    assert failures([expectation]) == [message]


def test_max_latency_names_each_slow_or_unanswered_line():
    assert failures([{"max_latency": 0.5}]) == ["max_latency: line 2 ('and B456?') got no reply"]
    assert failures([{"max_latency": 0.4}]) == [
        "max_latency: the reply to line 1 ('where is A123?') took 0.50s, over 0.4s",
        "max_latency: line 2 ('and B456?') got no reply",
        "max_latency: the reply to line 3 ('bye') took 0.50s, over 0.4s",
    ]


def result(name: str, **fields) -> dict:
    """A result as ``GET /agents/metrics/results`` lists it (camelCase keys)."""
    return {
        "id": f"metric_result_{name}",
        "agentId": "agent_1",
        "callId": "call_1",
        "createdAt": "2026-12-02T21:04:05.120Z",
        "deploymentId": "",
        "metricId": f"metric_{name}",
        "metricName": name,
        "result": "true",
        "status": "completed",
        "summary": "",
        "jsonResult": None,
        "runId": None,
        "value": True,
        "passed": True,
        "reason": "fine",
    } | fields


RESULTS = [
    result("confirmed"),
    result("polite", passed=False, value=False, result="false", reason="it was rude"),
    result("judged", status="failed", passed=None, value=None, reason="no judge configured"),
    result("tone", passed=None, value="warm", result="warm"),
]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("confirmed", None),
        ("polite", "metric 'polite' did not pass: it was rude"),
        ("judged", "metric 'judged' could not be judged: no judge configured"),
        ("tone", "metric 'tone' is not pass or fail (its value: 'warm')"),
        ("missing", "no result for metric 'missing': is it attached to the agent?"),
    ],
)
def test_metric_passes_reads_the_results(name, message):
    expected = [] if message is None else [f"metric_passes: {message}"]
    assert failures([{"metric_passes": name}], RESULTS) == expected


def test_metric_passes_without_final_results():
    assert failures([{"metric_passes": "confirmed"}], None) == [
        "metric_passes: the evaluation of 'confirmed' was not final in time (see --timeout)"
    ]


def test_every_unmet_expectation_is_reported_in_order():
    found = failures([{"assistant_says": "refund"}, {"end_reason": "error"}, {"metric": "nps"}])
    assert [problem.split(":")[0] for problem in found] == [
        "assistant_says",
        "end_reason",
        "metric",
    ]


def test_a_failed_call_fails_the_scenario_unless_it_expects_the_error():
    failed = CALL | {"status": "failed", "end_reason": "error", "error_message": "agent crashed"}
    scenario = Scenario.model_validate(
        {"name": "s", "caller": LINES, "expect": [{"metric": "csat"}]}
    )
    assert check(scenario, failed, None) == ["the call failed: agent crashed"]
    expected = Scenario.model_validate({"name": "s", "expect": [{"end_reason": "error"}]})
    assert check(expected, failed, None) == []
