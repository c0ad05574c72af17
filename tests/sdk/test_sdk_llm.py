"""LlmAgent against a tiny fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Annotated

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from openline.sdk import (
    AgentApp,
    AgentEndCall,
    AgentSendText,
    LogMessage,
    loopback_tool,
    passthrough_tool,
)
from openline.sdk.llm import LlmAgent
from openline.sdk.testing import AgentServer, CallClient

requests_seen: list[dict] = []
auth_seen: list[str | None] = []


def completion(message: dict) -> JSONResponse:
    return JSONResponse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def tool_call(call_id: str, name: str, arguments: dict) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


async def chat_completions(request: Request) -> JSONResponse:
    body = await request.json()
    requests_seen.append(body)
    auth_seen.append(request.headers.get("authorization"))
    last = body["messages"][-1]
    if last["role"] == "tool":
        return completion({"role": "assistant", "content": f"Tool said: {last['content']}"})
    text = last["content"]
    if "order" in text:
        return completion(
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [tool_call("call_1", "lookup_order", {"order_id": "A123"})],
            }
        )
    if "bye" in text:
        return completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call("call_2", "hang_up", {})],
            }
        )
    if "mystery" in text:
        return completion(
            {"role": "assistant", "content": None, "tool_calls": [tool_call("call_3", "nope", {})]}
        )
    if "outage" in text:
        return JSONResponse({"error": "overloaded"}, status_code=503)
    return completion({"role": "assistant", "content": f"echo: {text}"})


fake_openai = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])


@loopback_tool
async def lookup_order(ctx, order_id: Annotated[str, "Order ID"]):
    """Look up an order."""
    yield LogMessage(name="order_processed", metadata={"order_id": order_id})
    yield f"Order {order_id} has shipped"


@passthrough_tool
async def hang_up(ctx):
    """End the call."""
    yield AgentSendText("Goodbye!")
    yield AgentEndCall(reason="agent_ended")


@pytest.fixture(scope="module")
def llm_url():
    with AgentServer(fake_openai) as srv:
        yield f"{srv.url}/v1"


@pytest.fixture
def agent_server(llm_url):
    requests_seen.clear()
    auth_seen.clear()
    llm = LlmAgent(
        base_url=llm_url,
        api_key="sk-test",
        model="fake-model",
        system_prompt="You are a test agent.",
        introduction="Hi, I am the LLM agent.",
        tools=[lookup_order, hang_up],
    )
    with AgentServer(AgentApp(llm)) as srv:
        yield srv


def test_llm_agent_turns_and_tool_calls(agent_server):
    with CallClient(agent_server.ws_url) as call:
        assert call.start().text == "Hi, I am the LLM agent."
        assert call.say("hello").text == "echo: hello"
        reply = call.say("where is my order?")
    assert reply.messages == ["Let me check.", "Tool said: Order A123 has shipped"]
    started, returned = reply.tool_calls
    assert started["id"] == returned["id"] == "call_1"
    assert started["arguments"] == {"order_id": "A123"}
    assert returned["result"] == "Order A123 has shipped"
    assert reply.log_events[0]["event"] == "order_processed"

    first = requests_seen[0]
    assert first["model"] == "fake-model"
    assert auth_seen[0] == "Bearer sk-test"
    assert [t["function"]["name"] for t in first["tools"]] == ["lookup_order", "hang_up"]
    assert first["messages"] == [
        {"role": "system", "content": "You are a test agent."},
        {"role": "assistant", "content": "Hi, I am the LLM agent."},
        {"role": "user", "content": "hello"},
    ]
    # the follow-up request carries the tool call and its result
    final = requests_seen[-1]["messages"]
    assert final[-3] == {"role": "assistant", "content": "Let me check."}
    assert final[-2]["tool_calls"][0]["id"] == "call_1"
    assert final[-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "Order A123 has shipped",
    }


def test_llm_agent_passthrough_unknown_tool_and_outage(agent_server):
    with CallClient(agent_server.ws_url) as call:
        call.start()
        unknown = call.say("a mystery")
        assert unknown.tool_calls[1]["result"] == "Error: unknown tool 'nope'"
        outage = call.say("an outage")
        assert outage.text == "Sorry, I'm having trouble answering right now."
        assert outage.log_events[0]["event"] == "llm_error"
        reply = call.say("bye")
        call.until_closed()
        assert call.close_code == 1000
    assert reply.text == "Goodbye!"
    assert reply.end_call["reason"] == "agent_ended"


def test_nothing_else_imports_llm():
    code = (
        "import sys, openline.sdk, openline.sdk.testing; "
        "assert 'openline.sdk.llm' not in sys.modules; "
        "assert not [m for m in sys.modules if m.startswith('openline.') "
        "and not m.startswith('openline.sdk')], sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sdk_sources_import_no_platform_module():
    import ast
    from pathlib import Path

    import openline.sdk

    for path in Path(openline.sdk.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not (name.startswith("openline") and not name.startswith("openline.sdk")), (
                    f"{path.name} imports {name}"
                )
