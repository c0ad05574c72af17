"""Run one tool call: report it, stream its events, capture its result or error."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import traceback
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from ._outputs import iterate
from .events import AgentToolCalled, AgentToolReturned, LogMessage, OutputEvent
from .tools import Tool, ToolResult

logger = logging.getLogger("openline.sdk")

Emit = Callable[[OutputEvent], None]


def new_tool_call_id() -> str:
    return f"tc_{secrets.token_hex(8)}"


async def run_tool(
    tool: Tool,
    ctx: Any,
    arguments: dict[str, Any],
    emit: Emit,
    tool_call_id: str | None = None,
) -> ToolResult:
    tid = tool_call_id or new_tool_call_id()
    emit(AgentToolCalled(tool_call_id=tid, name=tool.name, arguments=arguments))
    value: Any = None
    try:
        result = tool.fn(ctx, **arguments) if tool.takes_context else tool.fn(**arguments)
        async with aclosing(iterate(result)) as stream:
            async for item in stream:
                if isinstance(item, OutputEvent):
                    emit(item)
                else:
                    value = item  # the last non-event value is the result
    except asyncio.CancelledError:
        # Close the record on the wire: the call was interrupted, not lost.
        emit(_returned(tool, tid, arguments, "Error: cancelled"))
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("tool %s raised %s", tool.name, error, exc_info=True)
        emit(
            LogMessage(
                name="tool_error",
                level="error",
                message=f"tool {tool.name} raised {error}",
                metadata={
                    "tool": tool.name,
                    "tool_call_id": tid,
                    "traceback": traceback.format_exc(),
                },
            )
        )
        text = f"Error: {error}"
        emit(_returned(tool, tid, arguments, text))
        return ToolResult(tid, tool.name, None, text, error)
    text = _result_text(tool, value)
    emit(_returned(tool, tid, arguments, text))
    return ToolResult(tid, tool.name, value, text)


def _returned(tool: Tool, tid: str, arguments: dict[str, Any], text: str) -> AgentToolReturned:
    return AgentToolReturned(tool_call_id=tid, name=tool.name, arguments=arguments, result=text)


def _result_text(tool: Tool, value: Any) -> str:
    if tool.kind == "handoff":
        target = getattr(value, "name", None) or getattr(value, "__name__", None)
        return f"handed off to {target or type(value).__name__}"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
