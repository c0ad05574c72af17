"""Offline rule metrics, checked against calls in the API's shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openline.domain.rules import parse_rule, result_text, rule_json

CALL = {
    "end_reason": "agent_hangup",
    "transcript": [
        {"role": "assistant", "text": "Hi! How can I help?"},
        {"role": "user", "text": "Where is order K1?"},
        {
            "role": "assistant",
            "text": "Order K1 has shipped.",
            "tool_calls": [{"id": "t1", "name": "lookup_order", "arguments": {"order_id": "K1"}}],
        },
        {
            "role": "system",
            "text": "",
            "log_event": {
                "event": "booked",
                "metadata": {"slot": "9am", "metadata": {"day": "tue", "n": 2}},
            },
        },
        {"role": "system", "text": "", "log_metric": {"name": "score", "value": 3}},
        {"role": "system", "text": "", "log_metric": {"name": "score", "value": 8.5}},
        {"role": "system", "text": "", "log_metric": {"name": "mood", "value": "calm"}},
        {
            "role": "system",
            "text": "",
            "tool_call": {"id": "t2", "name": "hang_up", "arguments": {}},
        },
    ],
}


def check(rule: dict):
    return parse_rule(rule).check(CALL)


@pytest.mark.parametrize(
    ("rule", "passed", "reason"),
    [
        ({"type": "event", "name": "booked"}, True, "event 'booked' found 1 time"),
        (
            {"type": "event", "name": "booked", "metadata": {"metadata": {"day": "tue"}}},
            True,
            "event 'booked' with {'metadata': {'day': 'tue'}} found 1 time",
        ),
        (
            {"type": "event", "name": "booked", "metadata": {"metadata": {"day": "wed"}}},
            False,
            "event 'booked' with {'metadata': {'day': 'wed'}} never found",
        ),
        (
            {"type": "event", "name": "booked", "metadata": {"slot": "10am"}},
            False,
            "event 'booked' with {'slot': '10am'} never found",
        ),
        (
            {"type": "tool_called", "name": "lookup_order", "arguments": {"order_id": "K1"}},
            True,
            "tool 'lookup_order' with {'order_id': 'K1'} found 1 time",
        ),
        ({"type": "tool_called", "name": "hang_up"}, True, "tool 'hang_up' found 1 time"),
        ({"type": "tool_called", "name": "refund"}, False, "tool 'refund' never found"),
        (
            {"type": "metric", "name": "score", "op": ">", "value": 8},
            True,
            "metric 'score' was 8.5, > 8",
        ),
        (
            {"type": "metric", "name": "score", "op": "<", "value": 5},
            False,
            "metric 'score' was 8.5, not < 5",
        ),
        (
            {"type": "metric", "name": "absent", "op": "==", "value": 1},
            False,
            "metric 'absent' was never logged",
        ),
        (
            {"type": "metric", "name": "mood", "op": "==", "value": 1},
            False,
            "metric 'mood' was logged, but never as a number",
        ),
        (
            {"type": "transcript", "role": "assistant", "pattern": "SHIPPED"},
            True,
            "1 assistant turn matched /SHIPPED/",
        ),
        (
            {"type": "transcript", "role": "assistant", "pattern": "SHIPPED", "ignore_case": False},
            False,
            "no assistant turn matched /SHIPPED/",
        ),
        (
            {"type": "transcript", "role": "user", "pattern": r"\brefund\b", "absent": True},
            True,
            "no user turn matched /\\brefund\\b/",
        ),
        (
            {"type": "end_reason", "in": ["agent_hangup", "client_hangup"]},
            True,
            "end reason 'agent_hangup' is in ['agent_hangup', 'client_hangup']",
        ),
        (
            {"type": "end_reason", "in": ["error"]},
            False,
            "end reason 'agent_hangup' is not in ['error']",
        ),
    ],
)
def test_each_rule_says_what_it_found(rule, passed, reason):
    verdict = check(rule)
    assert (verdict.passed, verdict.reason) == (passed, reason)


def test_a_metric_rule_takes_the_last_number_logged():
    verdict = check({"type": "metric", "name": "score", "op": ">=", "value": 5})
    assert (verdict.value, verdict.result, verdict.details) == (8.5, "8.5", {"values": [3, 8.5]})


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"type": "sentiment"}, "does not match any of the expected tags"),
        ({"type": "event"}, "name"),
        ({"type": "event", "name": "x", "extra": 1}, "Extra inputs are not permitted"),
        ({"type": "metric", "name": "x", "op": "=~", "value": 1}, "op"),
        ({"type": "metric", "name": "x", "op": ">", "value": "NaN"}, "finite"),
        ({"type": "transcript", "role": "system", "pattern": "x"}, "role"),
        ({"type": "transcript", "role": "user", "pattern": "("}, "not a regular expression"),
        ({"type": "end_reason", "in": []}, "at least 1 item"),
        ({"type": "end_reason", "in": ["nap"]}, "in"),
    ],
)
def test_bad_rules_are_refused_with_what_is_wrong(rule, says):
    with pytest.raises(ValidationError) as refused:
        parse_rule(rule)
    assert says in str(refused.value)


def test_a_rule_round_trips_through_its_json():
    rule = {"type": "end_reason", "in": ["error"]}
    assert rule_json(parse_rule(rule)) == rule
    assert parse_rule(rule_json(parse_rule(rule))) == parse_rule(rule)


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (7.0, "7"), (0.25, "0.25"), (None, ""), ("ok", "ok")],
)
def test_result_text(value, text):
    assert result_text(value) == text
