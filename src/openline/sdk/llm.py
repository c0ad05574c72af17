"""An optional LLM agent over any OpenAI-compatible chat-completions endpoint.

    from openline.sdk.llm import LlmAgent
    AgentApp(LlmAgent(system_prompt="You are a helpful agent.", tools=[lookup_order])).run()

Configuration: arguments, else `OPENLINE_LLM_BASE_URL` / `OPENLINE_LLM_API_KEY` /
`OPENLINE_LLM_MODEL`, else `OPENAI_BASE_URL` / `OPENAI_API_KEY` / `OPENAI_MODEL`.
The conversation is rebuilt from `ctx.history` on each turn, so an interrupted
reply is remembered as what was actually sent and one `LlmAgent` can serve many
calls at once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx

from .context import CallContext
from .events import (
    AgentHandedOff,
    AgentSendText,
    AgentToolCalled,
    AgentToolReturned,
    CallStarted,
    InputEvent,
    LogMessage,
    OutputEvent,
    UserTurnEnded,
)
from .tools import Tool, make_tool

__all__ = ["LlmAgent"]

logger = logging.getLogger("openline.sdk.llm")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_PROMPT = "You are a friendly voice agent. Keep answers short and conversational."


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


class LlmAgent:
    """Answers each user turn with a chat completion, calling tools as the LLM asks."""

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        system_prompt: str | None = None,
        introduction: str | None = None,
        tools: Iterable[Tool | Any] = (),
        temperature: float | None = None,
        max_tool_rounds: int = 5,
        timeout: float = 30.0,
        name: str = "llm_agent",
        apology: str = "Sorry, I'm having trouble answering right now.",
    ) -> None:
        self.name = name
        self.apology = apology
        self.model = model or _env("OPENLINE_LLM_MODEL", "OPENAI_MODEL") or DEFAULT_MODEL
        self.base_url = (
            base_url or _env("OPENLINE_LLM_BASE_URL", "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key = api_key or _env("OPENLINE_LLM_API_KEY", "OPENAI_API_KEY")
        self.system_prompt = system_prompt
        self.introduction = introduction
        self.tools = {t.name: t for t in (make_tool(t, "loopback") for t in tools)}
        self.temperature = temperature
        self.max_tool_rounds = max_tool_rounds
        self.timeout = timeout

    async def process(self, ctx: CallContext, event: InputEvent) -> AsyncIterator[OutputEvent]:
        if isinstance(event, CallStarted):
            intro = self.introduction or ctx.introduction
            if intro:
                yield AgentSendText(intro)
            return
        if not isinstance(event, (UserTurnEnded, AgentHandedOff)):
            return
        for _ in range(self.max_tool_rounds + 1):
            try:
                message = await self._complete(ctx)
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                # An LLM outage should not hang up on the caller.
                logger.exception("LLM request failed")
                yield LogMessage(name="llm_error", level="error", message=str(exc))
                yield AgentSendText(self.apology)
                return
            if message.get("content"):
                yield AgentSendText(message["content"])
            calls = message.get("tool_calls") or []
            if not calls:
                return
            keep_going = True
            for call in calls:
                keep_going &= await self._run_tool_call(ctx, call)
            if not keep_going:  # passthrough / handoff: the tool had the last word
                return

    async def _run_tool_call(self, ctx: CallContext, call: dict[str, Any]) -> bool:
        """Run one LLM tool call; False when the LLM should not continue after it."""
        function = call.get("function") or {}
        name = function.get("name", "")
        tool_call_id = call.get("id") or None
        try:
            arguments = json.loads(function.get("arguments") or "{}")
            if not isinstance(arguments, dict):
                raise TypeError("arguments are not a JSON object")
        except (TypeError, ValueError) as exc:
            self._report_unrunnable(ctx, tool_call_id, name, f"Error: bad arguments: {exc}")
            return True
        tool = self.tools.get(name)
        if tool is None:
            self._report_unrunnable(ctx, tool_call_id, name, f"Error: unknown tool {name!r}")
            return True
        await ctx.call_tool(tool, arguments, tool_call_id=tool_call_id)
        return tool.kind == "loopback"

    @staticmethod
    def _report_unrunnable(ctx: CallContext, tid: str | None, name: str, error: str) -> None:
        # The LLM still needs an answer for its tool call id, or the next request fails.
        tid = tid or f"tc_{len(ctx.history)}"
        ctx.send(AgentToolCalled(tool_call_id=tid, name=name, arguments={}))
        ctx.send(AgentToolReturned(tool_call_id=tid, name=name, arguments={}, result=error))

    async def _complete(self, ctx: CallContext) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages(ctx)}
        if self.tools:
            body["tools"] = [t.openai_schema() for t in self.tools.values()]
        if self.temperature is not None:
            body["temperature"] = self.temperature
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(
                f"{self.base_url}/chat/completions", json=body, headers=headers
            )
            response.raise_for_status()
        return response.json()["choices"][0]["message"]

    def messages(self, ctx: CallContext) -> list[dict[str, Any]]:
        """The chat-completions messages for this call so far."""
        prompt = self.system_prompt or ctx.system_prompt or DEFAULT_PROMPT
        messages: list[dict[str, Any]] = [{"role": "system", "content": prompt}]
        returned = {e.tool_call_id: e for e in ctx.history if isinstance(e, AgentToolReturned)}
        for event in ctx.history:
            if isinstance(event, UserTurnEnded) and event.content:
                messages.append({"role": "user", "content": event.content})
            elif isinstance(event, AgentSendText):
                last = messages[-1]
                if last["role"] == "assistant" and isinstance(last.get("content"), str):
                    last["content"] += " " + event.text
                else:
                    messages.append({"role": "assistant", "content": event.text})
            elif isinstance(event, AgentToolCalled) and event.tool_call_id in returned:
                # Only finished calls: every tool call needs its answer right after it.
                messages.append(_tool_call_message(event))
                result = returned[event.tool_call_id].result
                messages.append(
                    {"role": "tool", "tool_call_id": event.tool_call_id, "content": result}
                )
        return messages


def _tool_call_message(event: AgentToolCalled) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": event.tool_call_id,
                "type": "function",
                "function": {"name": event.name, "arguments": json.dumps(event.arguments)},
            }
        ],
    }
