"""A plain-callable agent written with Cartesia's cartesia-line SDK (no LLM).

Runs only in the interop virtualenv, where cartesia-line is installed. It greets,
answers, reports a tool call, yields LogMessage and LogMetric, and hangs up on "bye".
"""

from line import (
    AgentEndCall,
    AgentSendText,
    AgentToolCalled,
    AgentToolReturned,
    CallStarted,
    LogMessage,
    LogMetric,
    UserTextSent,
    UserTurnEnded,
    VoiceAgentApp,
)


class OrderDesk:
    async def process(self, env, event):
        if isinstance(event, CallStarted):
            yield AgentSendText(text="Welcome to the order desk.")
            return
        if not isinstance(event, UserTurnEnded):
            return
        said = " ".join(part.content for part in event.content if isinstance(part, UserTextSent))
        if "bye" in said.lower():
            yield AgentSendText(text="Bye now.", interruptible=False)
            yield AgentEndCall(reason="user_said_bye")
        elif "order" in said.lower():
            args = {"order_id": said.split()[-1]}
            yield AgentToolCalled(tool_call_id="t1", tool_name="lookup_order", tool_args=args)
            yield AgentToolReturned(
                tool_call_id="t1", tool_name="lookup_order", tool_args=args, result="in transit"
            )
            yield LogMessage(
                name="order_processed",
                level="info",
                message=f"Processed order {args['order_id']}",
                metadata={"status": "in transit", "order_id": args["order_id"]},
            )
            yield LogMetric(name="orders_checked", value=1)
            yield AgentSendText(text=f"Order {args['order_id']} is in transit.")
        else:
            yield LogMetric(name="small_talk", value="yes")
            yield AgentSendText(text=f"Heard: {said}")


async def get_agent(env, call_request):
    return OrderDesk()


if __name__ == "__main__":
    VoiceAgentApp(get_agent=get_agent).run()
