"""An openline-SDK agent for voice tests: a greeting (a long one to cut into when the
call's metadata asks for it, in the voice the metadata names), then it repeats what it
heard. It logs an ``agent_heard`` event with what the platform acknowledged as spoken.
Run: ``PORT=8123 python talker_agent.py``."""

from openline.sdk import (
    AgentApp,
    AgentSendText,
    AgentTurnEnded,
    AgentUpdateConfig,
    CallStarted,
    LogMessage,
    UserTurnEnded,
)
from openline.sdk.app import DEFAULT_RUN_ON

GREETING = "Hello, this is the voice test line."
LONG_GREETING = (
    "Hello and welcome to the voice test line. "
    "I am going to keep talking for quite a while, so that you have plenty of time "
    "to interrupt me whenever you like, and I will stop as soon as you do. "
    "If you let me go on, I will simply tell you about the weather, the sea, the hills, "
    "and the long road that winds between them on a quiet afternoon."
)


async def talker(ctx, event):
    if isinstance(event, CallStarted):
        if ctx.metadata.get("voice"):  # the agent picks its voice (a `config` message)
            yield AgentUpdateConfig(voice_id=ctx.metadata["voice"])
        yield AgentSendText(LONG_GREETING if ctx.metadata.get("long") else GREETING)
    elif isinstance(event, UserTurnEnded):
        yield AgentSendText(f"You said: {event.content}")
    elif isinstance(event, AgentTurnEnded):  # what the platform says the caller heard
        yield LogMessage("agent_heard", message=event.content)


app = AgentApp(talker, name="talker", run_on=(*DEFAULT_RUN_ON, AgentTurnEnded))

if __name__ == "__main__":
    app.run()
