"""The agent protocol (the Line agent protocol, plus ``log_record``): one class per message.

``parse`` is the one way in: a websocket frame becomes one of the ``Inbound`` messages, an
``Unknown`` one (a type this platform does not know: recorded, not refused), or
``BadFrame`` saying what is wrong with it. ``emit`` is the one way out: an ``Outbound``
message becomes the frame's JSON text. Unknown fields are ignored both ways in, as the
protocol asks; a field of the wrong kind is converted as far as it can be (a number where
a string goes), refused only where it cannot be (a ``message`` whose ``content`` is not
text).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from openline.protocol import bounded_json

# Tool arguments and event metadata nest deeper than callers' frames may, but a frame
# thousands of levels deep would break decoding (and every later encoding) of the call.
MAX_DEPTH = 256
DTMF_MAX_CHARS = 8

State = Literal["speaking", "idle"]


class BadFrame(ValueError):
    """A frame that is not a message of the protocol; ``str()`` says why, for the agent."""


class _Wire:
    """A message's fields as the frame carries them (its ``type`` aside)."""

    def wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _object_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# -- agent → openline ---------------------------------------------------------------------


@dataclass(frozen=True)
class Message(_Wire):
    """Text to say (one chunk of the agent's answer)."""

    type: ClassVar[str] = "message"
    content: str
    interruptible: bool = True
    responding_to: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        content = data["content"]
        if not isinstance(content, str):
            raise TypeError("'content' must be a string")
        return cls(
            content,
            bool(data.get("interruptible", True)),
            _text_or_none(data.get("responding_to")),
        )


@dataclass(frozen=True)
class ToolCall(_Wire):
    """A tool call started (``result`` None) or returned."""

    type: ClassVar[str] = "tool_call"
    name: str
    arguments: Any = None
    result: Any = None
    id: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ToolCall:
        return cls(
            str(data["name"]),
            data.get("arguments"),
            data.get("result"),
            _text_or_none(data.get("id")),
        )


@dataclass(frozen=True)
class LogEvent(_Wire):
    type: ClassVar[str] = "log_event"
    event: str
    metadata: Any = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LogEvent:
        return cls(str(data["event"]), data.get("metadata"))


@dataclass(frozen=True)
class LogMetric(_Wire):
    type: ClassVar[str] = "log_metric"
    name: str
    value: Any = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LogMetric:
        return cls(str(data["name"]), data.get("value"))


@dataclass(frozen=True)
class LogRecord(_Wire):
    """openline's extension: one log line of the agent's code (``timestamp``: Unix epoch)."""

    type: ClassVar[str] = "log_record"
    level: str = "info"
    message: str = ""
    logger: str | None = None
    exc_text: str | None = None
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LogRecord:
        stamp = data.get("timestamp")
        return cls(
            str(data.get("level", "info")),
            str(data.get("message", "")),
            _text_or_none(data.get("logger")),
            _text_or_none(data.get("exc_text")),
            None if stamp is None else float(stamp),
        )


@dataclass(frozen=True)
class ResponseEnd(_Wire):
    """The agent finished its output for ``responding_to`` (or, without it, for now)."""

    type: ClassVar[str] = "response_end"
    responding_to: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ResponseEnd:
        return cls(_text_or_none(data.get("responding_to")))


@dataclass(frozen=True)
class EndCall(_Wire):
    type: ClassVar[str] = "end_call"
    reason: str | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> EndCall:
        return cls(_text_or_none(data.get("reason")))


@dataclass(frozen=True)
class Error(_Wire):
    """The agent's code failed; ``content`` is usually a traceback."""

    type: ClassVar[str] = "error"
    content: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Error:
        return cls(str(data.get("content") or "the agent reported an error"))


@dataclass(frozen=True)
class Transfer(_Wire):
    type: ClassVar[str] = "transfer"
    transfer_destination: Any  # {"type": "phone" | "sip_uri", "value": …}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Transfer:
        # Older agents name only a phone number.
        old = {"type": "phone", "value": data.get("target_phone_number")}
        return cls(data.get("transfer_destination") or old)


@dataclass(frozen=True)
class Config(_Wire):
    """Voice and language for what follows; ``fields`` is the message as sent."""

    type: ClassVar[str] = "config"
    fields: dict[str, Any]
    tts: dict[str, Any] = field(default_factory=dict)
    stt: dict[str, Any] = field(default_factory=dict)
    language: Any = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Config:
        return cls(
            {k: v for k, v in data.items() if k != "type"},
            _object_or_empty(data.get("tts")),
            _object_or_empty(data.get("stt")),
            data.get("language"),
        )

    def wire(self) -> dict[str, Any]:
        return self.fields


# -- both ways -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dtmf(_Wire):
    """A keypad button: pressed by the agent, or by the caller (sent to the agent)."""

    type: ClassVar[str] = "dtmf"
    button: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Dtmf:
        return cls(str(data["button"])[:DTMF_MAX_CHARS])


@dataclass(frozen=True)
class Custom(_Wire):
    """Data passed through between the agent and the client, either way."""

    type: ClassVar[str] = "custom"
    metadata: Any = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Custom:
        return cls(data.get("metadata"))


@dataclass(frozen=True)
class Unknown(_Wire):
    """A message of a type this platform does not know: kept on the call as it came."""

    type: str
    fields: dict[str, Any]  # the whole message, as it came

    def wire(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if k != "type"}


Inbound = (
    Message
    | ToolCall
    | LogEvent
    | LogMetric
    | LogRecord
    | ResponseEnd
    | EndCall
    | Error
    | Transfer
    | Config
    | Dtmf
    | Custom
    | Unknown
)

_INBOUND: dict[str, Any] = {
    kind.type: kind
    for kind in (
        Message,
        ToolCall,
        LogEvent,
        LogMetric,
        LogRecord,
        ResponseEnd,
        EndCall,
        Error,
        Transfer,
        Config,
        Dtmf,
        Custom,
    )
}


def parse(frame: str | bytes) -> Inbound:
    """One frame from the agent as its message; ``BadFrame`` when it is none."""
    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
    try:
        data = bounded_json.loads(text, MAX_DEPTH)
    except bounded_json.NestedTooDeep as error:
        raise BadFrame(str(error)) from None
    except ValueError:
        data = None
    if not isinstance(data, dict) or "type" not in data:
        raise BadFrame("message must be a JSON object with a 'type'")
    kind = data["type"]
    known = _INBOUND.get(kind) if isinstance(kind, str) else None
    if known is None:
        return Unknown(str(kind)[:64], data)
    try:
        return known.from_wire(data)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise BadFrame(f"malformed {kind!r} message: {error!r}") from None


# -- openline → agent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Start(_Wire):
    """The first message of a call."""

    type: ClassVar[str] = "start"
    call_id: str
    from_: str
    to: str
    agent: dict[str, Any]  # id, system_prompt, introduction
    metadata: dict[str, Any]
    api_base_url: str

    def wire(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "from": self.from_,
            "to": self.to,
            "agent_call_id": self.call_id,
            "agent": self.agent,
            "metadata": self.metadata,
            "agent_token": None,
            "api_base_url": self.api_base_url,
        }


@dataclass(frozen=True)
class UserState(_Wire):
    """The caller's turn started (``speaking``: the agent should stop) or ended."""

    type: ClassVar[str] = "user_state"
    value: State


@dataclass(frozen=True)
class UserMessage(_Wire):
    """What the caller said (or typed), between ``user_state`` speaking and idle."""

    type: ClassVar[str] = "message"
    content: str


@dataclass(frozen=True)
class AgentState(_Wire):
    """The agent's output started / stopped playing."""

    type: ClassVar[str] = "agent_state"
    value: State


@dataclass(frozen=True)
class AgentSpeech(_Wire):
    """What of the agent's text the caller actually got (partial when cut off)."""

    type: ClassVar[str] = "agent_speech"
    content: str


@dataclass(frozen=True)
class ValidationError(_Wire):
    type: ClassVar[str] = "validation_error"
    error_message: str
    error_type: str = "invalid_message"


Outbound = (
    Start | UserState | UserMessage | AgentState | AgentSpeech | Dtmf | Custom | ValidationError
)


def emit(message: Outbound, event_id: str | None = None) -> str:
    """The frame for ``message``; ``event_id`` is what the agent may answer with
    ``responding_to``."""
    frame = {"type": message.type, **message.wire()}
    if event_id is not None:
        frame["event_id"] = event_id
    return json.dumps(frame)
