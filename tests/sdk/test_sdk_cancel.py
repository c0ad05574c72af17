"""Run/cancel: a new user turn cancels the running response; background tools survive."""

from __future__ import annotations

import asyncio
import time

import pytest

from openline.sdk import AgentApp, AgentSendText, LogMessage, UserTurnEnded, loopback_tool
from openline.sdk.testing import AgentServer, CallClient


@loopback_tool(is_background=True)
async def slow_background(ctx):
    """Takes a while; must finish even if the caller interrupts."""
    await asyncio.sleep(0.5)
    yield LogMessage(name="background_done")
    yield "background result"


@loopback_tool
async def slow_foreground(ctx):
    await asyncio.sleep(5)
    return "never"


async def streaming_agent(ctx, event):
    if not isinstance(event, UserTurnEnded):
        return
    if event.content == "long":
        for i in range(5):
            yield AgentSendText(f"part {i}")
            await asyncio.sleep(0.3)
    elif event.content == "background":
        result = await ctx.call_tool(slow_background)
        yield AgentSendText(f"got {result.text}")
    elif event.content == "foreground":
        result = await ctx.call_tool(slow_foreground)
        yield AgentSendText(f"got {result.text}")
    else:
        yield AgentSendText(f"short answer to {event.content}")


@pytest.fixture(scope="module")
def server():
    with AgentServer(AgentApp(streaming_agent)) as srv:
        yield srv


def test_new_user_turn_cancels_the_running_response(server):
    with CallClient(server.ws_url) as call:
        call.start()
        first = call.send_turn("long")
        call.wait_for(lambda f: f.get("content") == "part 0")
        second = call.send_turn("stop")  # the user barges in mid-response
        call.wait_response(second)
        time.sleep(1.5)  # longer than the rest of the cancelled stream would take
        call.send({"type": "custom", "metadata": {}})  # round trip: flush anything pending
        call.wait_response(call.send_turn("again"))

    frames = call.frames
    first_msgs = [f for f in frames if f.get("responding_to") == first and f["type"] == "message"]
    assert 1 <= len(first_msgs) <= 3, first_msgs  # cut short: not all 5 parts
    first_end = frames.index({"type": "response_end", "responding_to": first})
    second_frames = [i for i, f in enumerate(frames) if f.get("responding_to") == second]
    # the cancelled response is closed before the next one starts
    assert first_end < second_frames[0]
    assert frames[second_frames[0]]["content"] == "short answer to stop"
    assert not [
        i for i, f in enumerate(frames) if f.get("responding_to") == first and i > first_end
    ]


def test_background_tool_survives_cancellation(server):
    with CallClient(server.ws_url) as call:
        call.start()
        first = call.send_turn("background")
        started = call.wait_for(lambda f: f["type"] == "tool_call")
        assert started["result"] is None
        second = call.send_turn("interrupt")
        call.wait_response(second)
        returned = call.wait_for(lambda f: f["type"] == "tool_call" and f["result"] is not None)
    assert returned["id"] == started["id"]
    assert returned["result"] == "background result"
    assert returned["responding_to"] == first
    done = [f for f in call.frames if f.get("event") == "background_done"]
    assert done and done[0]["responding_to"] == first
    # the response that waited for it was cancelled: its follow-up text never went out
    assert not [f for f in call.frames if f.get("content") == "got background result"]


def test_foreground_tool_is_cancelled_with_its_response(server):
    with CallClient(server.ws_url) as call:
        call.start()
        first = call.send_turn("foreground")
        started = call.wait_for(lambda f: f["type"] == "tool_call")
        second = call.send_turn("interrupt")
        reply = call.wait_response(second)
    frames = call.frames
    returned = [f for f in frames if f["type"] == "tool_call" and f["result"] is not None]
    assert returned == [
        {
            "type": "tool_call",
            "id": started["id"],
            "name": "slow_foreground",
            "arguments": {},
            "result": "Error: cancelled",
            "responding_to": first,
        }
    ]
    assert reply.text == "short answer to interrupt"


def test_background_result_before_interrupt_is_awaited(server):
    with CallClient(server.ws_url) as call:
        call.start()
        reply = call.say("background")
    assert reply.text == "got background result"
