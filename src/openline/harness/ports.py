"""What a call's two halves see of each other: the session's ports, and the call
(``VoiceCall`` or ``TextCall``) the session routes to."""

from __future__ import annotations

from typing import Any, Protocol

from openline.protocol import agent as wire


class CallPorts(Protocol):
    """The session's side: the two connections and the call's clock of activity."""

    async def send_agent(self, message: wire.Outbound) -> None: ...
    async def send_client(self, event: dict[str, Any]) -> None: ...
    async def client_error(self, message: str, **extra: Any) -> None: ...
    async def reject_agent_message(self, problem: str, frame: str) -> None: ...
    def touch(self) -> None: ...


class Call(Protocol):
    """One call's medium: how the caller's input reaches the agent and the agent's
    output reaches the caller, and what the ledger records of both."""

    async def start(self) -> None: ...
    async def close(self, ended_at: float) -> float | None: ...  # the recording's duration
    async def media(self, message: dict[str, Any]) -> None: ...
    async def user_text(self, text: str) -> None: ...
    async def agent_message(
        self, text: str, interruptible: bool, responding_to: str | None
    ) -> None: ...
    async def response_end(self, responding_to: str | None, answers: str | None) -> None:
        """The agent's answer is over; once the caller has it all, the client gets
        ``agent_done`` with ``answers`` (the client's id of what it answers)."""

    async def hang_up(self) -> None: ...  # what the agent queued is still delivered
    async def configure(self, config: wire.Config) -> None: ...
