"""The Timeline tab's items without a browser: by kind, each answer's latency only when
it has one, deliveries on the call's clock, labels cut short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openline.console import timeline
from openline.domain.calls import LogEvent, LogMetric, LogRecord, Role, ToolCall, Turn

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CALL = {"id": "call_1", "start_time": START, "end_time": START + timedelta(seconds=90)}
PARTS = {"endpointing": 0.3, "stt": None, "agent": 0.4, "tts": 0.1, "playout": 0.0}


def test_items_by_kind_with_their_times_and_latency():
    answer = Turn("call_1", 2, 0, 3.5, Role.ASSISTANT, "Shipped.", end_timestamp=4.0)
    answer.latency, answer.latency_parts = 0.8, PARTS
    facts = [
        Turn("call_1", 1, 0, 1.0, Role.USER, "x" * 300, end_timestamp=2.7),
        answer,
        ToolCall("call_1", 3, 0, 3.0, "lookup", {}, result="ok", result_timestamp=3.2),
        LogEvent("call_1", 4, 0, 3.6, "done", message="all good", level="info"),
        LogMetric("call_1", 5, 0, 3.7, "words", {"n": 2}),
    ]
    lines = [LogRecord("call_1", 9, 0, 1.5, "warning", "slow")]
    deliveries = [
        {
            "id": "whd_1",
            "created_at": START + timedelta(seconds=0.25),
            "event_type": "call_started",
            "status": "delivered",
            "last_status_code": 200,
        },
        {
            "id": "whd_0",
            "created_at": START - timedelta(seconds=1),
            "event_type": "x",
            "status": "pending",
            "last_status_code": None,
        },
    ]
    found = timeline.timeline(CALL, facts, lines, deliveries)
    assert found["duration"] == 90.0
    items = found["items"]
    assert set(items) == set(timeline.KINDS)
    question, said = items["turn"]
    assert question["label"] == "x" * 119 + "…" and "latency" not in question
    assert (question["t"], question["until"], question["role"]) == (1.0, 2.7, "user")
    assert (said["id"], said["latency"], said["parts"]) == (2, 0.8, PARTS)
    assert items["tool"] == [{"id": 3, "t": 3.0, "label": "lookup → ok", "until": 3.2}]
    assert items["event"] == [{"id": 4, "t": 3.6, "label": "done: all good", "level": "info"}]
    assert items["metric"] == [{"id": 5, "t": 3.7, "label": 'words = {"n": 2}'}]
    assert items["log"] == [{"id": 9, "t": 1.5, "label": "slow", "level": "warning"}]
    assert items["webhook"] == [
        {"id": "whd_1", "t": 0.25, "label": "call_started: delivered (HTTP 200)"},
        {"id": "whd_0", "t": 0.0, "label": "x: pending"},  # queued before the clock began
    ]


def test_a_call_in_progress_lasts_until_now():
    live = {"id": "call_2", "start_time": datetime.now(UTC) - timedelta(seconds=30)}
    assert 30 <= timeline.duration(live) < 40


def test_the_deliveries_digest_changes_with_what_their_markers_show():
    sent = {"id": "whd_1", "event_type": "call_turn", "status": "pending"}
    digest = timeline.deliveries_digest([sent])
    later = START + timedelta(seconds=5)  # a time the marker does not show
    assert timeline.deliveries_digest([sent | {"created_at": later}]) == digest
    delivered = sent | {"status": "delivered", "last_status_code": 200}
    assert timeline.deliveries_digest([delivered]) != digest
    assert timeline.deliveries_digest([sent, sent | {"id": "whd_2"}]) != digest
    assert timeline.deliveries_digest([]) != digest
