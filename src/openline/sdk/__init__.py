"""openline's agent SDK: write a voice agent as a generator of events.

    from openline.sdk import AgentApp, AgentSendText, CallStarted, UserTurnEnded

    async def agent(ctx, event):
        if isinstance(event, CallStarted):
            yield AgentSendText("Hi! How can I help?")
        elif isinstance(event, UserTurnEnded):
            yield AgentSendText(f"You said: {event.content}")

    AgentApp(agent).run()   # serves the agent protocol on $PORT

This package imports nothing else from openline: an agent needs only the SDK.
The LLM agent lives in `openline.sdk.llm`, test helpers in `openline.sdk.testing`.
"""

from .app import DEFAULT_CANCEL_ON, DEFAULT_RUN_ON, AgentApp, CallRejected, PreCallResult
from .calllogs import current_call_id, install_call_logging
from .context import CallContext, CallRequest
from .events import (
    AgentEndCall,
    AgentHandedOff,
    AgentOutputRejected,
    AgentSendCustom,
    AgentSendDtmf,
    AgentSendText,
    AgentTextSent,
    AgentToolCalled,
    AgentToolReturned,
    AgentTransferCall,
    AgentTurnEnded,
    AgentTurnStarted,
    AgentUpdateConfig,
    CallEnded,
    CallStarted,
    InputEvent,
    LogMessage,
    LogMetric,
    OutputEvent,
    UserCustomSent,
    UserDtmfSent,
    UserTextSent,
    UserTurnEnded,
    UserTurnStarted,
)
from .tools import Tool, ToolResult, handoff_tool, loopback_tool, passthrough_tool

__all__ = [
    "DEFAULT_CANCEL_ON",
    "DEFAULT_RUN_ON",
    "AgentApp",
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
    "CallContext",
    "CallEnded",
    "CallRejected",
    "CallRequest",
    "CallStarted",
    "InputEvent",
    "LogMessage",
    "LogMetric",
    "OutputEvent",
    "PreCallResult",
    "Tool",
    "ToolResult",
    "UserCustomSent",
    "UserDtmfSent",
    "UserTextSent",
    "UserTurnEnded",
    "UserTurnStarted",
    "current_call_id",
    "handoff_tool",
    "install_call_logging",
    "loopback_tool",
    "passthrough_tool",
]
