"""A call's tally from its facts, tallies merged, and their public JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from openline.domain.calls import LogEvent, LogMetric, Role, ToolCall, Turn, TurnEndReason
from openline.domain.tally import Tally, response_latencies, tool_failed

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def turn(seq, role, at, end=None, **fields):
    return Turn("c", seq, seq, at, role, end_timestamp=end, **fields)


def test_response_latency_is_from_the_callers_end_of_turn_to_the_agents_first_output():
    turns = [
        turn(1, Role.ASSISTANT, 0.1, 1.0),  # the greeting answers nobody
        turn(2, Role.USER, 2.0, 3.0),
        turn(3, Role.ASSISTANT, 3.4, 5.0),
        turn(4, Role.USER, 6.0, 7.5),
        turn(5, Role.USER, 8.0, 9.0),  # the caller went on: the answer is to the last
        turn(6, Role.ASSISTANT, 9.25, 10.0),
        turn(7, Role.USER, 11.0, 12.0),
        turn(8, Role.ASSISTANT, 11.5, 12.5),  # began before the caller finished
    ]
    assert [round(x, 6) for x in response_latencies(turns)] == [0.4, 0.25]


def test_an_answers_recorded_latency_is_its_response_time_and_its_parts_are_tallied():
    parts = {"endpointing": 0.62, "stt": 0.3, "agent": 0.41, "tts": 0.12, "playout": 0.05}
    turns = [
        turn(1, Role.USER, 2.0, 3.0),
        # heard 1.5 s after the caller's last voice, though its audio began at 3.4
        turn(2, Role.ASSISTANT, 3.4, 5.0, latency=1.5, latency_parts=parts, tts_ttfb=0.12),
        turn(3, Role.USER, 6.0, 7.0),
        turn(4, Role.ASSISTANT, 7.3, 8.0),  # recorded before latencies were: from the times
    ]
    assert [round(x, 6) for x in response_latencies(turns)] == [1.5, 0.3]
    tally = Tally.of_call("completed", T0, T0 + timedelta(seconds=9), "agent_hangup", turns)
    shown = Tally.from_json(json.loads(json.dumps(tally.to_json()))).public()["latency_s"]
    assert {name: shown[name]["count"] for name in shown} == {
        "response": 2,
        "tts_ttfb": 1,
        "stt_ttfb": 0,
        "endpointing": 1,
        "agent": 1,
        "playout": 1,
    }
    assert shown["agent"]["p50"] == pytest.approx(0.41, rel=0.02)
    assert shown["endpointing"]["p50"] == pytest.approx(0.62, rel=0.02)


def test_a_tool_call_is_an_error_without_a_result_or_with_an_error_text():
    def call(result):
        return ToolCall("c", 1, 1, 0.0, "lookup", {}, result=result)

    assert [tool_failed(call(r)) for r in ("ok", None, "Error: timeout", " error 500")] == [
        False,
        True,
        True,
        True,
    ]


def test_a_calls_tally_and_the_public_shape_of_merged_tallies():
    facts = [
        turn(1, Role.USER, 1.0, 2.0, stt_ttfb=0.12),
        turn(2, Role.ASSISTANT, 2.5, 4.0, tts_ttfb=0.2, end_reason=TurnEndReason.INTERRUPTED),
        ToolCall("c", 3, 3, 2.6, "lookup", {"id": 1}, result="Error: no such order"),
        ToolCall("c", 4, 4, 2.7, "lookup", {"id": 2}, result="shipped"),
        LogMetric("c", 5, 5, 3.0, "score", 7),
        LogMetric("c", 6, 6, 3.1, "answer", "yes"),
        LogMetric("c", 7, 7, 3.2, "system_call_success", True),
        LogEvent("c", 8, 8, 3.3, "order_processed", level="info"),
        LogEvent("c", 9, 9, 3.4, "order_processed"),
    ]
    one = Tally.of_call("completed", T0, T0 + timedelta(seconds=30), "agent_hangup", facts)
    other = Tally.of_call("failed", T0, T0 + timedelta(seconds=10), "error", [])
    merged = Tally.merged([Tally.from_json(one.to_json()), Tally.from_json(other.to_json())])
    shown = merged.public()
    assert shown["calls"] == {
        "count": 2,
        "completed": 1,
        "failed": 1,
        "end_reasons": {"agent_hangup": 1, "error": 1},
    }
    assert shown["duration_s"]["sum"] == 40.0 and shown["duration_s"]["mean"] == 20.0
    assert shown["turns"] == {"count": 2, "interrupted": 1}
    assert shown["tool_calls"] == {"lookup": {"count": 2, "errors": 1}}
    assert shown["latency_s"]["response"]["count"] == 1
    assert abs(shown["latency_s"]["response"]["p50"] - 0.5) <= 0.005
    assert shown["latency_s"]["stt_ttfb"]["count"] == shown["latency_s"]["tts_ttfb"]["count"] == 1
    assert shown["metrics"]["score"] == {
        "count": 1, "mean": 7.0, "min": 7.0, "max": 7.0, "p50": 7.0, "p95": 7.0,
    }  # fmt: skip
    assert shown["metrics"]["answer"] == {"count": 1, "values": {"yes": 1}}
    assert shown["metrics"]["system_call_success"] == {"count": 1, "values": {"true": 1}}
    assert shown["events"] == {"order_processed": {"count": 2, "levels": {"info": 1, "unset": 1}}}
    # merging never changes the parts
    assert one.public()["calls"]["count"] == 1


def test_values_are_shown_top_20_with_the_rest_as_other():
    tallies = []
    for index in range(30):
        facts = [LogMetric("c", n, n, 0.0, "city", f"city-{index}") for n in range(index + 1)]
        tallies.append(Tally.of_call("completed", T0, T0, None, facts))
    shown = Tally.merged(tallies).public()["metrics"]["city"]
    assert shown["count"] == sum(range(1, 31))
    assert len(shown["values"]) == 21 and shown["values"]["city-29"] == 30
    assert shown["values"]["other"] == sum(range(1, 11))


RESULTS = [  # (metric name, status, passed) of one call's final results
    ("scored-high", "completed", True),
    ("confirmed", "completed", False),
    ("polite", "failed", None),
    ("mood", "completed", None),
]


def test_a_calls_final_results_count_per_metric_and_merge_into_pass_rates():
    one = Tally.of_call("completed", T0, T0, None, [], RESULTS)
    other = Tally.of_call("completed", T0, T0, None, [], [("scored-high", "completed", False)])
    third = Tally.of_call("failed", T0, T0, "error", [], [("scored-high", "completed", True)])
    stored = [Tally.from_json(t.to_json()) for t in (one, other, third)]
    assert Tally.merged(stored).public()["evaluations"] == {
        "confirmed": {"judged": 1, "passed": 0, "failed": 1, "errored": 0, "pass_rate": 0.0},
        "mood": {"judged": 1, "passed": 0, "failed": 0, "errored": 0, "pass_rate": None},
        "polite": {"judged": 1, "passed": 0, "failed": 0, "errored": 1, "pass_rate": None},
        "scored-high": {
            "judged": 3, "passed": 2, "failed": 1, "errored": 0, "pass_rate": pytest.approx(2 / 3),
        },
    }  # fmt: skip
    assert one.public()["evaluations"]["scored-high"]["judged"] == 1  # parts never change


def test_a_tally_stored_before_evaluations_were_counted_reads_as_none():
    stored = Tally.of_call("completed", T0, T0, None, []).to_json()
    assert "evals" not in stored  # nothing stored for a call without results
    old = {key: value for key, value in stored.items() if key != "evals"}
    assert Tally.from_json(json.dumps(old)).public()["evaluations"] == {}
    merged = Tally.merged(
        [Tally.from_json(old), Tally.of_call("completed", T0, T0, None, [], RESULTS[:1])]
    )
    assert merged.public()["evaluations"]["scored-high"]["pass_rate"] == 1.0


def test_the_evaluations_delta_moves_a_merge_from_the_old_tally_to_the_new():
    first = Tally.of_call("completed", T0, T0, None, [], RESULTS[:2])  # before the rest
    later = Tally.of_call("completed", T0, T0, None, [], RESULTS[1:])  # one result gone
    neighbour = Tally.of_call("completed", T0, T0, None, [], [("confirmed", "completed", True)])
    rollup = Tally.merged([first, neighbour])
    delta = later.evaluations_delta(first)
    assert delta.calls == 0 and delta.evaluations == {
        "scored-high": [-1, 0, 0, 0], "polite": [0, 0, 1, 0], "mood": [0, 0, 0, 1],
    }  # fmt: skip
    rollup.merge(Tally.from_json(delta.to_json()))
    assert rollup.to_json() == Tally.merged([later, neighbour]).to_json()
    assert "scored-high" not in rollup.evaluations  # counted nowhere any more
    assert later.evaluations_delta(later).evaluations == {}


def test_conversation_stats_are_tallied_merged_and_read_back():
    barge_in = [
        turn(1, Role.ASSISTANT, 1.0, 3.0, end_reason=TurnEndReason.INTERRUPTED),
        turn(2, Role.USER, 2.5, 4.0),
        turn(3, Role.ASSISTANT, 4.5, 6.0),
    ]
    calm = [turn(1, Role.ASSISTANT, 0.5, 1.5), turn(2, Role.USER, 4.5, 5.0)]
    end = T0 + timedelta(seconds=7)
    one, two = (Tally.of_call("completed", T0, end, None, t) for t in (barge_in, calm))
    merged = Tally.merged([Tally.from_json(json.dumps(one.to_json())), two])
    shown = merged.public()["conversation"]
    assert shown["interruptions"] == {"by_caller": 1, "by_agent": 0}
    assert shown["overlaps"] == 1
    assert shown["time_to_first_agent_audio_s"]["count"] == 2
    assert shown["time_to_first_agent_audio_s"]["mean"] == pytest.approx(0.75, rel=0.01)
    assert shown["longest_silence_s"]["p95"] == pytest.approx(3.0, rel=0.01)  # the calm one
    assert shown["agent_talk_s"]["mean"] == pytest.approx((3.5 + 1.0) / 2, rel=0.01)


def test_a_tally_stored_before_conversation_stats_reads_as_none():
    stored = Tally.of_call("completed", T0, T0, None, []).to_json()
    old = {key: value for key, value in stored.items() if key != "conv"}
    shown = Tally.from_json(json.dumps(old)).public()["conversation"]
    assert shown["overlaps"] == 0 and shown["caller_talk_s"]["count"] == 0
