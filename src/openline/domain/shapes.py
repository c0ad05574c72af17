"""The public JSON shapes of calls, transcripts and facts.

A transcript is the user and assistant turns, each with its tool calls, and between
them ``system`` entries for log events, metrics and tool calls made outside any turn,
all ordered by time (:func:`transcript_order`). :func:`fact_json` is one fact's public
JSON, which the REST transcript, the live tail, webhooks, exports and the console share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from openline.domain.calls import (
    FACT_KINDS,
    Fact,
    LogEvent,
    LogMetric,
    LogRecord,
    Signal,
    ToolCall,
    Turn,
)
from openline.domain.conversation import conversation_stats
from openline.domain.time import rfc3339

TURN_TIMINGS = (
    "tts_ttfb",
    "stt_ttfb",
    "vad_buffer_ms",
    "latency",
    "latency_parts",
    "generated_text",
)


def call_json(call: dict, facts: list[Fact] | None = None) -> dict[str, Any]:
    """A call as the API and webhooks show it; ``facts`` given means with transcript."""
    shaped = {
        "id": call["id"],
        "agent_id": call["agent_id"],
        "agent_name": call["agent_name"],
        "deployment_id": call.get("deployment_id"),
        "status": call["status"],
        "start_time": rfc3339(call["start_time"]),
        "end_time": rfc3339(call.get("end_time")),
        "end_reason": call.get("end_reason"),
        "agent_end_reason": call.get("agent_end_reason"),
        "telephony_params": call.get("telephony_params") or {},
        "error_message": call.get("error_message"),
        "metadata": call.get("metadata") or {},
        "summary": call.get("summary"),
        "redacted_at": rfc3339(call.get("redacted_at")),
        "trace_id": call.get("trace_id"),  # OpenTelemetry, when traces are exported
    }
    if facts is not None:
        shaped["transcript"] = transcript(facts)
        # openline's: talk time, interruptions, overlaps, silence (domain.conversation)
        shaped["conversation"] = conversation_stats(f for f in facts if type(f) is Turn)
    return shaped


# What a transcript shows of a call's facts: turns, and the system entries between them.
TranscriptFact = Turn | ToolCall | LogEvent | LogMetric


def transcript_order(facts: Iterable[Fact]) -> list[tuple[TranscriptFact, list[ToolCall]]]:
    """A transcript's entries in order: each turn with its tool calls, and each log event,
    metric and tool call made outside any turn, by time, then creation (``seq``). Other
    facts, and tool calls whose turn is not among ``facts``, are left out."""
    facts = list(facts)
    tools_by_turn: dict[int, list[ToolCall]] = {}
    for fact in facts:
        if type(fact) is ToolCall and fact.turn_seq is not None:
            tools_by_turn.setdefault(fact.turn_seq, []).append(fact)
    entries: list[tuple[float, int, TranscriptFact, list[ToolCall]]] = []
    for fact in facts:
        if type(fact) is Turn:
            entries.append((fact.timestamp, fact.seq, fact, tools_by_turn.get(fact.seq, [])))
        elif (
            type(fact) is LogEvent
            or type(fact) is LogMetric
            or (type(fact) is ToolCall and fact.turn_seq is None)
        ):
            entries.append((fact.timestamp, fact.seq, fact, []))
    entries.sort(key=lambda entry: (entry[0], entry[1]))  # seq is unique: never compares facts
    return [(fact, tools) for _, _, fact, tools in entries]


def transcript(facts: list[Fact]) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    for fact, tools in transcript_order(facts):
        if type(fact) is Turn:
            shown.append(turn_json(fact, tools))
        else:
            key, fields = _SYSTEM_ENTRIES[type(fact)]
            shaped = fact_json(fact)
            shown.append(
                {
                    "role": "system",
                    "text": "",
                    "start_timestamp": fact.timestamp,
                    "end_timestamp": fact.timestamp,
                    key: {name: shaped[name] for name in fields},
                }
            )
    return shown


# What a transcript's system entry holds of each fact (the Cartesia shape: an event's level
# and message, a tool's turn and result time are only in the fact's own JSON).
_SYSTEM_ENTRIES: dict[type[Fact], tuple[str, tuple[str, ...]]] = {
    LogEvent: ("log_event", ("event", "metadata", "timestamp")),
    LogMetric: ("log_metric", ("name", "value", "timestamp")),
    ToolCall: ("tool_call", ("id", "name", "arguments", "result", "timestamp")),
}


def turn_json(turn: Turn, tool_calls: Sequence[ToolCall] = ()) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "role": turn.role.value,
        "text": turn.text,
        "start_timestamp": turn.timestamp,
        "end_timestamp": turn.end_timestamp,
    }
    if turn.text_chunks:
        shaped["text_chunks"] = turn.text_chunks
    if turn.end_reason is not None:
        shaped["end_reason"] = turn.end_reason.value
    if tool_calls:
        shaped["tool_calls"] = [tool_call_json(call) for call in tool_calls]
    for optional in TURN_TIMINGS:
        if getattr(turn, optional) is not None:
            shaped[optional] = getattr(turn, optional)
    return shaped


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        # Line agents send no id; clients expect a string, so name it after its place.
        "id": call.tool_call_id or f"tool_call_{call.seq}",
        "name": call.name,
        "arguments": call.arguments,
        "result": call.result,
    }


def fact_json(fact: Fact) -> dict[str, Any]:
    """One fact as the API shows it, whatever its kind: a turn as a transcript shows it
    (its tool calls are facts of their own, naming it in ``turn_seq``); a tool call, log
    event or metric as the object a transcript's system entry holds, with what the entry
    around it would say (when a tool returned, an event's level and message); a log line
    as ``GET /agents/calls/{id}/logs`` shows it. Field names are the API's, never the
    columns': the live tail sends this with ``kind``, ``seq`` and ``rev``."""
    return _SHAPES[type(fact)](fact)


def tail_json(fact: Fact) -> dict[str, Any]:
    """A fact as the live tail sends it: what it is (``kind``, ``seq``: a later copy
    replaces an earlier one), its change counter (``rev``), then :func:`fact_json`."""
    return {"kind": FACT_KINDS[type(fact)].value, "seq": fact.seq, "rev": fact.rev} | fact_json(
        fact
    )


def _tool_call_fact(call: ToolCall) -> dict[str, Any]:
    return tool_call_json(call) | {
        "timestamp": call.timestamp,
        "result_timestamp": call.result_timestamp,
        "turn_seq": call.turn_seq,
    }


def _log_event_fact(event: LogEvent) -> dict[str, Any]:
    return {
        "event": event.event,
        "metadata": event.metadata,
        "timestamp": event.timestamp,
        "level": event.level,
        "message": event.message,
    }


def _log_metric_fact(metric: LogMetric) -> dict[str, Any]:
    return {"name": metric.name, "value": metric.value, "timestamp": metric.timestamp}


def _signal_fact(signal: Signal) -> dict[str, Any]:
    return {"type": signal.type, "data": signal.data, "timestamp": signal.timestamp}


def log_record_json(record: LogRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "timestamp": record.timestamp,
        "level": record.level,
        "logger": record.logger,
        "message": record.message,
        "exc_text": record.exc_text,
    }


_SHAPES: dict[type[Fact], Any] = {
    Turn: turn_json,
    ToolCall: _tool_call_fact,
    LogEvent: _log_event_fact,
    LogMetric: _log_metric_fact,
    Signal: _signal_fact,
    LogRecord: log_record_json,
}
