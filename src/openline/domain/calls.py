"""What a call is made of: its status, why it ended, and the facts recorded on it.

Every fact carries ``seq`` (its place in the call, fixed at creation), ``rev`` (the
call-wide change counter at its last change, so a live tail can ask "what changed
since rev N") and ``timestamp`` in seconds from call start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CallStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


class EndReason(StrEnum):
    AGENT_HANGUP = "agent_hangup"
    CLIENT_HANGUP = "client_hangup"
    API_CANCELLED = "api_cancelled"
    MAX_DURATION = "max_duration"
    INACTIVITY = "inactivity"
    CLIENT_DISCONNECTED = "client_disconnected"
    ERROR = "error"

    @property
    def status(self) -> CallStatus:
        return CallStatus.FAILED if self is EndReason.ERROR else CallStatus.COMPLETED


class TurnEndReason(StrEnum):
    TTS_COMPLETED = "tts_completed"
    INTERRUPTED = "interrupted"
    CALL_ENDED = "call_ended"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass
class Fact:
    call_id: str
    seq: int
    rev: int
    timestamp: float


@dataclass
class Turn(Fact):
    role: Role
    text: str = ""
    end_timestamp: float | None = None
    end_reason: TurnEndReason | None = None
    interruptible: bool | None = None
    text_chunks: list[dict[str, Any]] = field(default_factory=list)
    tts_ttfb: float | None = None
    stt_ttfb: float | None = None
    vad_buffer_ms: float | None = None
    generated_text: str | None = None  # all the agent sent, when the caller got less
    latency: float | None = None  # an answer's wait, caller → agent (domain.latency)
    latency_parts: dict[str, float | None] | None = None  # what it was made of


@dataclass
class ToolCall(Fact):
    name: str
    arguments: Any
    tool_call_id: str | None = None
    turn_seq: int | None = None
    result: str | None = None
    result_timestamp: float | None = None


@dataclass
class LogEvent(Fact):
    event: str
    metadata: Any = None
    level: str | None = None
    message: str | None = None


@dataclass
class LogMetric(Fact):
    name: str
    value: Any = None


@dataclass
class Signal(Fact):
    """A protocol fact that is neither a turn nor a log: dtmf, custom, config,
    transfer, end_call, error, validation_error, and messages openline did not expect."""

    type: str
    data: Any = None


@dataclass
class LogRecord(Fact):
    """A logging line from the agent's own code, attributed to this call."""

    level: str
    message: str
    logger: str | None = None
    exc_text: str | None = None


class FactKind(StrEnum):
    """The names of the fact kinds, as the API and the live tail say them."""

    TURN = "turn"
    TOOL_CALL = "tool_call"
    LOG_EVENT = "log_event"
    LOG_METRIC = "log_metric"
    SIGNAL = "signal"
    LOG = "log"


FACT_KINDS: dict[type[Fact], FactKind] = {
    Turn: FactKind.TURN,
    ToolCall: FactKind.TOOL_CALL,
    LogEvent: FactKind.LOG_EVENT,
    LogMetric: FactKind.LOG_METRIC,
    Signal: FactKind.SIGNAL,
    LogRecord: FactKind.LOG,
}
FACT_TYPES: dict[FactKind, type[Fact]] = {kind: fact for fact, kind in FACT_KINDS.items()}
TRANSCRIPT_KINDS: tuple[type[Fact], ...] = (Turn, ToolCall, LogEvent, LogMetric)
"""The facts a call's transcript shows; signals and log lines are read apart."""
