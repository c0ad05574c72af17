"""The client call protocol (reference §2) and openline's text extension.

Text calls: the client sends ``{"event":"user_text","stream_id","text"}`` and receives
``{"event":"agent_text","stream_id","text"}`` for each agent message.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INPUT_FORMATS = ("mulaw_8000", "pcm_16000", "pcm_24000", "pcm_44100")


class StartConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    input_format: Literal["mulaw_8000", "pcm_16000", "pcm_24000", "pcm_44100"] | None = None
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
