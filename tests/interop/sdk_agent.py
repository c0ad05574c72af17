"""openline-SDK twin of line_agent.py: the same conversation, written with openline.sdk."""

from typing import Annotated

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentSendText,
    CallStarted,
    LogMessage,
    LogMetric,
    UserTurnEnded,
    loopback_tool,
)


@loopback_tool
async def lookup_order(ctx, order_id: Annotated[str, "Order ID"]) -> str:
    """Look up an order."""
    return "in transit"


async def order_desk(ctx, event):
    if isinstance(event, CallStarted):
        yield AgentSendText("Welcome to the order desk.")
        return
    if not isinstance(event, UserTurnEnded):
        return
    said = event.content
    if "bye" in said.lower():
        yield AgentSendText("Bye now.", interruptible=False)
        yield AgentEndCall(reason="user_said_bye")
    elif "order" in said.lower():
        order_id = said.split()[-1]
        result = await ctx.call_tool(lookup_order, order_id=order_id)
        yield LogMessage(
            name="order_processed",
            level="info",
            message=f"Processed order {order_id}",
            metadata={"status": result.text, "order_id": order_id},
        )
        yield LogMetric(name="orders_checked", value=1)
        yield AgentSendText(f"Order {order_id} is {result.text}.")
    else:
        yield LogMetric(name="small_talk", value="yes")
        yield AgentSendText(f"Heard: {said}")


app = AgentApp(order_desk, name="order-desk")

if __name__ == "__main__":
    app.run()
