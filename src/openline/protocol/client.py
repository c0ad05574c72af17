"""The client call protocol (docs/api.md) and openline's text extension.

Text calls: the client sends ``{"event":"user_text","stream_id","text"}`` and receives
``{"event":"agent_text","stream_id","text"}`` for each agent message. Every call: the
client gets ``agent_done`` when the agent has finished an answer (it sent
``response_end``) and, in a voice call, the answer has been played.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# The audio formats a voice call may use: µ-law or 16-bit PCM, at the rate named.
InputFormat = Literal["mulaw_8000", "pcm_16000", "pcm_24000", "pcm_44100"]
INPUT_FORMATS: tuple[str, ...] = get_args(InputFormat)


class StartConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    input_format: InputFormat | None = None
    voice_id: str | None = None


class AgentOverride(BaseModel):
    model_config = ConfigDict(extra="allow")
    system_prompt: str | None = None
    introduction: str | None = None


class ClientStart(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: Literal["start"]
    stream_id: str | None = None
    config: StartConfig = Field(default_factory=StartConfig)
    agent: AgentOverride | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def error_event(stream_id: str | None, message: str, **extra: Any) -> dict[str, Any]:
    return {"event": "error", "stream_id": stream_id, "message": message, **extra}


def agent_done(stream_id: str | None, responding_to: str | None) -> dict[str, Any]:
    """The agent finished its answer to the client's event ``responding_to`` (the ``id``
    the client gave it; None: no id, or the agent answered no event, as a greeting)."""
    return {"event": "agent_done", "stream_id": stream_id, "responding_to": responding_to}
