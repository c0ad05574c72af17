"""One trace per call, drawn from the call's record.

The root span ``call`` starts with the call (so its trace id can be stored on the call
row and shown beside it) and ends with it. Everything under it is made when the call
is over, from the facts the ledger recorded, with their times on the call's clock: a span
per turn; under a caller's turn its speech recognition (``stt``: from the end of speech
to the transcript); under an agent's turn the agent's response (``invoke_agent``: from
when openline had the caller's words to the agent's first text, and in text calls to its
last), its speech (``tts``: text to first audio) and each tool call (``execute_tool``).
Log events, metrics and signals become span events on the turn they happened in.
Names follow the OpenTelemetry GenAI semantic conventions where they apply
(``gen_ai.operation.name``, ``gen_ai.agent.*``, ``gen_ai.tool.*``,
``gen_ai.conversation.id``); openline's own are under ``openline.`` (docs/telemetry.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)

from openline.domain.calls import Fact, LogEvent, LogMetric, Role, Signal, ToolCall, Turn
from openline.domain.tally import tool_failed

_ATTRIBUTE_CHARS = 4_096  # a tool's arguments or result, an event's metadata, in a span


@dataclass(frozen=True)
class TraceIds:
    """Where a call's trace is: its id and its root span's, as lowercase hex."""

    trace_id: str
    span_id: str

    def parent(self) -> Context:
        """A context whose spans are children of the call's root span."""
        remote = SpanContext(
            int(self.trace_id, 16),
            int(self.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(NonRecordingSpan(remote))


class CallSpan:
    """The root span of one call in progress."""

    def __init__(self, tracer: Tracer, call: Mapping[str, Any]) -> None:
        self._tracer = tracer
        self._start_ns = _ns(call["start_time"])
        self._root = tracer.start_span(
            "call",
            kind=SpanKind.SERVER,
            start_time=self._start_ns,
            attributes=_without_none(
                {
                    "openline.call.id": call["id"],
                    "gen_ai.conversation.id": call["id"],
                    "gen_ai.agent.id": call["agent_id"],
                    "gen_ai.agent.name": call.get("agent_name"),
                    "openline.deployment.id": call.get("deployment_id"),
                    "openline.call.connection_type": (call.get("telephony_params") or {}).get(
                        "connection_type"
                    ),
                }
            ),
        )
        context = self._root.get_span_context()
        self.ids = TraceIds(f"{context.trace_id:032x}", f"{context.span_id:016x}")

    @property
    def sampled(self) -> bool:
        """Whether the sampler (``OTEL_TRACES_SAMPLER``) keeps this call's trace."""
        return self._root.is_recording()

    def at(self, seconds: float) -> int:
        """A time on the call's clock, in epoch nanoseconds."""
        return self._start_ns + round(seconds * 1e9)

    def finish(self, ended: Mapping[str, Any], facts: Iterable[Fact]) -> Callable[[Fact], Span]:
        """Draw the call's facts under the root and end it; returns what tells the span a
        fact of the call belongs to (for its log lines)."""
        facts = list(facts)
        root = self._root
        under_root = trace.set_span_in_context(root)
        turns = sorted((f for f in facts if type(f) is Turn), key=lambda turn: turn.seq)
        spans: dict[int, Span] = {}
        bounds: list[_Bounds] = []
        trigger: float | None = 0.0  # the greeting answers the call's start
        for turn in turns:
            span = self._turn(turn, under_root)
            spans[turn.seq] = span
            end = turn.timestamp if turn.end_timestamp is None else turn.end_timestamp
            bounds.append(_Bounds(turn.seq, turn.timestamp, end, span))
            if turn.role is Role.USER:
                self._stt(turn, span)
                trigger = end + (turn.stt_ttfb or 0.0)
            else:
                self._response(turn, span, trigger)
                trigger = None
        for tool in (f for f in facts if type(f) is ToolCall):
            self._tool(tool, spans.get(tool.turn_seq or -1, root))
        for fact in facts:
            if isinstance(fact, LogEvent | LogMetric | Signal):
                _event(_span_of(bounds, fact, root), fact, self.at(fact.timestamp))
        for turn_bounds in bounds:
            turn_bounds.span.end(self.at(turn_bounds.end))
        root.set_attributes(_call_outcome(ended, len(turns)))
        if ended.get("status") == "failed":
            root.set_status(Status(StatusCode.ERROR, ended.get("error_message") or "failed"))
        root.end(_ns(ended["end_time"]))
        return lambda fact: _span_of(bounds, fact, root)

    def _turn(self, turn: Turn, parent: Context) -> Span:
        attributes = {
            "openline.turn.seq": turn.seq,
            "openline.turn.role": turn.role.value,
            "openline.turn.text_length": len(turn.text),
            "openline.turn.interrupted": turn.end_reason == "interrupted",
            "openline.turn.end_reason": None if turn.end_reason is None else turn.end_reason.value,
            "openline.turn.stt_ttfb_s": turn.stt_ttfb,
            "openline.turn.vad_buffer_ms": turn.vad_buffer_ms,
            "openline.turn.tts_ttfb_s": turn.tts_ttfb,
        }
        return self._tracer.start_span(
            f"turn {turn.role.value}",
            context=parent,
            start_time=self.at(turn.timestamp),
            attributes=_without_none(attributes),
        )

    def _stt(self, turn: Turn, span: Span) -> None:
        if turn.stt_ttfb is None or turn.end_timestamp is None:
            return
        attributes = {"openline.stt.ttfb_s": turn.stt_ttfb}
        if turn.vad_buffer_ms is not None:
            attributes["openline.stt.vad_buffer_ms"] = turn.vad_buffer_ms
        self._child(span, "stt", turn.end_timestamp, turn.end_timestamp + turn.stt_ttfb, attributes)

    def _response(self, turn: Turn, span: Span, trigger: float | None) -> None:
        """The agent's part: from its trigger to its first text (the turn's first audio
        less the TTS time in a voice call), and TTS from that text to its first audio."""
        tts = turn.tts_ttfb or 0.0
        first_text = turn.timestamp - tts
        if trigger is not None and first_text >= trigger:
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": "invoke_agent",
                "openline.response.time_to_first_text_s": round(first_text - trigger, 3),
            }
            end = first_text
            if turn.tts_ttfb is None and turn.text_chunks:  # text: chunks are timed as sent
                end = max(first_text, turn.text_chunks[-1]["start_timestamp"])
                attributes["openline.response.time_to_last_text_s"] = round(end - trigger, 3)
            self._child(span, "invoke_agent", trigger, end, attributes)
        if turn.tts_ttfb is not None:
            self._child(span, "tts", first_text, turn.timestamp, {"openline.tts.ttfb_s": tts})

    def _tool(self, tool: ToolCall, parent: Span) -> None:
        end = tool.timestamp if tool.result_timestamp is None else tool.result_timestamp
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.call.id": tool.tool_call_id,
            "gen_ai.tool.call.arguments": _text(tool.arguments),
            "gen_ai.tool.call.result": None if tool.result is None else _text(tool.result),
        }
        span = self._child(parent, f"execute_tool {tool.name}", tool.timestamp, end, attributes)
        if tool_failed(tool):
            reason = "no result" if tool.result is None else tool.result[:200]
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, reason))

    def _child(
        self, parent: Span, name: str, start: float, end: float, attributes: dict[str, Any]
    ) -> Span:
        span = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            start_time=self.at(start),
            attributes=_without_none(attributes),
        )
        span.end(self.at(max(start, end)))
        return span


def delivery_span(
    tracer: Tracer,
    ids: TraceIds,
    event: str,
    url: str,
    started_ns: int,
    ended_ns: int,
    status_code: int | None,
    error: str | None,
    attempt: int,
) -> None:
    """A webhook delivery attempt, in the trace of the call it announces."""
    span = tracer.start_span(
        f"webhook {event}",
        context=ids.parent(),
        kind=SpanKind.CLIENT,
        start_time=started_ns,
        attributes=_without_none(
            {
                "openline.webhook.event": event,
                "openline.webhook.attempt": attempt,
                "url.full": url,
                "http.request.method": "POST",
                "http.response.status_code": status_code,
            }
        ),
    )
    if error is not None:
        span.set_attribute("error.type", str(status_code) if status_code else "connection")
        span.set_status(Status(StatusCode.ERROR, error[:200]))
    span.end(ended_ns)


@dataclass(frozen=True)
class _Bounds:
    seq: int
    start: float
    end: float
    span: Span


def _span_of(bounds: list[_Bounds], fact: Fact, root: Span) -> Span:
    """The turn a fact happened in: the latest one recorded before it (by ``seq``: facts
    of one millisecond are told apart by their order) whose time spans the fact's; else
    the root."""
    for turn in reversed(bounds):
        if turn.seq < fact.seq and turn.start <= fact.timestamp <= turn.end:
            return turn.span
    return root


def _event(span: Span, fact: Fact, at_ns: int) -> None:
    if isinstance(fact, LogEvent):
        name = fact.event
        attributes = {
            "openline.event.level": fact.level,
            "openline.event.message": fact.message,
            "openline.event.metadata": None if fact.metadata is None else _text(fact.metadata),
        }
    elif isinstance(fact, LogMetric):
        name = f"metric {fact.name}"
        value = fact.value
        number = isinstance(value, int | float) and not isinstance(value, bool)
        attributes = {"openline.metric.name": fact.name}
        attributes["openline.metric.value"] = value if number else _text(value)
    else:
        assert isinstance(fact, Signal)
        name = f"signal {fact.type}"
        attributes = {"openline.signal.data": None if fact.data is None else _text(fact.data)}
    span.add_event(name, _without_none(attributes), at_ns)


def _call_outcome(ended: Mapping[str, Any], turns: int) -> dict[str, Any]:
    duration = (ended["end_time"] - ended["start_time"]).total_seconds()
    return _without_none(
        {
            "openline.call.status": ended.get("status"),
            "openline.call.end_reason": ended.get("end_reason"),
            "openline.call.agent_end_reason": ended.get("agent_end_reason"),
            "openline.call.duration_s": round(duration, 3),
            "openline.call.turns": turns,
        }
    )


def _ns(moment: datetime) -> int:
    return round(moment.timestamp() * 1e9)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text[:_ATTRIBUTE_CHARS]


def _without_none(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}
