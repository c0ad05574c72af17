"""What agent code knows about the call it is handling."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .events import InputEvent, OutputEvent
from .tools import Tool, ToolResult, make_tool

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CallContext", "CallRequest"]


@dataclass
class CallRequest:
    """The call's parameters, from `POST /chats` or the websocket `start` message."""

    call_id: str | None = None
    from_: str | None = None
    to: str | None = None
    agent_call_id: str | None = None
    agent_id: str | None = None
    system_prompt: str | None = None
    introduction: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_token: str | None = None
    api_base_url: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallRequest:
        """Lenient parse: every field optional, unknown fields ignored."""
        agent = data.get("agent")
        agent = agent if isinstance(agent, Mapping) else {}
        metadata = data.get("metadata")
        if isinstance(metadata, str):  # query strings carry it as JSON text
            try:
                metadata = json.loads(metadata)
            except ValueError:
                metadata = None
        return cls(
            call_id=_str(data.get("call_id")),
            from_=_str(data.get("from", data.get("from_"))),
            to=_str(data.get("to")),
            agent_call_id=_str(data.get("agent_call_id")),
            agent_id=_str(agent.get("id", data.get("agent_id"))),
            system_prompt=_str(agent.get("system_prompt", data.get("system_prompt"))),
            introduction=_str(agent.get("introduction", data.get("introduction"))),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
            agent_token=_str(data.get("agent_token")),
            api_base_url=_str(data.get("api_base_url")),
        )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


class _CallSurface(Protocol):
    """What the context needs from the session running the call."""

    def emit(self, event: OutputEvent) -> None: ...
    async def call_tool(
        self, tool: Tool, arguments: dict[str, Any], tool_call_id: str | None
    ) -> ToolResult: ...


class CallContext:
    """One call, as seen by agent and tool code (the `ctx` argument).

    `history` holds every input event received and every output event sent, in
    order; `state` is a free dict for the agent's own per-call data.
    """

    def __init__(self, request: CallRequest, surface: _CallSurface) -> None:
        self.request = request
        self.history: list[InputEvent | OutputEvent] = []
        self.state: dict[str, Any] = {}
        self._surface = surface

    @property
    def call_id(self) -> str | None:
        return self.request.call_id

    @property
    def metadata(self) -> dict[str, Any]:
        return self.request.metadata

    @property
    def system_prompt(self) -> str | None:
        return self.request.system_prompt

    @property
    def introduction(self) -> str | None:
        return self.request.introduction

    def send(self, event: OutputEvent) -> None:
        """Send an output event now, outside the generator (e.g. from a helper task)."""
        self._surface.emit(event)

    async def call_tool(
        self,
        tool: Tool | Callable[..., Any],
        arguments: Mapping[str, Any] | None = None,
        /,
        *,
        tool_call_id: str | None = None,
        **kwargs: Any,
    ) -> ToolResult:
        """Run a tool, reporting the call and its result on the wire. Never raises for
        errors in the tool: they come back as `ToolResult.error`.

        A background tool keeps running if this response is cancelled.
        """
        if not isinstance(tool, Tool):
            tool = make_tool(tool, "loopback")
        args = {**(arguments or {}), **kwargs}
        return await self._surface.call_tool(tool, args, tool_call_id)
