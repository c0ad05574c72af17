"""Order status agent: a rule-based (no LLM) openline SDK agent.

It greets the caller, finds an order id like "A123" in what they say, looks it up
with the `lookup_order` loopback tool (which records an `order_processed` event),
answers, and hangs up when the caller says "bye".

Run it:  PORT=8123 python main.py
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Annotated

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentSendText,
    CallStarted,
    LogMessage,
    UserTurnEnded,
    loopback_tool,
)

logger = logging.getLogger("order_status")

GREETING = "Hi! I can check on your order. What's your order number?"
ORDER_ID = re.compile(r"\b([A-Za-z]\d{3,})\b")


@dataclass
class Order:
    order_id: str
    status: str
    eta: str


# A stand-in for the shop's order database, so the example runs offline.
ORDERS = {
    "A123": ("shipped", "Thursday"),
    "B456": ("processing", "next week"),
    "C789": ("delivered", "yesterday"),
}


class OrderApi:
    """A stand-in for the shop's order API."""

    async def process_order(self, order_id: str) -> Order:
        await asyncio.sleep(0.01)  # a network round trip
        if order_id not in ORDERS:
            raise KeyError(f"no order {order_id}")
        status, eta = ORDERS[order_id]
        return Order(order_id, status, eta)


api = OrderApi()


@loopback_tool
async def lookup_order(ctx, order_id: Annotated[str, "Order ID, like A123"]):
    """Look up the status of a customer order."""
    result = await api.process_order(order_id)

    # Log a custom event
    yield LogMessage(
        name="order_processed",
        level="info",
        message=f"Processed order {order_id}",
        metadata={"status": result.status, "order_id": order_id},
    )

    # The last value an async generator tool yields is its result.
    yield f"Order {order_id} is {result.status} (expected {result.eta})."


async def order_agent(ctx, event):
    if isinstance(event, CallStarted):
        logger.info("call started from %s", ctx.request.from_)
        yield AgentSendText(GREETING)
        return
    if not isinstance(event, UserTurnEnded):
        return
    text = event.content
    if "bye" in text.lower():
        logger.info("caller said goodbye")
        yield AgentSendText("Thanks for calling. Goodbye!")
        yield AgentEndCall(reason="agent_ended")
        return
    match = ORDER_ID.search(text)
    if match is None:
        logger.info("no order id in %r", text)
        yield AgentSendText("Please tell me your order number. It looks like A123.")
        return
    order_id = match.group(1).upper()
    logger.info("looking up order %s", order_id)
    result = await ctx.call_tool(lookup_order, order_id=order_id)
    if result.ok:
        yield AgentSendText(f"{result.text} Anything else?")
    else:
        logger.warning("lookup of %s failed: %s", order_id, result.error)
        yield AgentSendText(f"Sorry, I couldn't find order {order_id}. Could you check the number?")


app = AgentApp(order_agent, name="order-status")

if __name__ == "__main__":
    app.run()
