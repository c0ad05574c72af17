"""examples/order_status: loopback tool + LogMessage + logging + end call."""

from __future__ import annotations

import httpx

from openline.sdk.testing import CallClient

from .helpers import example_agent

agent = example_agent("order_status")


def test_status_and_chats(agent):
    status = httpx.get(f"{agent.url}/status").json()
    assert status["status"] == "ok"
    assert status["service"] == "order-status"
    chats = httpx.post(f"{agent.url}/chats", json={"call_id": "call_1", "metadata": {"a": 1}})
    assert chats.json()["websocket_url"] == "/ws"


def test_order_conversation(agent):
    with CallClient(agent.ws_url) as call:
        greeting = call.start()
        assert "order number" in greeting.text

        nothing = call.say("hi, I have a question")
        assert "A123" in nothing.text
        assert not nothing.tool_calls

        reply = call.say("where is order a123 please")
        started, returned = reply.tool_calls
        assert started["name"] == "lookup_order"
        assert started["arguments"] == {"order_id": "A123"}
        assert started["result"] is None
        assert returned["id"] == started["id"]
        assert returned["result"] == "Order A123 is shipped (expected Thursday)."
        (event,) = reply.log_events
        assert event["event"] == "order_processed"
        assert event["metadata"] == {
            "level": "info",
            "message": "Processed order A123",
            "metadata": {"status": "shipped", "order_id": "A123"},
        }
        assert reply.text == "Order A123 is shipped (expected Thursday). Anything else?"
        idle_id = reply.frames[-1]["responding_to"]
        assert all(
            f.get("responding_to") == idle_id for f in reply.frames if f["type"] != "log_record"
        )

        missing = call.say("what about Z999")
        assert "couldn't find order Z999" in missing.text
        assert missing.tool_calls[1]["result"].startswith("Error: KeyError")
        assert [e["event"] for e in missing.log_events] == ["tool_error"]

        bye = call.say("that's all, bye")
        assert bye.text == "Thanks for calling. Goodbye!"
        assert bye.end_call["reason"] == "agent_ended"
        call.until_closed()
        assert call.close_code == 1000

    logs = [f["message"] for f in call.frames if f["type"] == "log_record"]
    assert "call started from +15550001" in logs
    assert "looking up order A123" in logs
    assert any(m.startswith("lookup of Z999 failed") for m in logs)
    assert "caller said goodbye" in logs
