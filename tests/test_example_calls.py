"""The order-status example through openline: concurrent calls to one agent process keep
their own log lines, events and tool calls."""

from __future__ import annotations

import asyncio

import pytest

from openline.bundled_agent import example_dir
from tests.support.calls import TextCall
from tests.support.servers import agent_process


@pytest.fixture(scope="module")
def order_agent_url():
    with agent_process(example_dir() / "main.py") as base_url:
        yield base_url


async def _conversation(server, agent_id: str, order_id: str) -> str:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    for _ in range(3):
        await call.say(f"where is {order_id}?")
        assert order_id in await call.reply()
    await call.say("bye")
    await call.reply()
    await call.closed()
    return call.call_id


async def test_concurrent_calls_keep_their_own_logs(server, order_agent_url):
    with server.client() as http:
        agent = http.post(
            "/agents", json={"name": "orders", "self_hosted_deployment_url": order_agent_url}
        ).json()
    orders = ["A123", "B456", "C789", "Z999"]
    call_ids = await asyncio.gather(*(_conversation(server, agent["id"], o) for o in orders))
    with server.client() as http:
        for order_id, call_id in zip(orders, call_ids, strict=True):
            lines = http.get(f"/agents/calls/{call_id}/logs", params={"limit": 1000}).json()["data"]
            lookups = [line["message"] for line in lines if "looking up order" in line["message"]]
            assert lookups == [f"looking up order {order_id}"] * 3
            assert "caller said goodbye" in [line["message"] for line in lines]
            body = http.get(f"/agents/calls/{call_id}").json()
            tools = [tool for turn in body["transcript"] for tool in turn.get("tool_calls", [])]
            assert [tool["arguments"] for tool in tools] == [{"order_id": order_id}] * 3
            if order_id == "Z999":  # unknown order: the lookup fails, the call goes on
                failed = [
                    line
                    for line in lines
                    if line["level"] == "warning" and line["logger"] == "order_status"
                ]
                assert len(failed) == 3 and "Z999" in failed[0]["message"]
            else:
                events = [e["log_event"] for e in body["transcript"] if "log_event" in e]
                assert [e["metadata"]["metadata"]["order_id"] for e in events] == [order_id] * 3


async def test_bare_websocket_agent_without_chats_endpoint(server):
    """The plain-websocket example has no /chats; openline falls back to /ws."""
    with agent_process(example_dir().parent / "bare_websocket" / "main.py") as url:
        with server.client() as http:
            agent = http.post(
                "/agents", json={"name": "bare", "self_hosted_deployment_url": url}
            ).json()
        call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
        assert await call.reply() == "Hello from a bare websocket agent!"
        await call.say("hello")
        assert await call.reply() == "I heard: hello"
        await call.say("bye")
        assert await call.reply() == "Goodbye!"
        await call.closed()
        with server.client() as http:
            body = http.get(f"/agents/calls/{call.call_id}").json()
    assert body["end_reason"] == "agent_hangup"
    metrics = [e["log_metric"] for e in body["transcript"] if "log_metric" in e]
    assert [(m["name"], m["value"]) for m in metrics][:2] == [("turn_count", 1), ("turn_count", 2)]
    assert any("log_event" in e for e in body["transcript"])
