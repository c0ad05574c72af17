"""Typed events exchanged between the platform and agent code.

Input events are what the platform tells the agent (decoded from agent-protocol
messages). Output events are what an agent or a tool yields; each becomes one
agent-protocol message on the call's websocket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AgentEndCall",
    "AgentHandedOff",
    "AgentOutputRejected",
    "AgentSendCustom",
    "AgentSendDtmf",
    "AgentSendText",
    "AgentTextSent",
    "AgentToolCalled",
    "AgentToolReturned",
    "AgentTransferCall",
    "AgentTurnEnded",
    "AgentTurnStarted",
    "AgentUpdateConfig",
    "CallEnded",
    "CallStarted",
    "InputEvent",
    "LogLevel",
    "LogMessage",
    "LogMetric",
    "OutputEvent",
    "UserCustomSent",
    "UserDtmfSent",
    "UserTextSent",
    "UserTurnEnded",
    "UserTurnStarted",
]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class InputEvent:
    """Something the platform told the agent.

    `event_id` is the platform message's id; output produced in response to this
    event carries it back as `responding_to`.
    """

    event_id: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class CallStarted(InputEvent):
    """The call's websocket opened (the `start` message, or query parameters)."""


@dataclass(frozen=True)
class CallEnded(InputEvent):
    """The call is over; output yielded for this event is discarded (clean-up only)."""


@dataclass(frozen=True)
class UserTurnStarted(InputEvent):
    """The user started speaking (`user_state speaking`). Cancels the running response."""


@dataclass(frozen=True)
class UserTextSent(InputEvent):
    """A piece of user transcript (`message`)."""

    content: str = ""


@dataclass(frozen=True)
class UserTurnEnded(InputEvent):
    """The user stopped speaking (`user_state idle`); `content` is the whole turn's text."""

    content: str = ""


@dataclass(frozen=True)
class AgentTurnStarted(InputEvent):
    """The agent's audio started playing (`agent_state speaking`)."""


@dataclass(frozen=True)
class AgentTextSent(InputEvent):
    """Text the TTS actually spoke (`agent_speech`); partial when interrupted."""

    content: str = ""


@dataclass(frozen=True)
class AgentTurnEnded(InputEvent):
    """The agent's audio finished (`agent_state idle`); `content` is what was spoken."""

    content: str = ""


@dataclass(frozen=True)
class UserDtmfSent(InputEvent):
    """The user pressed a keypad button (`dtmf`)."""

    button: str = ""


@dataclass(frozen=True)
class UserCustomSent(InputEvent):
    """Custom data from the client (`custom`)."""

    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentOutputRejected(InputEvent):
    """The platform rejected something the agent sent (`validation_error`)."""

    error_message: str = ""
    error_type: str = ""


@dataclass(frozen=True)
class AgentHandedOff(InputEvent):
    """Delivered to the agent a handoff tool returned, so it can take over the call."""

    tool_name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


# -------------------------------------------------------------------------- output


@dataclass(frozen=True)
class OutputEvent:
    """Something the agent sends to the platform."""


@dataclass(frozen=True)
class AgentSendText(OutputEvent):
    """Text for the agent to say (`message`)."""

    text: str
    interruptible: bool = True


@dataclass(frozen=True)
class AgentEndCall(OutputEvent):
    """Hang up after queued text is spoken (`end_call`); the SDK then closes the socket."""

    reason: str | None = None


@dataclass(frozen=True)
class AgentTransferCall(OutputEvent):
    """Transfer the call to a phone number or SIP URI (`transfer`)."""

    destination: str
    type: Literal["phone", "sip_uri"] = "phone"


@dataclass(frozen=True)
class AgentSendDtmf(OutputEvent):
    """Press a keypad button (`dtmf`)."""

    button: str


@dataclass(frozen=True)
class AgentSendCustom(OutputEvent):
    """Custom data forwarded to the client (`custom`)."""

    metadata: dict[str, Any]


@dataclass(frozen=True)
class AgentUpdateConfig(OutputEvent):
    """Change voice or language mid-call (`config`); unset fields are left alone."""

    voice_id: str | None = None
    language: str | None = None
    pronunciation_dict_id: str | None = None
    stt_language: str | None = None


@dataclass(frozen=True)
class LogMessage(OutputEvent):
    """A custom event recorded on the call (`log_event`)."""

    name: str
    level: LogLevel = "info"
    message: str = ""
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class LogMetric(OutputEvent):
    """A custom metric recorded on the call (`log_metric`); `value` must be JSON."""

    name: str
    value: Any


@dataclass(frozen=True)
class AgentToolCalled(OutputEvent):
    """A tool call started (`tool_call` with `result: null`). The SDK sends it for you."""

    tool_call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentToolReturned(OutputEvent):
    """A tool call returned (`tool_call` with `result` set). The SDK sends it for you."""

    tool_call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str = ""
