"""Listing calls by a metric's value on both databases: numeric bounds ([min, max)) only
ever match numbers, never a string that reads as one; other values match as analytics
names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openline.domain.calls import LogMetric
from openline.store import schema
from openline.store.calls import CallFilter, CallRepo
from openline.store.facts import TABLE_OF, to_row
from openline.store.pagination import PageRequest

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
VALUES = {  # call id → the values of its metric "score"
    "call_int": [3],
    "call_low": [1.5],
    "call_high": [4.0],
    "call_negative": [-2.5],
    "call_two": [0.5, 9.0],  # one value in a range is enough
    "call_text": ["3"],  # a string, never a number
    "call_word": ["high"],
    "call_true": [True],  # a boolean, never 1
}


@pytest.fixture
def calls(engine) -> CallRepo:
    with engine.begin() as connection:
        for n, (call_id, values) in enumerate(VALUES.items()):
            connection.execute(
                schema.calls.insert(),
                {
                    "id": call_id,
                    "agent_id": "agent_a",
                    "agent_name": "a",
                    "status": "completed",
                    "start_time": START + timedelta(minutes=n),
                    "rev": 0,
                },
            )
            for seq, value in enumerate(values, start=1):
                metric = LogMetric(call_id, seq, seq, 1.0, "score", value)
                connection.execute(TABLE_OF[LogMetric].insert(), to_row(metric))
            other = LogMetric(call_id, 9, 9, 2.0, "other", 100)  # another metric's value
            connection.execute(TABLE_OF[LogMetric].insert(), to_row(other))
    return CallRepo(engine)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, set(VALUES)),
        ({"metric_min": 3}, {"call_int", "call_high", "call_two"}),  # min is included
        ({"metric_max": 3}, {"call_low", "call_negative", "call_two"}),  # max is not
        ({"metric_min": 1.5, "metric_max": 4}, {"call_int", "call_low"}),
        ({"metric_min": -3, "metric_max": 0}, {"call_negative"}),
        ({"metric_min": 50}, set()),  # "other" is 100, but it is another metric
        ({"metric_value": "high"}, {"call_word"}),
        ({"metric_value": "true"}, {"call_true"}),
        ({"metric_value": "3"}, {"call_text"}),
    ],
)
def test_calls_by_metric_value(calls, where, expected):
    found = calls.list(CallFilter(metric="score", **where), PageRequest(limit=100))
    assert {row["id"] for row in found.rows} == expected


def test_a_metric_nobody_logged_matches_no_call(calls):
    found = calls.list(CallFilter(metric="nothing", metric_min=0), PageRequest(limit=100))
    assert found.rows == []
