"""A cartesia-line agent (no LLM) whose outputs reach the wire the way the SDK's own
tools and streaming put them there. Runs in an interop virtualenv (0.2.18: no
``response_end``). It greets; on "bye" it does what the SDK's ``end_call`` tool does
(end_call, then the tool call that caused it, then its last metric); on "check" it
answers in two chunks; anything else it echoes.
"""

import asyncio

from line import (
    AgentEndCall,
    AgentSendText,
    AgentToolCalled,
    AgentToolReturned,
    CallStarted,
    LogMetric,
    UserTextSent,
    UserTurnEnded,
    VoiceAgentApp,
)


class Recorded:
    async def process(self, env, event):
        if isinstance(event, CallStarted):
            yield AgentSendText(text="Hello there.")
            return
        if not isinstance(event, UserTurnEnded):
            return
        said = " ".join(part.content for part in event.content if isinstance(part, UserTextSent))
        if said == "bye":
            reason = {"reason": "caller is done"}
            yield AgentSendText(text="Thanks, goodbye!")
            yield AgentEndCall(reason="agent_ended")
            yield AgentToolCalled(tool_call_id="c1", tool_name="end_call", tool_args=reason)
            yield AgentToolReturned(
                tool_call_id="c1", tool_name="end_call", tool_args=reason, result="success"
            )
            yield LogMetric(name="form_complete", value=True)
        elif said == "check":
            yield AgentSendText(text="One moment. ")
            await asyncio.sleep(0.3)
            yield AgentSendText(text="Found it.")
        else:
            yield AgentSendText(text=f"You said: {said}")


async def get_agent(env, call_request):
    return Recorded()


if __name__ == "__main__":
    VoiceAgentApp(get_agent=get_agent).run()
