"""Compatibility with the real cartesia-line SDK and the official cartesia client."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.calls import TextCall
from tests.support.servers import agent_process
from tests.support.voice import VoiceClient, speech

HERE = Path(__file__).parent
pytestmark = pytest.mark.interop


@pytest.fixture
def line_agent_url(interop_python):
    with agent_process(HERE / "line_agent.py", python=str(interop_python)) as base_url:
        yield base_url


async def test_line_agent_runs_unchanged_and_official_client_reads_the_call(
    server, line_agent_url, interop_python
):
    with server.client() as http:
        agent = http.post(
            "/agents", json={"name": "Line agent", "self_hosted_deployment_url": line_agent_url}
        ).json()
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    assert await call.reply() == "Welcome to the order desk."
    await call.say("how are you")
    assert await call.reply() == "Heard: how are you"
    await call.say("where is order Z42")
    assert await call.reply() == "Order Z42 is in transit."
    await call.say("ok bye")
    assert await call.reply() == "Bye now."
    assert await call.closed() == (1000, "call ended by agent, reason: user_said_bye")
    await asyncio.sleep(0.1)

    with server.client() as http:
        body = http.get(f"/agents/calls/{call.call_id}").json()
    assert (body["status"], body["end_reason"]) == ("completed", "agent_hangup")
    assert body["agent_end_reason"] == "user_said_bye"
    turns = [(t["role"], t["text"]) for t in body["transcript"] if t["role"] != "system"]
    assert turns == [
        ("assistant", "Welcome to the order desk."),
        ("user", "how are you"),
        ("assistant", "Heard: how are you"),
        ("user", "where is order Z42"),
        ("assistant", "Order Z42 is in transit."),
        ("user", "ok bye"),
        ("assistant", "Bye now."),
    ]
    tool_turn = [t for t in body["transcript"] if t["role"] == "assistant"][2]
    (tool,) = tool_turn["tool_calls"]
    assert (tool["name"], tool["arguments"], tool["result"]) == (
        "lookup_order",
        {"order_id": "Z42"},
        "in transit",
    )
    events = [e["log_event"] for e in body["transcript"] if "log_event" in e]
    assert events[0]["event"] == "order_processed"
    assert events[0]["metadata"] == {
        "level": "info",
        "message": "Processed order Z42",
        "metadata": {"status": "in transit", "order_id": "Z42"},
    }
    metrics = [
        (m["log_metric"]["name"], m["log_metric"]["value"])
        for m in body["transcript"]
        if "log_metric" in m
    ]
    assert metrics == [("small_talk", "yes"), ("orders_checked", 1), ("system_call_success", True)]

    official = await asyncio.to_thread(
        subprocess.run,
        [
            str(interop_python),
            str(HERE / "official_client.py"),
            server.base_url,
            server.api_key,
            agent["id"],
            call.call_id,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(official.stdout)
    assert seen["listed"] == [call.call_id]
    assert agent["id"] in seen["agents"]
    retrieved = seen["call"]
    assert retrieved["id"] == call.call_id and retrieved["status"] == "completed"
    assert retrieved["telephony_params"]["from"] == "websocket"
    assert [t["text"] for t in retrieved["transcript"] if t["role"] == "user"] == [
        "how are you",
        "where is order Z42",
        "ok bye",
    ]


def _facts(body: dict) -> list:
    """What a call recorded, without ids and times: comparable across agent SDKs."""
    facts = []
    for entry in body["transcript"]:
        if "log_event" in entry:
            facts.append(("event", entry["log_event"]["event"], entry["log_event"]["metadata"]))
        elif "log_metric" in entry:
            facts.append(("metric", entry["log_metric"]["name"], entry["log_metric"]["value"]))
        else:
            tools = [(t["name"], t["arguments"], t["result"]) for t in entry.get("tool_calls", [])]
            facts.append((entry["role"], entry["text"], entry.get("end_reason"), tools))
    return [*facts, (body["status"], body["end_reason"], body["agent_end_reason"])]


async def _script(server, agent_url: str) -> dict:
    with server.client() as http:
        agent = http.post(
            "/agents", json={"name": "twin", "self_hosted_deployment_url": agent_url}
        ).json()
    call = await TextCall.open(server.ws_url, agent["id"], server.api_key)
    await call.reply()
    for line in ("how are you", "where is order Z42", "ok bye"):
        await call.say(line)
        await call.reply()
    await call.closed()
    with server.client() as http:
        return http.get(f"/agents/calls/{call.call_id}").json()


async def test_openline_sdk_and_cartesia_line_agents_record_the_same_facts(server, line_agent_url):
    with agent_process(HERE / "sdk_agent.py") as sdk_agent_url:
        from_sdk = await _script(server, sdk_agent_url)
    from_line = await _script(server, line_agent_url)
    assert len(_facts(from_line)) == 12
    assert _facts(from_sdk) == _facts(from_line)


async def test_line_agent_takes_a_voice_call_unchanged(server, line_agent_url):
    from tests.voice_calls.test_agent_config import rendered_seconds
    from tests.voice_calls.test_conversation import turns, wait_quiet

    with server.client() as http:
        agent = http.post(
            "/agents", json={"name": "Line agent", "self_hosted_deployment_url": line_agent_url}
        ).json()
    client = await VoiceClient.open(server.ws_url, agent["id"], server.api_key)
    assert (await client.wait_for("agent_text"))["text"] == "Welcome to the order desk."
    await wait_quiet(client)
    client.say(speech("how are you today"))
    heard = await client.wait_for("agent_text", count=2, timeout=30)
    assert heard["text"].startswith("Heard: ")
    await wait_quiet(client)
    before_bye = client.audio_seconds
    await client.connection.send(json.dumps({"event": "user_text", "text": "ok bye"}))
    assert (await client.wait_for("agent_text", count=3))["text"] == "Bye now."
    for _ in range(200):
        if client.closed is not None:
            break
        await asyncio.sleep(0.05)
    assert client.closed == (1000, "call ended by agent, reason: user_said_bye")
    # the agent hung up after its last words were spoken, not over them
    assert client.audio_seconds - before_bye >= await rendered_seconds("Bye now.", "en-us") - 0.01
    await client.hang_up()
    with server.client() as http:
        call = http.get(f"/agents/calls/{client.call_id}").json()
    assert [t["role"] for t in turns(call)] == [
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert turns(call)[2]["text"] == heard["text"]
