"""Tool decorators: `loopback_tool`, `passthrough_tool`, `handoff_tool`.

A tool is a plain function, a coroutine function or an (async) generator function.
A first parameter named `ctx` (or `context`) receives the call's `CallContext`; the
other parameters become the tool's JSON schema (`Annotated[str, "description"]`
describes one). Output events a tool yields (`LogMessage`, `AgentSendText`, ...) are
sent to the platform as they come; any other value it returns or yields last is the
tool's result.

- loopback: the result goes back to the agent (the LLM sees it).
- passthrough: the yielded events are the point (say something, end the call); the
  LLM agent does not continue after it.
- handoff: the result is another agent, which takes over the call.

Call a tool from agent code with `await ctx.call_tool(tool, arg=value)`; the SDK
reports the call and its result on the wire.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from ._schema import parameters_schema

__all__ = ["Tool", "ToolKind", "ToolResult", "handoff_tool", "loopback_tool", "passthrough_tool"]

ToolKind = Literal["loopback", "passthrough", "handoff"]

_CONTEXT_NAMES = ("ctx", "context")


@dataclass(frozen=True, eq=False)
class Tool:
    """A decorated tool. Calling it calls the wrapped function unchanged."""

    fn: Callable[..., Any]
    name: str
    description: str
    kind: ToolKind
    parameters: dict[str, Any] = field(repr=False)
    is_background: bool = False
    takes_context: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI chat-completions `tools` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class ToolResult:
    """What `ctx.call_tool` returns: the raw value, its wire text, and any error."""

    tool_call_id: str
    name: str
    value: Any
    text: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        return self.text


def make_tool(
    fn: Callable[..., Any],
    kind: ToolKind,
    *,
    name: str | None = None,
    description: str | None = None,
    is_background: bool = False,
) -> Tool:
    """Build a `Tool` from a function (what the decorators do)."""
    if isinstance(fn, Tool):
        return fn
    params = list(inspect.signature(fn).parameters.values())
    takes_context = bool(params) and params[0].name in _CONTEXT_NAMES
    return Tool(
        fn=fn,
        name=name or fn.__name__,
        description=description or inspect.getdoc(fn) or "",
        kind=kind,
        parameters=parameters_schema(fn, skip_first=takes_context),
        is_background=is_background,
        takes_context=takes_context,
    )


def _decorator(kind: ToolKind, fn: Callable[..., Any] | None, **options: Any) -> Any:
    if fn is not None:
        return make_tool(fn, kind, **options)
    return lambda f: make_tool(f, kind, **options)


@overload
def loopback_tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def loopback_tool(
    *, name: str | None = None, description: str | None = None, is_background: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...
def loopback_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    is_background: bool = False,
) -> Any:
    """A tool whose result goes back to the agent.

    `is_background=True`: the tool keeps running when a new user turn cancels the
    response that started it; its events and result are still sent.
    """
    return _decorator(
        "loopback", fn, name=name, description=description, is_background=is_background
    )


@overload
def passthrough_tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def passthrough_tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def passthrough_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """A tool whose yielded events go straight out (e.g. a goodbye and `AgentEndCall`)."""
    return _decorator("passthrough", fn, name=name, description=description)


@overload
def handoff_tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def handoff_tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def handoff_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """A tool that returns (or yields last) the agent that takes over the call.

    The new agent first receives `AgentHandedOff`, then every later event.
    """
    return _decorator("handoff", fn, name=name, description=description)
