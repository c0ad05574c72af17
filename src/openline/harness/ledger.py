"""Turns a call's protocol traffic into facts, each stamped with seconds from call start.

The ledger is the only place that knows how turns open and close: a user turn is a
whole utterance; an assistant turn collects the agent's messages (each one a text
chunk) and the tool calls made while answering one trigger, and closes when the agent
says its response is over, when it answers another trigger (``responding_to``), when
the user speaks again, or when the call ends. A turn ends when its output did — its
last chunk in a text call, its last audio played in a voice call — not when whatever
closed it happened. What the caller was given is ``text``; when the agent generated more
(the caller cut it off), all of it is kept as ``generated_text``. An assistant turn that
answers the caller's last line carries its ``latency``, from that line to what the
caller first heard of the answer (domain.latency). A tool result is
paired with its call by id; without one (Line SDKs send none, and repeat the arguments
on the result), by name and arguments; failing that, by name, oldest first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from openline.domain.calls import (
    Fact,
    LogEvent,
    LogMetric,
    LogRecord,
    Role,
    Signal,
    ToolCall,
    Turn,
    TurnEndReason,
)
from openline.domain.latency import CallerLine, answer_latency
from openline.domain.payloads import cap_json, cap_text


class FactSink(Protocol):
    def add(self, fact: Fact) -> None: ...
    def change(self, fact: Fact) -> None: ...


TurnClosed = Callable[[Turn, list[ToolCall]], None]


class CallLedger:
    def __init__(
        self,
        call_id: str,
        sink: FactSink,
        payload_cap: int,
        clock: Callable[[], float] = time.monotonic,
        on_turn_closed: TurnClosed | None = None,
    ) -> None:
        self.call_id = call_id
        self.facts: list[Fact] = []  # everything recorded, for the end-of-call event
        self._sink = sink
        self._on_turn_closed = on_turn_closed
        self._assistant_tools: list[ToolCall] = []
        self._responding_to: str | None = None  # the event the open assistant turn answers
        self._cap = payload_cap
        self._clock = clock
        self._started = clock()
        self._started_wall = time.time()
        self._rev = 0
        self._assistant: Turn | None = None
        self._last_assistant: Turn | None = None  # for the agent's last words after the end
        self._over = False  # the call has ended; the agent may still be sending
        self._generated: list[str] = []  # every chunk of the open turn, whole, as sent
        self._pending_tools: list[ToolCall] = []
        self._caller_line: CallerLine | None = None  # the last line no turn answers yet
        self._answer = _Answer(None)  # when the open assistant turn's parts happened

    @property
    def started_at(self) -> datetime:
        """Wall-clock start of the call: call time 0."""
        return datetime.fromtimestamp(self._started_wall, UTC)

    def now(self) -> float:
        return round(self._clock() - self._started, 3)

    def next_rev(self) -> int:
        self._rev += 1
        return self._rev

    # -- turns ---------------------------------------------------------------

    def user_turn(
        self,
        text: str,
        start: float | None = None,
        end: float | None = None,
        stt_ttfb: float | None = None,
        vad_buffer_ms: float | None = None,
        decided: float | None = None,
    ) -> Turn:
        """A whole user utterance; a spoken one carries its place on the audio timeline
        and when the turn detector called it over (``decided``)."""
        # Text is delivered whole the moment it arrives, so a new user turn never cuts a
        # sent message short; whether the agent meant to say more cannot be told apart
        # from a reply racing its own response_end. Voice calls mark real barge-ins.
        self.close_assistant_turn(TurnEndReason.TTS_COMPLETED)
        at = self.now()
        turn = Turn(
            self.call_id,
            0,
            0,
            at if start is None else start,
            Role.USER,
            cap_text(text, self._cap),
            end_timestamp=at if end is None else end,
            stt_ttfb=stt_ttfb,
            vad_buffer_ms=vad_buffer_ms,
        )
        self._add(turn)
        self._closed(turn, [])
        self._caller_line = CallerLine(_end_of(turn), decided, at)
        return turn

    def agent_message(
        self,
        text: str,
        interruptible: bool = True,
        responding_to: str | None = None,
        at: float | None = None,
        sent_at: float | None = None,
    ) -> Turn:
        """One chunk of the agent's answer. In a voice call, ``at`` is when it began
        playing and ``sent_at`` when the agent sent it; in a text call both are now."""
        voice = at is not None
        at = self.now() if at is None else at
        if self._answers_another_trigger(responding_to):
            self.close_assistant_turn(TurnEndReason.TTS_COMPLETED)
        turn = self._open_assistant_turn(at, interruptible)
        if self._answer.text_at is None:
            self._answer.text_at = at if sent_at is None else sent_at
            if not voice:  # a voice call hears it when its voice plays (assistant_voiced)
                self._answer.heard_at = at
        if self._responding_to is None:
            self._responding_to = responding_to
        turn.text = cap_text(turn.text + text, self._cap)
        turn.text_chunks.append({"text": cap_text(text, self._cap), "start_timestamp": at})
        turn.end_timestamp = at
        self._generated.append(text)
        self._change(turn)
        return turn

    def assistant_heard_until(self, at: float) -> None:
        """The open turn's audio played until ``at`` (voice calls): where it ends unless
        more of it is heard. Written when the turn closes."""
        turn = self._assistant
        if turn is not None:
            turn.end_timestamp = max(_end_of(turn), at)

    def response_end(self, responding_to: str | None = None) -> None:
        """The agent finished answering one event; a late one for an answer the user
        already cut off (another ``responding_to``) changes nothing."""
        if responding_to and self._responding_to and responding_to != self._responding_to:
            return
        self.close_assistant_turn(TurnEndReason.TTS_COMPLETED, self.now())

    def close_assistant_turn(self, reason: TurnEndReason, at: float | None = None) -> None:
        """Close the open turn; it ends at ``at`` if given, else where its output ended."""
        turn, self._assistant = self._assistant, None
        if turn is not None:
            turn.end_reason = reason
            end = _end_of(turn)
            turn.end_timestamp = end if at is None else max(end, at)
            generated = cap_text("".join(self._generated), self._cap)
            turn.generated_text = None if generated == turn.text else generated
            self._time_answer(turn)
            self._change(turn)
            self._closed(turn, self._assistant_tools)
            self._last_assistant = turn

    def call_over(self) -> None:
        """The call has ended. Tool calls the agent still reports (the one that hung up)
        belong to its last turn, not to a new one."""
        self._over = True

    def interrupt_assistant_turn(
        self,
        at: float,
        heard_of_last_chunk: str | None = None,
        reason: TurnEndReason = TurnEndReason.INTERRUPTED,
        unspoken: Sequence[str] = (),
    ) -> None:
        """The agent was cut off at ``at`` (by the caller, or the call's end). The turn's
        text keeps what the caller got: of its last chunk, if that was playing, only
        ``heard_of_last_chunk``. What never played (``unspoken``, for the same trigger)
        joins its generated text. Cut off before a word of it played, it is still a
        turn: the caller heard nothing, the agent had answered."""
        turn = self._assistant
        if turn is None:
            if not unspoken:
                return
            turn = self._open_assistant_turn(at)
        if heard_of_last_chunk is not None and turn.text_chunks:
            if heard_of_last_chunk:
                turn.text_chunks[-1]["text"] = heard_of_last_chunk
            else:
                turn.text_chunks.pop()
            turn.text = cap_text("".join(chunk["text"] for chunk in turn.text_chunks), self._cap)
        self._generated.extend(unspoken)
        turn.end_timestamp = at
        self.close_assistant_turn(reason, at)

    @property
    def assistant_responding_to(self) -> str | None:
        """The trigger the open assistant turn answers, if known."""
        return self._responding_to if self._assistant is not None else None

    def assistant_first_audio(self, tts_ttfb: float) -> None:
        """Time from the agent's text to the first synthesized audio of the open turn."""
        turn = self._assistant
        if turn is not None and turn.tts_ttfb is None:
            turn.tts_ttfb = round(tts_ttfb, 3)
            self._change(turn)
            self.log_metric("system_text_to_speech_ttfb", turn.tts_ttfb)

    def assistant_voiced(self, at: float) -> None:
        """The open turn's first voiced audio played at ``at`` (voice calls)."""
        if self._assistant is not None and self._answer.heard_at is None:
            self._answer.heard_at = at

    @property
    def assistant_turn_open(self) -> bool:
        return self._assistant is not None

    def _time_answer(self, turn: Turn) -> None:
        answer = self._answer
        if answer.line is None or answer.text_at is None or answer.heard_at is None:
            return
        latency = answer_latency(answer.line, answer.text_at, answer.heard_at, turn.tts_ttfb)
        if latency is not None:
            turn.latency, turn.latency_parts = latency.total, latency.parts

    def _closed(self, turn: Turn, tools: list[ToolCall]) -> None:
        if self._on_turn_closed is not None:
            self._on_turn_closed(turn, tools)

    def _open_assistant_turn(self, at: float, interruptible: bool = True) -> Turn:
        if self._assistant is None:
            turn = Turn(self.call_id, 0, 0, at, Role.ASSISTANT, interruptible=interruptible)
            self._assistant = self._add(turn)
            self._assistant_tools = []
            self._responding_to = None
            self._generated = []
            self._answer, self._caller_line = _Answer(self._caller_line), None
        return self._assistant

    def _answers_another_trigger(self, responding_to: str | None) -> bool:
        """Is this output for another trigger than the open turn's (a late greeting
        followed by the answer to the caller's first line: two turns, not one)?"""
        current = self.assistant_responding_to
        return current is not None and responding_to is not None and responding_to != current

    # -- tools, events, metrics, everything else --------------------------------

    def tool_call(
        self, name: str, arguments: Any, result: Any = None, tool_call_id: str | None = None
    ) -> ToolCall:
        at = self.now()
        arguments = cap_json(arguments, self._cap)
        if result is not None:
            pending = self._take_pending(name, arguments, tool_call_id)
            if pending is not None:
                pending.result = cap_text(_as_text(result), self._cap)
                pending.result_timestamp = at
                self._change(pending)
                return pending
        turn = self._last_assistant if self._over else self._open_assistant_turn(at)
        call = ToolCall(
            self.call_id,
            0,
            0,
            at,
            name=cap_text(name, 200),
            arguments=arguments,
            tool_call_id=tool_call_id,
            turn_seq=None if turn is None else turn.seq,
            result=None if result is None else cap_text(_as_text(result), self._cap),
            result_timestamp=None if result is None else at,
        )
        self._add(call)
        if not self._over:
            self._assistant_tools.append(call)
        if result is None:
            self._pending_tools.append(call)
        return call

    def _take_pending(self, name: str, arguments: Any, tool_call_id: str | None) -> ToolCall | None:
        if tool_call_id:
            rules = [lambda call: call.tool_call_id == tool_call_id]
        else:
            rules = [
                lambda call: call.name == name and call.arguments == arguments,
                lambda call: call.name == name,
            ]
        for matches in rules:
            for index, call in enumerate(self._pending_tools):
                if matches(call):
                    return self._pending_tools.pop(index)
        return None

    def log_event(self, event: str, metadata: Any) -> LogEvent:
        level = message = None
        if isinstance(metadata, dict) and ("level" in metadata or "message" in metadata):
            # The SDK's nested form: {"level", "message", "metadata"}.
            level = _level(metadata.get("level"))
            message = metadata.get("message")
            message = None if message is None else cap_text(str(message), self._cap)
        fact = LogEvent(
            self.call_id,
            0,
            0,
            self.now(),
            event=cap_text(str(event), 200),
            metadata=cap_json(metadata, self._cap),
            level=level,
            message=message,
        )
        return self._add(fact)

    def log_metric(self, name: str, value: Any) -> LogMetric:
        fact = LogMetric(
            self.call_id,
            0,
            0,
            self.now(),
            name=cap_text(str(name), 200),
            value=cap_json(value, self._cap),
        )
        return self._add(fact)

    def signal(self, kind: str, data: Any = None) -> Signal:
        fact = Signal(
            self.call_id, 0, 0, self.now(), type=kind[:64], data=cap_json(data, self._cap)
        )
        return self._add(fact)

    def log_record(
        self,
        level: str,
        message: str,
        logger: str | None = None,
        exc_text: str | None = None,
        at: float | None = None,
    ) -> LogRecord:
        fact = LogRecord(
            self.call_id,
            0,
            0,
            self.now() if at is None else at,
            level=_level(level) or "info",
            message=cap_text(message, self._cap),
            logger=_short(logger, 200),
            exc_text=None if exc_text is None else cap_text(exc_text, self._cap),
        )
        return self._add(fact)

    def since_start(self, epoch_seconds: float) -> float:
        """Call-relative time of a wall-clock instant reported by the agent."""
        return round(max(0.0, epoch_seconds - self._started_wall), 3)

    # -- plumbing --------------------------------------------------------------

    def _add(self, fact: Fact):
        fact.seq = fact.rev = self.next_rev()
        self.facts.append(fact)
        self._sink.add(fact)
        return fact

    def _change(self, fact: Fact) -> None:
        fact.rev = self.next_rev()
        self._sink.change(fact)


@dataclass
class _Answer:
    """The open assistant turn's way to the caller (call times): the line it answers,
    when the agent's first text of it arrived, and when the caller first heard it."""

    line: CallerLine | None
    text_at: float | None = None
    heard_at: float | None = None


def _end_of(turn: Turn) -> float:
    """Where a turn's output has ended so far (0.0 is a time, not a missing one)."""
    return turn.timestamp if turn.end_timestamp is None else turn.end_timestamp


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=repr)


def _short(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _level(value: Any) -> str | None:
    return None if value is None else str(value)[:16].lower()
