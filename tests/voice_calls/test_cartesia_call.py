"""A voice call whose agent hears and speaks through Cartesia (Ink and Sonic, through
Cartesia's SDK) against the loopback fake of Cartesia's API; the server is given its
address with ``cartesia_base_url``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openline.voice.cartesia import DEFAULT_VOICE, SONIC_RATE
from tests.support.servers import RunningServer, openline_server
from tests.support.talker_agent import GREETING
from tests.support.voice import SENTENCE, VoiceClient, finish, speech, turns, wait_quiet
from tests.voice.fake_cartesia import API_KEY, FakeCartesia, serve

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
HEARD = "when do you open tomorrow morning"  # what the fake's Ink makes of the caller


@pytest.fixture
def cartesia() -> Iterator[FakeCartesia]:
    with serve(FakeCartesia(transcript=HEARD)) as fake:
        yield fake


@pytest.fixture
def cartesia_server(settings, cartesia) -> Iterator[RunningServer]:
    configured = settings.model_copy(
        update={"cartesia_api_key": API_KEY, "cartesia_base_url": cartesia.url}
    )
    with openline_server(configured) as running:
        yield running


def cartesia_agent(server: RunningServer, talker_url: str, **fields: str) -> str:
    return server.create_agent(
        "cartesia talker",
        self_hosted_deployment_url=talker_url,
        stt_provider="cartesia",
        tts_provider="cartesia",
        **fields,
    )


@SQLITE
async def test_a_call_hears_and_speaks_through_cartesia(cartesia_server, talker_url, cartesia):
    server = cartesia_server
    agent = cartesia_agent(server, talker_url)
    client = await VoiceClient.open(server.ws_url, agent, server.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    greeting_s = client.audio_seconds
    said = speech(SENTENCE)
    client.say(said)
    answer = await client.wait_for("agent_text", count=2, timeout=30)
    assert answer["text"] == f"You said: {HEARD}"  # the agent got Ink's transcript
    await client.wait_for_audio(greeting_s + 0.5)
    await wait_quiet(client)
    call = await finish(client, server)

    # Sonic was asked for each message, in the default voice and Cartesia's PCM
    assert [r["transcript"] for r in cartesia.tts_requests] == [GREETING, answer["text"]]
    assert {r["voice"]["id"] for r in cartesia.tts_requests} == {DEFAULT_VOICE}
    assert {r["output_format"]["sample_rate"] for r in cartesia.tts_requests} == {SONIC_RATE}
    # and all it rendered reached the caller (24 kHz → the call's 16 kHz)
    greeting_audio, answer_audio = (len(audio) / SONIC_RATE for audio in cartesia.rendered)
    assert abs(greeting_s - greeting_audio) < 0.01
    assert abs(client.audio_seconds - greeting_audio - answer_audio) < 0.01

    # Ink got the caller's one utterance: the speech, plus the silence that ended the turn
    (request,) = cartesia.stt_requests
    assert (request["model"], request["language"]) == ("ink-whisper", "en")
    spoken_s = len(said) / 16_000
    assert spoken_s - 0.3 < request["duration"] < spoken_s + 1.2

    greeting, user, reply = turns(call)[:3]
    assert (greeting["role"], greeting["text"]) == ("assistant", GREETING)
    assert greeting["tts_ttfb"] is not None and greeting["tts_ttfb"] >= 0
    assert (user["role"], user["text"]) == ("user", HEARD)
    assert user["stt_ttfb"] is not None
    assert (reply["role"], reply["text"]) == ("assistant", answer["text"])
    assert reply["end_reason"] == "tts_completed"
    assert reply["tts_ttfb"] is not None and reply["tts_ttfb"] >= 0
    assert cartesia.refused == [] and client.seen("error") == []


@SQLITE
async def test_a_voice_cartesia_does_not_have_is_reported_and_the_call_goes_on(
    cartesia_server, talker_url, cartesia
):
    server = cartesia_server
    missing = "11111111-2222-4333-8444-555555555555"
    agent = cartesia_agent(server, talker_url, tts_voice=missing)
    client = await VoiceClient.open(server.ws_url, agent, server.api_key)
    error = await client.wait_for("error", timeout=20)
    assert error["code"] == "voice_pipeline"
    assert error["message"].startswith("text-to-speech: Cartesia Sonic: Voice not found")
    assert missing in error["message"]
    assert cartesia.refused == [("/tts/bytes", 404, "voice_not_found")]
    assert client.audio_seconds == 0

    client.say(speech(SENTENCE))  # the caller is still heard
    await client.wait_for("error", count=2, timeout=30)  # the answer cannot be spoken either
    call = await finish(client, server)
    assert [t["text"] for t in turns(call) if t["role"] == "user"] == [HEARD]
    assert len(cartesia.stt_requests) == 1
