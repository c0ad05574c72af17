"""The text half of a call: the caller types, the agent's text is shown as it comes.

It speaks the agent protocol as a voice call does, without the audio: a typed line is a
whole user turn (``user_state speaking``, ``message``, ``user_state idle``), and each
agent message is "spoken" the moment it is shown to the caller (``agent_state speaking``,
``agent_speech``, ``agent_state idle`` at once). An assistant turn ends with its last
chunk, and the agent's ``response_end`` tells the caller at once that it is done.
"""

from __future__ import annotations

from typing import Any

from openline.harness.ledger import CallLedger
from openline.harness.ports import CallPorts
from openline.protocol import agent as wire
from openline.protocol.client import agent_done


class TextCall:
    def __init__(
        self,
        ledger: CallLedger,
        ports: CallPorts,
        stream_id: str,
        voice_unavailable: str | None = None,
    ) -> None:
        """``voice_unavailable``: why a call started with audio goes on by text (the
        caller is told once; the audio it still sends is ignored)."""
        self._ledger = ledger
        self._ports = ports
        self._stream_id = stream_id
        self._voice_unavailable = voice_unavailable
        if voice_unavailable is not None:
            ledger.signal("warning", _warning(voice_unavailable))

    async def start(self) -> None:
        if self._voice_unavailable is not None:
            warning = _warning(self._voice_unavailable)
            await self._ports.send_client(
                {"event": "warning", "stream_id": self._stream_id} | warning
            )

    async def close(self, ended_at: float) -> float | None:
        """Nothing plays and nothing is recorded: no recording, no duration."""
        return None

    # -- from the caller ----------------------------------------------------------------

    async def media(self, message: dict[str, Any]) -> None:
        if self._voice_unavailable is not None:
            return  # the caller was told once that this call has no voice
        await self._ports.client_error(
            "this call has no audio: start it with config.input_format to send media",
            code="unsupported_media",
        )

    async def user_text(self, text: str) -> None:
        self._ledger.user_turn(text)
        await self._ports.send_agent(wire.UserState("speaking"))
        await self._ports.send_agent(wire.UserMessage(text))
        await self._ports.send_agent(wire.UserState("idle"))

    # -- from the agent -------------------------------------------------------------------

    async def agent_message(
        self, text: str, interruptible: bool, responding_to: str | None
    ) -> None:
        self._ledger.agent_message(text, interruptible, responding_to)
        await self._ports.send_client(
            {"event": "agent_text", "stream_id": self._stream_id, "text": text}
        )
        # Shown is "spoken": acknowledge what was said, as a voice call does once heard.
        await self._ports.send_agent(wire.AgentState("speaking"))
        await self._ports.send_agent(wire.AgentSpeech(text))
        await self._ports.send_agent(wire.AgentState("idle"))

    async def response_end(self, responding_to: str | None, answers: str | None) -> None:
        self._ledger.response_end(responding_to)
        await self._ports.send_client(agent_done(self._stream_id, answers))

    async def hang_up(self) -> None:
        """The agent ends the call: everything it sent has been shown already."""

    async def configure(self, config: wire.Config) -> None:
        """Voice and language settings: a text call has no voice to change."""


def _warning(message: str) -> dict[str, Any]:
    text = f"voice is unavailable, the call goes on by text: {message}"
    return {"code": "voice_unavailable", "message": text}
