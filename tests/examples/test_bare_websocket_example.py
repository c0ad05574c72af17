"""examples/bare_websocket: the protocol by hand, raw log_event / log_metric JSON."""

from __future__ import annotations

import ast

import httpx
import pytest

from openline.sdk.testing import CallClient

from .helpers import EXAMPLES, example_agent

agent = example_agent("bare_websocket")


def test_status(agent):
    body = httpx.get(f"{agent.url}/status").json()
    assert body["status"] == "ok"
    assert body["service"] == "bare-websocket"


def test_no_chats_hook(agent):
    """websockets answers only GET: a POST /chats with a body gets no HTTP response at
    all, which a platform must read as "no pre-call hook" and go straight to /ws."""
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{agent.url}/chats", json={"call_id": "call_x"})
    assert httpx.post(f"{agent.url}/chats").status_code == 404  # bodiless: process_request


def test_conversation_with_raw_events_and_metrics(agent):
    with CallClient(agent.ws_url, call_id="call_bare1") as call:
        assert call.start().text == "Hello from a bare websocket agent!"
        reply = call.say("testing one two")
        eid = reply.frames[-1]["responding_to"]
        assert reply.frames == [
            {
                "type": "log_event",
                "event": "user_turn",
                "metadata": {"text": "testing one two", "turn": 1},
                "responding_to": eid,
            },
            {"type": "log_metric", "name": "turn_count", "value": 1, "responding_to": eid},
            {"type": "message", "content": "I heard: testing one two", "responding_to": eid},
            {"type": "response_end", "responding_to": eid},
        ]
        bye = call.say("bye")
        assert bye.end_call == {
            "type": "end_call",
            "reason": "agent_ended",
            "responding_to": bye.frames[-1]["responding_to"],
        }
        call.until_closed()
        assert call.close_code == 1000
    # its prints carry call_id=..., which is how openline attributes them to the call
    assert "call_id=call_bare1 turn 1: 'testing one two'" in agent.output


def test_bare_agent_uses_no_sdk():
    tree = ast.parse((EXAMPLES / "bare_websocket" / "main.py").read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported <= {"__future__", "asyncio", "json", "os", "datetime", "http", "websockets"}
