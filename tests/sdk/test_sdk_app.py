"""AgentApp over real sockets: /status, /chats, /ws, errors, payload limits."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import httpx
import pytest
from websockets.sync.client import connect

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentHandedOff,
    AgentSendCustom,
    AgentSendDtmf,
    AgentSendText,
    AgentTransferCall,
    AgentUpdateConfig,
    CallEnded,
    CallRejected,
    CallStarted,
    LogMessage,
    LogMetric,
    PreCallResult,
    UserCustomSent,
    UserDtmfSent,
    UserTurnEnded,
    handoff_tool,
    loopback_tool,
    passthrough_tool,
)
from openline.sdk.testing import AgentServer, CallClient


@loopback_tool
async def lookup_order(ctx, order_id: Annotated[str, "Order ID"]):
    """Look up an order."""
    yield LogMessage(
        name="order_processed",
        level="info",
        message=f"Processed order {order_id}",
        metadata={"status": "shipped", "order_id": order_id},
    )
    yield f"Order {order_id} processed: shipped"


@loopback_tool
async def broken_tool(ctx, order_id: str):
    """Always fails."""
    raise RuntimeError(f"database is down for {order_id}")


@loopback_tool
def sync_generator_tool(ctx, n: int):
    yield LogMetric(name="n", value=n)
    return n * 2


@passthrough_tool
async def goodbye(ctx):
    yield AgentSendText("Bye now")
    yield AgentEndCall(reason="agent_ended")


async def billing_agent(ctx, event):
    if isinstance(event, AgentHandedOff):
        yield AgentSendText(f"Billing here (via {event.tool_name}).")
    elif isinstance(event, UserTurnEnded):
        yield AgentSendText(f"billing heard {event.content}")


billing_agent.name = "billing"


@handoff_tool
async def to_billing(ctx, reason: Annotated[str, "Why"]):
    """Hand the caller to billing."""
    yield AgentSendText("Transferring you to billing.")
    yield billing_agent


ended_calls: list[str] = []


async def agent(ctx, event):
    if isinstance(event, CallEnded):
        ended_calls.append(ctx.call_id)
        return
    if isinstance(event, CallStarted):
        yield AgentSendText(f"hello {ctx.call_id} from {ctx.request.from_}")
        return
    if isinstance(event, UserDtmfSent):
        yield AgentSendDtmf(event.button)
        return
    if isinstance(event, UserCustomSent):
        yield AgentSendCustom({"echo": event.metadata})
        return
    if not isinstance(event, UserTurnEnded):
        return
    text = event.content
    if text == "order":
        result = await ctx.call_tool(lookup_order, order_id="A123")
        yield AgentSendText(result.text)
    elif text == "broken":
        result = await ctx.call_tool(broken_tool, order_id="A1")
        yield AgentSendText(f"tool failed: {result.error}")
    elif text == "syncgen":
        result = await ctx.call_tool(sync_generator_tool, n=21)
        yield AgentSendText(f"value {result.value}")
    elif text == "bad metric":
        yield LogMetric(name="when", value={1, 2})
        yield AgentSendText("still here")
    elif text == "huge":
        yield LogMessage(name="huge", message="m" * 40_000, metadata={"blob": "x" * 40_000})
        await ctx.call_tool(lookup_order, {"order_id": "A1" * 20_000})
        yield AgentSendText("logged")
    elif text == "weird":
        yield 42
        yield "plain strings are text"
    elif text == "config":
        yield AgentUpdateConfig(voice_id="v2", language="es")
        yield AgentTransferCall("+15550002")
    elif text == "handoff":
        await ctx.call_tool(to_billing, reason="invoice")
    elif text == "goodbye":
        await ctx.call_tool(goodbye)
    elif text == "crash":
        yield AgentSendText("about to crash")
        raise ValueError("agent bug")
    elif text == "bye":
        yield AgentSendText("Goodbye!")
        yield AgentEndCall(reason="agent_ended")
        yield AgentSendText("never sent")
    else:
        yield AgentSendText(f"you said {text}")


def pre_call(request):
    if request.metadata.get("reject"):
        raise CallRejected("not today")
    if request.metadata.get("explode"):
        raise RuntimeError("hook bug")
    if request.metadata.get("deny"):
        return False
    return PreCallResult(metadata={"tier": "gold"}, config={"language": "en"})


@pytest.fixture(scope="module")
def server():
    with AgentServer(AgentApp(agent, pre_call=pre_call, name="test-agent")) as srv:
        yield srv


def _reply(server, text: str):
    """The agent's answer to ``text``, said first thing in a new call."""
    with CallClient(server.ws_url) as call:
        call.start()
        return call.say(text)


def _last_reply(server, text: str):
    """A new call whose first line ``text`` ends it: the call, the agent's answer, what it
    sent after that answer, and the code its socket closed with."""
    with CallClient(server.ws_url) as call:
        call.start()
        reply = call.say(text)
        rest = call.until_closed()
        return call, reply, rest, call.close_code


def test_status(server):
    body = httpx.get(f"{server.url}/status").json()
    assert body["status"] == "ok"
    assert body["service"] == "test-agent"
    assert "T" in body["timestamp"]


def test_chats_hook(server):
    ok = httpx.post(f"{server.url}/chats", json={"call_id": "c1", "from_": "+1", "metadata": {}})
    assert ok.status_code == 200
    assert ok.json() == {
        "websocket_url": "/ws",
        "cartesia_version": "2026-04-03",
        "metadata": {"tier": "gold"},
        "config": {"language": "en"},
    }
    for metadata, status in (({"reject": 1}, 403), ({"deny": 1}, 403), ({"explode": 1}, 500)):
        r = httpx.post(f"{server.url}/chats", json={"metadata": metadata})
        assert r.status_code == status
        assert r.headers["X-Cartesia-Error-Source"] == "agent-code"
    assert "not today" in httpx.post(f"{server.url}/chats", json={"metadata": {"reject": 1}}).text


def test_greeting_turns_and_responding_to(server):
    with CallClient(server.ws_url, call_id="call_abc") as call:
        greeting = call.start()
        assert greeting.frames == [
            {
                "type": "message",
                "content": "hello call_abc from +15550001",
                "interruptible": True,
                "responding_to": "ev_1",
            },
            {"type": "response_end", "responding_to": "ev_1"},
        ]
        reply = call.say("hi there")
        assert reply.text == "you said hi there"
        idle_id = reply.frames[-1]["responding_to"]
        assert all(f["responding_to"] == idle_id for f in reply.frames)


def test_loopback_tool_reports_call_event_and_result(server):
    reply = _reply(server, "order")
    started, returned = reply.tool_calls
    assert started == {
        "type": "tool_call",
        "id": started["id"],
        "name": "lookup_order",
        "arguments": {"order_id": "A123"},
        "result": None,
        "responding_to": started["responding_to"],
    }
    assert returned["id"] == started["id"]
    assert returned["result"] == "Order A123 processed: shipped"
    kinds = [f["type"] for f in reply.frames]
    assert kinds == ["tool_call", "log_event", "tool_call", "message", "response_end"]
    assert reply.log_events[0]["event"] == "order_processed"
    assert reply.log_events[0]["metadata"] == {
        "level": "info",
        "message": "Processed order A123",
        "metadata": {"status": "shipped", "order_id": "A123"},
    }


def test_tool_that_raises_is_reported_and_the_call_goes_on(server):
    with CallClient(server.ws_url) as call:
        call.start()
        reply = call.say("broken")
        _, returned = reply.tool_calls
        assert returned["result"] == "Error: RuntimeError: database is down for A1"
        (error_event,) = [e for e in reply.log_events if e["event"] == "tool_error"]
        assert error_event["metadata"]["level"] == "error"
        assert "database is down for A1" in error_event["metadata"]["message"]
        assert "RuntimeError" in error_event["metadata"]["metadata"]["traceback"]
        assert reply.text == "tool failed: RuntimeError: database is down for A1"
        assert call.say("still there?").text == "you said still there?"


def test_sync_generator_tool_return_value(server):
    reply = _reply(server, "syncgen")
    assert reply.log_metrics[0]["value"] == 21
    assert reply.tool_calls[1]["result"] == "42"
    assert reply.text == "value 42"


def test_non_serialisable_metric(server):
    reply = _reply(server, "bad metric")
    (event,) = [e for e in reply.log_events if e["event"] == "sdk_error"]
    assert event["metadata"] == {
        "level": "error",
        "message": "metric when value is not JSON-serialisable: {1, 2}",
    }
    assert reply.text == "still here"
    assert not reply.log_metrics


def test_huge_log_message_and_tool_arguments_are_truncated(server):
    reply = _reply(server, "huge")
    huge = next(e for e in reply.log_events if e["event"] == "huge")
    assert huge["metadata"]["metadata"]["_truncated"] is True
    assert len(huge["metadata"]["metadata"]["_preview"]) == 1000
    assert len(huge["metadata"]["message"]) < 30_100
    assert huge["metadata"]["message"].endswith("[10000 more characters truncated]")
    for tool_call in reply.tool_calls:
        assert tool_call["arguments"]["_truncated"] is True
        assert tool_call["arguments"]["_preview"].startswith('{"order_id":"A1A1')
    assert reply.text == "logged"


def test_unsupported_yield_is_reported(server):
    reply = _reply(server, "weird")
    assert reply.log_events[0]["event"] == "sdk_error"
    assert "unsupported object: 42" in reply.log_events[0]["metadata"]["message"]
    assert reply.text == "plain strings are text"


def test_dtmf_custom_config_transfer(server):
    with CallClient(server.ws_url) as call:
        call.start()
        eid = call.send({"type": "dtmf", "button": "7"})
        assert call.wait_response(eid).frames[0] == {
            "type": "dtmf",
            "button": "7",
            "responding_to": eid,
        }
        eid = call.send({"type": "custom", "metadata": {"a": 1}})
        assert call.wait_response(eid).frames[0]["metadata"] == {"echo": {"a": 1}}
        frames = call.say("config").frames
        assert frames[0]["type"] == "config"
        assert frames[0]["tts"] == {"voice_id": "v2", "language": "es"}
        assert frames[1]["type"] == "transfer"
        assert frames[1]["transfer_destination"] == {"type": "phone", "value": "+15550002"}


def test_handoff_tool(server):
    with CallClient(server.ws_url) as call:
        call.start()
        eid = call.send_turn("handoff")
        first = call.wait_response(eid)
        assert first.text == "Transferring you to billing."
        assert first.tool_calls[1]["result"] == "handed off to billing"
        # the new agent got AgentHandedOff for the same trigger
        second = call.wait_response(eid)
        assert second.text == "Billing here (via to_billing)."
        assert call.say("my invoice").text == "billing heard my invoice"


def test_end_call_closes_normally(server):
    call, reply, rest, close_code = _last_reply(server, "bye")
    assert close_code == 1000
    assert reply.text == "Goodbye!"
    assert reply.end_call["reason"] == "agent_ended"
    assert not rest.messages  # nothing after end_call
    # CallEnded is delivered for clean-up once the socket is closed
    deadline = time.monotonic() + 5
    while call.call_id not in ended_calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert call.call_id in ended_calls


def test_passthrough_tool_ends_call(server):
    _, reply, _, close_code = _last_reply(server, "goodbye")
    assert close_code == 1000
    kinds = [f["type"] for f in reply.frames]
    assert kinds == ["tool_call", "message", "end_call", "tool_call", "response_end"]
    assert reply.tool_calls[1]["result"] == ""


def test_agent_error_sends_traceback_and_closes_1011(server):
    _, reply, rest, close_code = _last_reply(server, "crash")
    assert close_code == 1011
    frames = reply.frames + rest.frames
    errors = [f for f in frames if f["type"] == "error"]
    assert len(errors) == 1
    assert "ValueError: agent bug" in errors[0]["content"]
    assert "Traceback" in errors[0]["content"]
    assert frames[-1]["type"] in ("error", "log_record")


def test_query_string_start_for_older_platforms(server):
    url = f"{server.ws_url}?call_id=call_legacy&from=%2B1999&metadata=%7B%22k%22%3A1%7D"
    with connect(url) as ws:
        frame = json.loads(ws.recv(timeout=5))
        assert frame["type"] == "message"
        assert frame["content"] == "hello call_legacy from +1999"
        assert "responding_to" not in frame
        assert json.loads(ws.recv(timeout=5)) == {"type": "response_end"}


def test_query_string_and_start_message_are_merged(server):
    """What openline's harness does: call id in the query string, then `start`."""
    with CallClient(f"{server.ws_url}?call_id=call_q&from=%2B1000&to=agent_x") as call:
        greeting = call.start(call_id="call_q", metadata={"k": "v"})
    assert greeting.text == "hello call_q from +15550001"
    assert greeting.frames[0]["responding_to"] == "ev_1"  # answered `start`, no legacy wait


def test_missing_start_is_tolerated(server):
    with CallClient(server.ws_url) as call:
        call.send({"type": "user_state", "value": "speaking"})
        call.send({"type": "message", "content": "no start"})
        eid = call.send({"type": "user_state", "value": "idle"})
        reply = call.wait_response(eid)
    assert "you said no start" in reply.text


def test_bad_json_is_ignored(server):
    with CallClient(server.ws_url) as call:
        call.start()
        call._ws.send("this is not json")
        assert call.say("ok").text == "you said ok"


def test_agent_app_needs_one_agent():
    with pytest.raises(TypeError):
        AgentApp()
    with pytest.raises(TypeError):
        AgentApp(agent, get_agent=lambda ctx, req: agent)


def test_async_get_agent_per_call():
    made = []

    async def get_agent(ctx, request):
        await asyncio.sleep(0)
        made.append(request.call_id)

        async def per_call(ctx, event):
            if isinstance(event, UserTurnEnded):
                yield AgentSendText(f"{len(made)}:{ctx.call_id}")

        return per_call

    with AgentServer(AgentApp(get_agent=get_agent)) as srv:
        for cid in ("c1", "c2"):
            with CallClient(srv.ws_url, call_id=cid) as call:
                call.start()
                assert call.say("x").text.endswith(f":{cid}")
    assert made == ["c1", "c2"]
