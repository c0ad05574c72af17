"""One trace per call, drawn from the call's record.

The call's trace and root span ids are chosen when it starts (so the trace id can be
stored on the call row and shown beside it); every span, the root ``call`` included, is
made when the call is over, from the facts the ledger recorded, with their times on the
call's clock: a span
per turn; under a caller's turn its speech recognition (``stt``: from the end of speech
to the transcript); under an agent's turn the agent's response (``invoke_agent``: from
when openline had the caller's words to the agent's first text, and in text calls to its
last), its speech (``tts``: text to first audio) and each tool call (``execute_tool``).
Log events, metrics and signals become span events on the turn they happened in.
Names follow the OpenTelemetry GenAI semantic conventions where they apply
(``gen_ai.operation.name``, ``gen_ai.agent.*``, ``gen_ai.tool.*``,
``gen_ai.conversation.id``); openline's own are under ``openline.`` (docs/telemetry.md).

Spans are built as the SDK's ``ReadableSpan`` and handed to the batch processor: every
fact of them is known by then, and this costs a tenth of a live span's bookkeeping
(context, locks, attribute checks), which a call's end would pay for each of its spans.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from openline import __version__
from openline.domain.calls import Fact, LogEvent, LogMetric, Role, Signal, ToolCall, Turn
from openline.domain.tally import response_time, tool_failed

_ATTRIBUTE_CHARS = 4_096  # a tool's arguments or result, an event's metadata, in a span
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SCOPE = InstrumentationScope("openline", __version__)


@dataclass(frozen=True)
class TraceIds:
    """Where a call's trace is: its id and its root span's, as lowercase hex."""

    trace_id: str
    span_id: str

    def root(self) -> SpanContext:
        return SpanContext(int(self.trace_id, 16), int(self.span_id, 16), False, _SAMPLED)


@dataclass(frozen=True)
class SpanSink:
    """Where finished spans go (the batch processor), what they carry (the resource and
    openline's scope), and which calls are traced at all (the sampler)."""

    processor: SpanProcessor
    resource: Resource
    sampler: Sampler
    scope: InstrumentationScope = field(default_factory=lambda: _SCOPE)
    ids: RandomIdGenerator = field(default_factory=RandomIdGenerator)

    def context(self, trace_id: int) -> SpanContext:
        return SpanContext(trace_id, self.ids.generate_span_id(), False, _SAMPLED)

    def emit(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, Any],
        kind: SpanKind = SpanKind.INTERNAL,
        events: Iterable[Event] = (),
        status: Status | None = None,
    ) -> None:
        self.processor.on_end(
            ReadableSpan(
                name=name,
                context=context,
                parent=parent,
                resource=self.resource,
                attributes=_without_none(attributes),
                events=tuple(events),
                kind=kind,
                status=status or Status(StatusCode.UNSET),
                start_time=start_ns,
                end_time=max(start_ns, end_ns),
                instrumentation_scope=self.scope,
            )
        )


@dataclass
class _Draft:
    """A turn's span, held until the events that happened in it are known."""

    seq: int
    name: str
    context: SpanContext
    start: float
    end: float
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)


class CallSpan:
    """The trace of one call in progress: its ids, and what its root span will say."""

    def __init__(self, sink: SpanSink, call: Mapping[str, Any]) -> None:
        self._sink = sink
        self._start_ns = _ns(call["start_time"])
        self._attributes = {
            "openline.call.id": call["id"],
            "gen_ai.conversation.id": call["id"],
            "gen_ai.agent.id": call["agent_id"],
            "gen_ai.agent.name": call.get("agent_name"),
            "openline.deployment.id": call.get("deployment_id"),
            "openline.call.connection_type": (call.get("telephony_params") or {}).get(
                "connection_type"
            ),
        }
        trace_id = sink.ids.generate_trace_id()
        decision = sink.sampler.should_sample(
            None, trace_id, "call", SpanKind.SERVER, _without_none(self._attributes)
        )
        self.sampled = decision.decision.is_sampled()
        self._root = sink.context(trace_id)
        self.ids = TraceIds(f"{trace_id:032x}", f"{self._root.span_id:016x}")

    def at(self, seconds: float) -> int:
        """A time on the call's clock, in epoch nanoseconds."""
        return self._start_ns + round(seconds * 1e9)

    def finish(
        self, ended: Mapping[str, Any], facts: Iterable[Fact]
    ) -> Callable[[Fact], SpanContext]:
        """Draw the call's facts and its root span; returns what tells the span a fact of
        the call belongs to (for its log lines)."""
        facts = list(facts)
        root = self._root
        turns = sorted((f for f in facts if type(f) is Turn), key=lambda turn: turn.seq)
        drafts: list[_Draft] = []
        trigger: float | None = 0.0  # the greeting answers the call's start
        caller_done: float | None = None
        for turn in turns:
            draft = self._turn(turn)
            drafts.append(draft)
            if turn.role is Role.USER:
                self._stt(turn, draft.context)
                trigger = draft.end + (turn.stt_ttfb or 0.0)
                caller_done = draft.end
            else:
                latency = None if caller_done is None else response_time(turn, caller_done)
                if latency is not None:  # as analytics and /metrics count it
                    draft.attributes["openline.turn.response_latency_s"] = round(latency, 3)
                self._response(turn, draft.context, trigger)
                trigger = caller_done = None
        by_seq = {draft.seq: draft.context for draft in drafts}
        for tool in (f for f in facts if type(f) is ToolCall):
            self._tool(tool, by_seq.get(tool.turn_seq or -1, root))
        root_events: list[Event] = []
        for fact in facts:
            if isinstance(fact, LogEvent | LogMetric | Signal):
                draft_of = _draft_of(drafts, fact)
                event = _event(fact, self.at(fact.timestamp))
                (root_events if draft_of is None else draft_of.events).append(event)
        for draft in drafts:
            self._sink.emit(
                draft.name,
                draft.context,
                root,
                self.at(draft.start),
                self.at(draft.end),
                draft.attributes,
                events=draft.events,
            )
        failed = ended.get("status") == "failed"
        self._sink.emit(
            "call",
            root,
            None,
            self._start_ns,
            _ns(ended["end_time"]),
            self._attributes | _call_outcome(ended, len(turns)),
            SpanKind.SERVER,
            root_events,
            Status(StatusCode.ERROR, ended.get("error_message") or "failed") if failed else None,
        )

        def span_of(fact: Fact) -> SpanContext:
            draft = _draft_of(drafts, fact)
            return root if draft is None else draft.context

        return span_of

    def _turn(self, turn: Turn) -> _Draft:
        attributes = {
            "openline.turn.seq": turn.seq,
            "openline.turn.role": turn.role.value,
            "openline.turn.text_length": len(turn.text),
            "openline.turn.interrupted": turn.end_reason == "interrupted",
            "openline.turn.end_reason": None if turn.end_reason is None else turn.end_reason.value,
            "openline.turn.stt_ttfb_s": turn.stt_ttfb,
            "openline.turn.vad_buffer_ms": turn.vad_buffer_ms,
            "openline.turn.tts_ttfb_s": turn.tts_ttfb,
        } | {
            f"openline.turn.latency.{part}_s": seconds
            for part, seconds in (turn.latency_parts or {}).items()
        }
        end = turn.timestamp if turn.end_timestamp is None else turn.end_timestamp
        context = self._sink.context(self._root.trace_id)
        return _Draft(turn.seq, f"turn {turn.role.value}", context, turn.timestamp, end, attributes)

    def _stt(self, turn: Turn, parent: SpanContext) -> None:
        if turn.stt_ttfb is None or turn.end_timestamp is None:
            return
        attributes = {
            "openline.stt.ttfb_s": turn.stt_ttfb,
            "openline.stt.vad_buffer_ms": turn.vad_buffer_ms,
        }
        self._child(
            parent, "stt", turn.end_timestamp, turn.end_timestamp + turn.stt_ttfb, attributes
        )

    def _response(self, turn: Turn, parent: SpanContext, trigger: float | None) -> None:
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
            self._child(parent, "invoke_agent", trigger, end, attributes)
        if turn.tts_ttfb is not None:
            self._child(parent, "tts", first_text, turn.timestamp, {"openline.tts.ttfb_s": tts})

    def _tool(self, tool: ToolCall, parent: SpanContext) -> None:
        end = tool.timestamp if tool.result_timestamp is None else tool.result_timestamp
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.call.id": tool.tool_call_id,
            "gen_ai.tool.call.arguments": _text(tool.arguments),
            "gen_ai.tool.call.result": None if tool.result is None else _text(tool.result),
        }
        status = None
        if tool_failed(tool):
            attributes["error.type"] = "tool_error"
            reason = "no result" if tool.result is None else tool.result[:200]
            status = Status(StatusCode.ERROR, reason)
        self._child(parent, f"execute_tool {tool.name}", tool.timestamp, end, attributes, status)

    def _child(
        self,
        parent: SpanContext,
        name: str,
        start: float,
        end: float,
        attributes: dict[str, Any],
        status: Status | None = None,
    ) -> None:
        context = self._sink.context(self._root.trace_id)
        self._sink.emit(
            name, context, parent, self.at(start), self.at(end), attributes, status=status
        )


def delivery_span(
    sink: SpanSink,
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
    root = ids.root()
    attributes = {
        "openline.webhook.event": event,
        "openline.webhook.attempt": attempt,
        "url.full": url,
        "http.request.method": "POST",
        "http.response.status_code": status_code,
    }
    status = None
    if error is not None:
        attributes["error.type"] = str(status_code) if status_code else "connection"
        status = Status(StatusCode.ERROR, error[:200])
    sink.emit(
        f"webhook {event}",
        sink.context(root.trace_id),
        root,
        started_ns,
        ended_ns,
        attributes,
        SpanKind.CLIENT,
        status=status,
    )


def _draft_of(drafts: list[_Draft], fact: Fact) -> _Draft | None:
    """The turn a fact happened in: the latest one recorded before it (by ``seq``: facts
    of one millisecond are told apart by their order) whose time spans the fact's."""
    for draft in reversed(drafts):
        if draft.seq < fact.seq and draft.start <= fact.timestamp <= draft.end:
            return draft
    return None


def _event(fact: Fact, at_ns: int) -> Event:
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
    return Event(name, _without_none(attributes), at_ns)


def _call_outcome(ended: Mapping[str, Any], turns: int) -> dict[str, Any]:
    duration = (ended["end_time"] - ended["start_time"]).total_seconds()
    return {
        "openline.call.status": ended.get("status"),
        "openline.call.end_reason": ended.get("end_reason"),
        "openline.call.agent_end_reason": ended.get("agent_end_reason"),
        "openline.call.duration_s": round(duration, 3),
        "openline.call.turns": turns,
    }


def _ns(moment: datetime) -> int:
    return round(moment.timestamp() * 1e9)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text[:_ATTRIBUTE_CHARS]


def _without_none(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}
