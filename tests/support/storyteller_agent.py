"""An openline-SDK agent that answers slowly, a sentence at a time, so that a caller can
cut it off. Run: ``PORT=8123 python storyteller_agent.py``."""

import asyncio

from openline.sdk import AgentApp, AgentSendText, CallStarted, UserTurnEnded


async def storyteller(ctx, event):
    if isinstance(event, CallStarted):
        yield AgentSendText("Ask me for a story.")
    elif isinstance(event, UserTurnEnded):
        if "story" in event.content:
            for n in range(10):
                yield AgentSendText(f"Sentence {n}. ")
                await asyncio.sleep(0.15)
        else:
            yield AgentSendText(f"You said: {event.content}")


app = AgentApp(storyteller, name="storyteller")

if __name__ == "__main__":
    app.run()
