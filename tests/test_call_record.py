"""The record of a text call says exactly what crossed the wire, paired and timed as it
happened: a raw-protocol agent (tests/support/wire_agent.py) sends scripted frames in
exact orders, and the call is read back by REST."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.calls import TextCall, call_once
from tests.support.voice import turns
from tests.support.wire import message, script, tool


@pytest.fixture
def wire_agent(server, wire_url) -> str:
    return server.create_agent("wire", self_hosted_deployment_url=wire_url)


END_CALL_SDK_ORDER = (  # what the Line SDK's end_call tool puts on the wire, in order
    message("Thanks, goodbye!"),
    {"type": "end_call", "reason": "agent_ended", "responding_to": "$trigger"},
    tool("end_call", {"reason": "agent_ended"}),
    tool("end_call", {"reason": "agent_ended"}, "success"),
    {"type": "log_metric", "name": "form_complete", "value": True},
    {"type": "log_event", "event": "goodbye", "metadata": {"level": "info", "message": "bye"}},
)


@pytest.mark.parametrize("agent_closes", [True, False], ids=["agent-closes", "agent-lingers"])
async def test_what_the_agent_sends_after_end_call_is_kept(server, wire_agent, agent_closes):
    frames = END_CALL_SDK_ORDER + (({"close": 1000},) if agent_closes else ())
    call = await TextCall.open(server.ws_url, wire_agent, server.api_key)
    await call.say(script(*frames))
    assert await call.reply() == "Thanks, goodbye!"
    assert await call.closed() == (1000, "call ended by agent, reason: agent_ended")

    def complete(shown: dict) -> bool:
        return any(entry.get("log_event") for entry in shown["transcript"])

    shown = await call_once(server, call.call_id, complete)
    assert shown["status"] == "completed" and shown["agent_end_reason"] == "agent_ended"
    goodbye = turns(shown)[-1]
    assert goodbye["text"] == "Thanks, goodbye!"
    assert [(t["name"], t["arguments"], t["result"]) for t in goodbye["tool_calls"]] == [
        ("end_call", {"reason": "agent_ended"}, "success")
    ]
    system = [entry for entry in shown["transcript"] if entry["role"] == "system"]
    metrics = {entry["log_metric"]["name"] for entry in system if "log_metric" in entry}
    assert {"form_complete", "system_call_success"} <= metrics
    assert [entry["log_event"]["event"] for entry in system if "log_event" in entry] == ["goodbye"]


async def test_same_name_tool_results_pair_with_their_own_call(server, wire_agent):
    call = await TextCall.open(server.ws_url, wire_agent, server.api_key)
    await call.say(
        script(
            tool("lookup", {"code": "B2"}),
            tool("lookup", {"code": "C3"}),
            tool("lookup", {"code": "C3"}, "C3: in stock"),
            tool("lookup", {"code": "B2"}, "B2: sold out"),
            message("Checked both."),
        )
    )
    assert await call.reply() == "Checked both."
    await call.hang_up()
    shown = await call_once(server, call.call_id, lambda c: c["status"] != "started")
    (answer,) = [turn for turn in turns(shown) if turn["role"] == "assistant"]
    assert [(t["arguments"]["code"], t["result"]) for t in answer["tool_calls"]] == [
        ("B2", "B2: sold out"),
        ("C3", "C3: in stock"),
    ]


async def test_a_text_turn_without_response_end_ends_at_its_last_chunk(server, wire_agent):
    call = await TextCall.open(server.ws_url, wire_agent, server.api_key)
    await call.say(script(message("One moment. "), {"sleep": 0.3}, message("Found it.")))
    assert [await call.reply(), await call.reply()] == ["One moment. ", "Found it."]
    await asyncio.sleep(1.0)  # the caller reads before typing again
    await call.say("thanks")
    assert await call.reply() == "You said: thanks"
    await call.hang_up()
    shown = await call_once(server, call.call_id, lambda c: c["status"] != "started")
    answer, _thanks, reply = turns(shown)[1:]
    assert answer["text"] == "One moment. Found it."
    assert answer["end_timestamp"] == answer["text_chunks"][-1]["start_timestamp"]
    assert answer["end_timestamp"] < _thanks["start_timestamp"] - 0.5
    assert reply["end_timestamp"] == reply["start_timestamp"]  # one chunk, no response_end


async def test_a_late_greeting_is_not_merged_into_the_first_answer(server, wire_agent):
    greeting = [{"sleep": 1.0}, message("How can I help you today?", trigger="call_started")]
    call = await TextCall.open(
        server.ws_url, wire_agent, server.api_key, metadata={"greeting": greeting}
    )
    await call.say("hello there")  # before the greeting has come
    assert await call.reply() == "How can I help you today?"
    assert await call.reply() == "You said: hello there"
    await call.hang_up()
    shown = await call_once(server, call.call_id, lambda c: c["status"] != "started")
    assert [(turn["role"], turn["text"]) for turn in turns(shown)] == [
        ("user", "hello there"),
        ("assistant", "How can I help you today?"),
        ("assistant", "You said: hello there"),
    ]
    greeted, answered = turns(shown)[1:]
    assert greeted["end_reason"] == "tts_completed"
    assert greeted["end_timestamp"] <= answered["start_timestamp"]


async def test_a_frame_nested_thousands_deep_is_refused_and_the_call_goes_on(server, wire_agent):
    deep = '{"type": "log_event", "event": "deep", "metadata": ' + "[" * 3000 + "]" * 3000 + "}"
    call = await TextCall.open(server.ws_url, wire_agent, server.api_key)
    await call.say(script({"raw": deep}, message("Still here.")))
    assert await call.reply() == "Still here."
    await call.hang_up()
    shown = await call_once(server, call.call_id, lambda c: c["status"] != "started")
    assert shown["status"] == "completed" and shown["end_reason"] == "client_hangup"
    assert turns(shown)[-1]["text"] == "Still here."
    with server.client() as http:
        stream = http.get(f"/agents/calls/{call.call_id}/stream", params={"kinds": "signal"})
    assert "nested deeper than 256 levels" in stream.text
