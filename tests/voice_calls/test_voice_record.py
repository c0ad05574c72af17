"""What a voice call's record says against what was played: turns end where their audio
did (agents without ``response_end``), and a turn the caller cut off keeps what the
agent generated. A raw-protocol agent (tests/support/wire_agent.py) scripts the wire."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.voice import VoiceClient, finish, last_sound, recording, turns, wait_quiet
from tests.support.wire import message

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture
def wire_agent(server, wire_url) -> str:
    # A tone for each character: the agent's audio is exactly where its text says.
    return server.create_agent(
        "wire", self_hosted_deployment_url=wire_url, tts_provider="tone", stt_provider="passthrough"
    )


async def type_line(client: VoiceClient, *frames: dict | str) -> None:
    text = frames[0] if isinstance(frames[0], str) else json.dumps(list(frames))
    await client.connection.send(json.dumps({"event": "user_text", "text": text}))


@SQLITE
async def test_a_voice_turn_without_response_end_ends_where_its_audio_does(server, wire_agent):
    greeting = [message("Hello there.", trigger="call_started")]
    client = await VoiceClient.open(server.ws_url, wire_agent, server.api_key, greeting=greeting)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    await type_line(client, message("One moment. "), {"sleep": 0.3}, message("Found it."))
    await client.wait_for("agent_text", count=3)
    await wait_quiet(client)
    await asyncio.sleep(1.5)  # the caller thinks before answering
    await type_line(client, "thanks")
    await client.wait_for("agent_text", count=4)
    await wait_quiet(client)
    call = await finish(client, server)

    _, agent, rate = recording(server, client.call_id)
    spoken = turns(call)
    assert [turn["role"] for turn in spoken] == [
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    for turn, following in zip(spoken, [*spoken[1:], None], strict=True):
        if turn["role"] != "assistant":
            continue
        until = following["start_timestamp"] if following else len(agent) / rate
        audio_ended = last_sound(agent, rate, turn["start_timestamp"], until)
        assert audio_ended is not None, turn
        assert abs(turn["end_timestamp"] - audio_ended) < 0.1, (turn, audio_ended)
    assert spoken[2]["text"] == "One moment. Found it."


@SQLITE
async def test_a_typing_caller_keeps_the_text_it_was_shown(server, wire_agent):
    client = await VoiceClient.open(server.ws_url, wire_agent, server.api_key)
    first = "This first sentence goes on for a good few seconds of tone. "
    await type_line(client, message(first), message("This one never plays."))
    assert (await client.wait_for("agent_text"))["text"] == first
    await client.wait_for_audio(0.5)
    await type_line(client, "wait")
    await client.wait_for("clear")
    await client.wait_for("agent_text", count=2)
    await wait_quiet(client)
    call = await finish(client, server)

    cut = turns(call)[1]
    assert cut["end_reason"] == "interrupted"
    assert cut["text"] == first  # shown whole as agent_text, though not all of it played
    assert cut["generated_text"] == first + "This one never plays."
    assert turns(call)[3]["text"] == "You said: wait"


@SQLITE
async def test_a_call_whose_voice_cannot_run_goes_on_by_text(server, wire_url):
    # Cartesia's TTS with no Cartesia key configured: no speech can be synthesized here.
    agent = server.create_agent(
        "no voice", self_hosted_deployment_url=wire_url, tts_provider="cartesia"
    )
    greeting = [message("Hello there.", trigger="call_started")]
    client = await VoiceClient.open(server.ws_url, agent, server.api_key, greeting=greeting)
    warning = await client.wait_for("warning")
    assert warning["code"] == "voice_unavailable"
    assert "Cartesia API key" in warning["message"], warning
    assert (await client.wait_for("agent_text"))["text"] == "Hello there."
    await type_line(client, "still there?")
    assert (await client.wait_for("agent_text", count=2))["text"] == "You said: still there?"
    await asyncio.sleep(0.5)  # the microphone streams on meanwhile
    call = await finish(client, server)

    assert client.seen("error") == [] and len(client.seen("warning")) == 1
    assert call["status"] == "completed" and call["end_reason"] == "client_hangup"
    assert [turn["text"] for turn in turns(call)] == [
        "Hello there.",
        "still there?",
        "You said: still there?",
    ]


@SQLITE
async def test_blank_chunks_of_an_answer_keep_its_spacing(server, wire_agent):
    client = await VoiceClient.open(server.ws_url, wire_agent, server.api_key)
    await type_line(client, message("Hello"), message(" "), message("world."))
    await client.wait_for("agent_text", count=2)
    await wait_quiet(client)
    call = await finish(client, server)
    answer = turns(call)[1]
    assert answer["text"] == "Hello world."
    assert [chunk["text"] for chunk in answer["text_chunks"]] == ["Hello", " world."]
