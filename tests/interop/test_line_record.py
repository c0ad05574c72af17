"""The record of calls to an unchanged cartesia-line 0.2.18 agent (what every Line example
pins; it never sends ``response_end``): what it sends after end_call is kept, and turns
end where their output did, in text and voice calls."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.calls import TextCall, call_once
from tests.support.servers import agent_process
from tests.support.voice import VoiceClient, finish, last_sound, recording, turns, wait_quiet

HERE = Path(__file__).parent
pytestmark = pytest.mark.interop
SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def line_url(line_0_2_18_python):
    with agent_process(HERE / "line_record_agent.py", python=str(line_0_2_18_python)) as url:
        yield url


@pytest.fixture
def line_agent(server, line_url) -> str:
    return server.create_agent(
        "Line 0.2.18", self_hosted_deployment_url=line_url, tts_provider="tone"
    )


async def test_a_line_agents_end_call_tool_call_and_last_metric_are_recorded(server, line_agent):
    call = await TextCall.open(server.ws_url, line_agent, server.api_key)
    assert await call.reply() == "Hello there."
    await call.say("bye")
    assert await call.reply() == "Thanks, goodbye!"
    assert await call.closed() == (1000, "call ended by agent, reason: agent_ended")

    def complete(shown: dict) -> bool:
        return any(
            (entry.get("log_metric") or {}).get("name") == "form_complete"
            for entry in shown["transcript"]
        )

    shown = await call_once(server, call.call_id, complete)
    goodbye = turns(shown)[-1]
    assert goodbye["text"] == "Thanks, goodbye!"
    assert [(t["name"], t["arguments"], t["result"]) for t in goodbye["tool_calls"]] == [
        ("end_call", {"reason": "caller is done"}, "success")
    ]
    assert complete(shown)


async def test_a_line_agents_text_turn_ends_at_its_last_chunk(server, line_agent):
    call = await TextCall.open(server.ws_url, line_agent, server.api_key)
    assert await call.reply() == "Hello there."
    await call.say("check")
    assert [await call.reply(), await call.reply()] == ["One moment. ", "Found it."]
    await asyncio.sleep(1.0)  # the caller reads before typing again
    await call.say("thanks")
    assert await call.reply() == "You said: thanks"
    await call.hang_up()
    shown = await call_once(server, call.call_id, lambda c: c["status"] != "started")
    greeting, _, answer, thanks, _ = turns(shown)
    for turn in (greeting, answer):
        assert turn["end_timestamp"] == turn["text_chunks"][-1]["start_timestamp"]
    assert answer["text"] == "One moment. Found it."
    assert answer["end_timestamp"] < thanks["start_timestamp"] - 0.5


@SQLITE
async def test_a_line_agents_voice_turns_end_where_their_audio_does(server, line_agent):
    client = await VoiceClient.open(server.ws_url, line_agent, server.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    for count, line in ((3, "check"), (4, "thanks")):
        await asyncio.sleep(1.0)  # the caller thinks before speaking
        await client.connection.send(json.dumps({"event": "user_text", "text": line}))
        await client.wait_for("agent_text", count=count)
        await wait_quiet(client)
    call = await finish(client, server)

    _, agent, rate = recording(server, client.call_id)
    spoken = turns(call)
    assert [turn["role"] for turn in spoken] == [
        "assistant", "user", "assistant", "user", "assistant",
    ]  # fmt: skip
    for turn, following in zip(spoken, [*spoken[1:], None], strict=True):
        if turn["role"] == "assistant":
            until = following["start_timestamp"] if following else len(agent) / rate
            audio_ended = last_sound(agent, rate, turn["start_timestamp"], until)
            assert audio_ended is not None, turn
            assert abs(turn["end_timestamp"] - audio_ended) < 0.1, (turn, audio_ended)
