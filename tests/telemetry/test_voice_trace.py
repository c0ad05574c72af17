"""A spoken call's trace: speech recognition under the caller's turn, the agent's
response and speech synthesis under the agent's, at the times the record gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp import children, offset, whole_trace
from tests.support.servers import HERE, agent_process
from tests.support.voice import SENTENCE, VoiceClient, finish, speech, turns, wait_quiet

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
MS = 0.0011  # the record keeps milliseconds


@pytest.fixture(scope="module")
def talker_url() -> Iterator[str]:
    with agent_process(HERE / "talker_agent.py") as url:
        yield url


@SQLITE
async def test_a_voice_call_traces_recognition_response_and_speech(otlp, traced, talker_url):
    agent_id = traced.create_agent("talker", self_hosted_deployment_url=talker_url)
    client = await VoiceClient.open(traced.ws_url, agent_id, traced.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    client.say(speech(SENTENCE))
    await client.wait_for("agent_text", count=2, timeout=30)
    await wait_quiet(client)
    record = await finish(client, traced)
    spans = whole_trace(otlp.received, record["trace_id"])
    [root] = [s for s in spans if s.name == "call"]
    greeting, question, answer = turns(record)[:3]
    greeting_span, question_span, answer_span = children(spans, root)[:3]
    assert (greeting_span.name, question_span.name, answer_span.name) == (
        "turn assistant",
        "turn user",
        "turn assistant",
    )

    # Recognition: from the end of the caller's speech to its transcript.
    [stt] = children(spans, question_span)
    assert stt.name == "stt"
    assert offset(stt, root) == pytest.approx(question["end_timestamp"], abs=MS)
    assert stt.seconds == pytest.approx(question["stt_ttfb"], abs=MS)
    assert stt.attributes["openline.stt.vad_buffer_ms"] == question["vad_buffer_ms"]

    # The agent's answer: its response from the transcript to its text, then TTS from
    # the text to the first audio the caller heard (the turn's start).
    response, tts = children(spans, answer_span)
    assert (response.name, tts.name) == ("invoke_agent", "tts")
    assert response.start_ns == stt.end_ns
    assert response.end_ns == tts.start_ns
    assert tts.end_ns == answer_span.start_ns
    assert tts.seconds == pytest.approx(answer["tts_ttfb"], abs=MS)
    assert answer_span.attributes["openline.turn.tts_ttfb_s"] == answer["tts_ttfb"]
    # The greeting answers the call's start.
    greeting_response = children(spans, greeting_span)[0]
    assert greeting_response.name == "invoke_agent"
    assert greeting_response.start_ns == root.start_ns
    assert offset(greeting_span, root) == pytest.approx(greeting["start_timestamp"], abs=MS)
    # The agent's `agent_heard` events land on the turns they were logged in, or the call.
    heard = [name for s in spans for name, _, _ in s.events if name == "agent_heard"]
    assert len(heard) >= 2
