"""An answer's latency in a real voice call, against what the caller heard: espeak-ng
speech in, a scripted agent (tests/support/wire_agent.py) that waits a known time before
answering, espeak-ng speech out, and the stereo recording to measure the silence."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.support.voice import (
    SENTENCE,
    VoiceClient,
    finish,
    last_sound,
    recording,
    speech,
    turns,
    wait_quiet,
)
from tests.support.wire import message

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
AGENT_DELAYS_S = (0.25, 0.7)  # how long the agent thinks before each answer
END_OF_TURN_S = 0.6  # the settings' end_of_turn_ms
LOUD = 500  # a sample this loud is sound, as tests/support/voice.last_sound hears it


def first_sound(channel: np.ndarray, rate: int, start_s: float) -> float | None:
    """Call time of the first audible sample of ``channel`` from ``start_s`` on."""
    begin = int(start_s * rate)
    loud = np.flatnonzero(np.abs(channel[begin:]) > LOUD)
    return None if not len(loud) else (begin + loud[0]) / rate


def answer(delay_s: float, text: str) -> list[dict]:
    return [{"sleep": delay_s}, message(text), {"type": "response_end"}]


@SQLITE
async def test_each_answers_latency_adds_up_and_is_the_silence_the_caller_heard(server, wire_url):
    agent = server.create_agent(
        "latency", self_hosted_deployment_url=wire_url, stt_provider="pocketsphinx"
    )
    answers = [answer(delay, f"Answer number {n}.") for n, delay in enumerate(AGENT_DELAYS_S)]
    client = await VoiceClient.open(server.ws_url, agent, server.api_key, answers=answers)
    for count in (1, 2):
        client.say(speech(SENTENCE))
        await client.wait_for("agent_text", count=count, timeout=60)
        await wait_quiet(client)
        await asyncio.sleep(0.3)  # the caller draws breath
    call = await finish(client, server)

    caller, agent_audio, rate = recording(server, client.call_id)
    spoken = turns(call)
    assert [turn["role"] for turn in spoken] == ["user", "assistant", "user", "assistant"]
    for line, reply, delay in zip(spoken[0::2], spoken[1::2], AGENT_DELAYS_S, strict=True):
        latency, parts = reply["latency"], reply["latency_parts"]
        assert sum(parts.values()) == pytest.approx(latency, abs=0.02), reply
        # each part is where the time went: the known ones are where they were spent
        # the detector waits END_OF_TURN_S from what it took for the end of speech: a
        # frame either side of the caller's last loud sound, or a few frames after it
        assert END_OF_TURN_S - 0.06 <= parts["endpointing"] <= END_OF_TURN_S + 0.25, parts
        assert delay <= parts["agent"] <= delay + 0.1, parts
        assert parts["stt"] > 0 and parts["tts"] > 0 and parts["playout"] >= 0, parts
        # to the agent's voice, which is where its turn starts or after (leading silence)
        assert latency >= round(reply["start_timestamp"] - line["end_timestamp"], 3)

        # the recording: the caller's last sound of the line → the agent's first of the answer
        caller_stopped = last_sound(caller, rate, line["start_timestamp"], reply["start_timestamp"])
        agent_began = first_sound(agent_audio, rate, reply["start_timestamp"])
        assert caller_stopped is not None and agent_began is not None
        heard_silence = agent_began - caller_stopped
        assert latency == pytest.approx(heard_silence, abs=0.05), (reply, heard_silence)
