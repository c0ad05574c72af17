"""Spoken turns end to end: offline speech in, recognised, answered, spoken back; a
caller cutting in stops the agent; the recording holds both voices where they were."""

from __future__ import annotations

import wave
from datetime import datetime
from io import BytesIO

import numpy as np
import pytest

from tests.support.talker_agent import LONG_GREETING
from tests.support.voice import SENTENCE, VoiceClient, finish, rms, speech, turns, wait_quiet

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
QUESTION = SENTENCE


def words(text: str) -> set[str]:
    return {word.strip(".,:!?").lower() for word in text.split()}


def heard_events(call: dict) -> list[str]:
    """What the agent logged of its ``agent_speech`` acknowledgements."""
    events = [entry.get("log_event") for entry in call["transcript"]]
    return [
        event["metadata"]["message"]
        for event in events
        if event and event["event"] == "agent_heard"
    ]


def assert_paced(client: VoiceClient, lead_s: float = 0.35) -> None:
    """Agent audio never arrives further ahead of real time than the send-ahead lead."""
    first = None
    received = 0.0
    for at, event in client.events:
        if event["event"] == "clear":
            first = None  # playback restarts after a cut
        if event["event"] != "media_output":
            continue
        first = at if first is None else first
        assert received <= (at - first) + lead_s, (received, at - first)
        received += len(event["media"]["payload"]) * 3 / 4 / 2 / client.rate


@SQLITE
async def test_spoken_question_becomes_a_user_turn_and_gets_a_spoken_answer(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key)
    await client.wait_for("agent_text")  # the greeting: let it finish, do not interrupt
    await wait_quiet(client)
    client.say(speech(QUESTION))
    answer = await client.wait_for("agent_text", count=2, timeout=30)
    assert answer["text"].startswith("You said:")
    assert len(words(answer["text"]) & words(QUESTION)) >= 3, answer["text"]
    before = client.audio_seconds
    await client.wait_for_audio(before + 0.5)  # the answer is spoken, not only sent as text
    await wait_quiet(client)
    call = await finish(client, server)
    assert_paced(client)

    print(call["transcript"])
    greeting, user, reply = turns(call)[:3]
    assert greeting["role"] == "assistant" and greeting["end_reason"] == "tts_completed"
    assert user["role"] == "user"
    assert len(words(user["text"]) & words(QUESTION)) >= 3, user["text"]
    assert 1.5 < user["end_timestamp"] - user["start_timestamp"] < 4.0
    assert user["start_timestamp"] >= greeting["end_timestamp"]
    assert user["vad_buffer_ms"] == 600
    assert 0 <= user["stt_ttfb"] < 5
    assert reply["role"] == "assistant" and reply["end_reason"] == "tts_completed"
    assert reply["text"] == answer["text"]
    assert heard_events(call)[:2] == [greeting["text"], reply["text"]]
    assert reply["start_timestamp"] > user["end_timestamp"]
    assert reply["tts_ttfb"] is not None and 0 <= reply["tts_ttfb"] < 2
    # the answer plays in real time: its turn lasts as long as its audio
    assert reply["end_timestamp"] - reply["start_timestamp"] > 0.8
    metrics = [
        entry["log_metric"]
        for entry in call["transcript"]
        if entry["role"] == "system" and entry.get("log_metric")
    ]
    assert any(m["name"] == "system_text_to_speech_ttfb" for m in metrics)


@SQLITE
async def test_caller_cutting_in_clears_playback_and_the_turn_keeps_what_was_heard(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key, long=True)
    await client.wait_for("agent_text")
    await client.wait_for_audio(2.0)  # two seconds into a long greeting
    client.say(speech("stop talking please"))
    await client.wait_for("clear", timeout=10)
    answer = await client.wait_for("agent_text", count=2, timeout=30)
    assert answer["text"].startswith("You said:")
    await wait_quiet(client)
    call = await finish(client, server)

    greeting, user, reply = turns(call)[:3]
    assert greeting["end_reason"] == "interrupted"
    assert greeting["text"] and LONG_GREETING.startswith(greeting["text"])
    assert greeting["generated_text"] == LONG_GREETING  # what the agent said is not lost
    assert "generated_text" not in reply  # heard whole
    # the agent was told what was heard of it (agent_speech), not what it sent
    assert heard_events(call)[0] == greeting["text"]
    assert len(greeting["text"]) < len(LONG_GREETING) / 2  # only the part heard before the cut
    assert greeting["end_timestamp"] <= user["start_timestamp"] + 0.5
    assert user["role"] == "user" and user["text"]
    assert reply["role"] == "assistant" and reply["end_reason"] == "tts_completed"
    # the caller was sent little more than what played before the cut
    clear_at = next(at for at, event in client.events if event["event"] == "clear")
    late_audio = [e for at, e in client.events if e["event"] == "media_output" and at > clear_at]
    assert late_audio  # the answer after the cut is spoken


@pytest.mark.parametrize("settings", ["sqlite", "postgresql"], indirect=True)
async def test_recording_is_stereo_caller_left_agent_right_on_the_call_timeline(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    client.say(speech(QUESTION))
    await client.wait_for("agent_text", count=2, timeout=30)
    await wait_quiet(client)
    call = await finish(client, server)
    with server.client() as http:
        reply = http.get(f"/agents/calls/{client.call_id}/audio")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "audio/wav"
    with wave.open(BytesIO(reply.content)) as recording:
        assert recording.getnchannels() == 2
        rate = recording.getframerate()
        frames = np.frombuffer(recording.readframes(recording.getnframes()), dtype=np.int16)
    left, right = frames[0::2], frames[1::2]

    start = datetime.fromisoformat(call["start_time"])
    end = datetime.fromisoformat(call["end_time"])
    assert abs(len(left) / rate - (end - start).total_seconds()) < 0.1

    def window(channel, start_s, end_s):
        return channel[int(start_s * rate) : int(end_s * rate)]

    greeting, user, answer = turns(call)[:3]
    # the caller's words are on the left only; the agent's on the right only
    caller = (user["start_timestamp"] + 0.2, user["end_timestamp"] - 0.2)
    agent = (answer["start_timestamp"] + 0.1, answer["end_timestamp"] - 0.1)
    assert rms(window(left, *caller)) > 300
    assert rms(window(right, *caller)) < 30
    assert rms(window(right, *agent)) > 300
    assert rms(window(left, *agent)) < 30
    greeting_audio = (greeting["start_timestamp"] + 0.1, greeting["end_timestamp"] - 0.1)
    assert rms(window(right, *greeting_audio)) > 300


@SQLITE
async def test_an_agent_with_recording_off_leaves_no_recording(server, talker):
    with server.client() as http:
        http.patch(f"/agents/{talker}", json={"recording_enabled": False}).raise_for_status()
    client = await VoiceClient.open(server.ws_url, talker, server.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    call = await finish(client, server)
    assert call["transcript"][0]["text"] == "Hello, this is the voice test line."
    with server.client() as http:
        reply = http.get(f"/agents/calls/{client.call_id}/audio")
    assert reply.status_code == 404
    assert not list((server.settings.data_dir).rglob("*.wav"))


@SQLITE
async def test_hanging_up_mid_sentence_keeps_only_what_was_heard(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key, long=True)
    await client.wait_for("agent_text")
    await client.wait_for_audio(1.5)
    call = await finish(client, server)
    (greeting,) = turns(call)
    assert greeting["end_reason"] == "call_ended"
    assert greeting["text"] and LONG_GREETING.startswith(greeting["text"])
    assert len(greeting["text"]) < len(LONG_GREETING) / 2
    assert greeting["generated_text"] == LONG_GREETING


@SQLITE
async def test_a_caller_who_stops_streaming_mid_turn_is_heard_as_silent(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key)
    await client.wait_for("agent_text")
    await wait_quiet(client)
    client.push_to_talk = True  # from now on: the words, and no silence after them
    client.say(speech(QUESTION))
    answer = await client.wait_for("agent_text", count=2, timeout=30)
    assert answer["text"].startswith("You said:")
    call = await finish(client, server)
    user = turns(call)[1]
    assert user["role"] == "user" and 1.5 < user["end_timestamp"] - user["start_timestamp"] < 4.0
