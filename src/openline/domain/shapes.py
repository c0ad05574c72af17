"""The public JSON shapes of calls and transcripts (reference §3).

A transcript is the user and assistant turns, each with its tool calls, and between
them ``system`` entries for log events and metrics, all ordered by time.
"""

from __future__ import annotations

from typing import Any

from openline.domain.calls import Fact, LogEvent, LogMetric, ToolCall, Turn
from openline.domain.time import rfc3339


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
    }
    if facts is not None:
        shaped["transcript"] = transcript(facts)
    return shaped


def transcript(facts: list[Fact]) -> list[dict[str, Any]]:
    tools_by_turn: dict[int, list[ToolCall]] = {}
    for fact in facts:
        if isinstance(fact, ToolCall) and fact.turn_seq is not None:
            tools_by_turn.setdefault(fact.turn_seq, []).append(fact)
    entries: list[tuple[float, int, dict]] = []
    for fact in facts:
        if isinstance(fact, Turn):
            entry = turn_json(fact, tools_by_turn.get(fact.seq, []))
        elif isinstance(fact, LogEvent):
            entry = _system_entry(fact, "log_event", event=fact.event, metadata=fact.metadata)
        elif isinstance(fact, LogMetric):
            entry = _system_entry(fact, "log_metric", name=fact.name, value=fact.value)
        elif isinstance(fact, ToolCall) and fact.turn_seq is None:
            entry = _system_entry(fact, "tool_call", **tool_call_json(fact))
        else:
            continue
        entries.append((fact.timestamp, fact.seq, entry))
    entries.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in entries]


def turn_json(turn: Turn, tool_calls: list[ToolCall] = ()) -> dict[str, Any]:
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
    for optional in ("tts_ttfb", "stt_ttfb", "vad_buffer_ms", "generated_text"):
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


def _system_entry(fact: Fact, key: str, **payload: Any) -> dict[str, Any]:
    return {
        "role": "system",
        "text": "",
        "start_timestamp": fact.timestamp,
        "end_timestamp": fact.timestamp,
        key: payload | {"timestamp": fact.timestamp},
    }
