"""A phone call through the Twilio Media Streams bridge: µ-law 8 kHz both ways."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np
import pytest
import websockets

from openline.voice.audio import mulaw_encode
from tests.support.voice import SENTENCE, speech

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
FRAME = 160  # 20 ms at 8 kHz, as Twilio sends
QUESTION = SENTENCE


async def stream_mulaw(connection, samples, stream_sid: str) -> None:
    """Send audio in 20 ms media events at real-time pace, as Twilio does."""
    next_at = time.monotonic()
    for chunk_number, offset in enumerate(range(0, len(samples), FRAME)):
        payload = base64.b64encode(mulaw_encode(samples[offset : offset + FRAME])).decode()
        media = {"track": "inbound", "chunk": str(chunk_number), "payload": payload}
        await connection.send(
            json.dumps({"event": "media", "streamSid": stream_sid, "media": media})
        )
        next_at += 0.02
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def answered_while_silent(server, agent_id: str, twilio, within_s: float = 60) -> None:
    """Stream silence, half a second at a time, until the call records an assistant turn
    after the caller's."""
    quiet = np.zeros(4000, np.int16)
    roles: list[str] = []
    deadline = time.monotonic() + within_s
    with server.client() as http:
        while time.monotonic() < deadline:
            await stream_mulaw(twilio, quiet, "MZ123")
            listed = http.get("/agents/calls", params={"agent_id": agent_id, "limit": 1})
            call = http.get(f"/agents/calls/{listed.json()['data'][0]['id']}").json()
            roles = [t["role"] for t in call["transcript"] if t["role"] != "system"]
            if roles[:3] == ["assistant", "user", "assistant"]:
                return
    raise AssertionError(f"no answer to the caller within {within_s:g} s: {roles}")


@SQLITE
async def test_a_twilio_media_stream_completes_a_call(server, talker):
    url = f"{server.ws_url}/twilio/stream/{talker}"
    received: list[dict] = []
    async with websockets.connect(url) as twilio:
        await twilio.send(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        start = {
            "streamSid": "MZ123",
            "accountSid": "AC1",
            "callSid": "CA999",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"access_token": server.api_key, "from": "+15550001"},
        }
        await twilio.send(json.dumps({"event": "start", "streamSid": "MZ123", "start": start}))

        async def listen() -> None:
            async for frame in twilio:
                received.append(json.loads(frame))

        listener = asyncio.create_task(listen())
        silence = np.zeros(8000 * 3, np.int16)  # the greeting plays meanwhile
        await stream_mulaw(twilio, silence, "MZ123")
        await stream_mulaw(twilio, speech(QUESTION, 8000), "MZ123")
        # A line stays open while the agent answers: silence goes on until the reply is
        # recorded (how soon depends on the machine's speed, not on the call).
        await answered_while_silent(server, talker, twilio)
        await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ123", "stop": {}}))
        await asyncio.sleep(0.5)
        listener.cancel()
    with server.client() as http:
        calls = http.get("/agents/calls", params={"agent_id": talker}).json()["data"]
        call = http.get(f"/agents/calls/{calls[0]['id']}").json()

    media = [event for event in received if event["event"] == "media"]
    assert media and all(event["streamSid"] == "MZ123" for event in media)
    assert any(event["event"] == "mark" for event in received)
    assert call["status"] == "completed" and call["end_reason"] == "client_hangup"
    assert call["telephony_params"]["connection_type"] == "twilio"
    assert call["telephony_params"]["call_sid"] == "CA999"
    assert call["telephony_params"]["from"] == "+15550001"
    roles = [turn["role"] for turn in call["transcript"] if turn["role"] != "system"]
    assert roles[:3] == ["assistant", "user", "assistant"]
    user = next(turn for turn in call["transcript"] if turn["role"] == "user")
    # telephone-band audio recognised with a wideband model: expect some words, not all
    assert set(user["text"].split()) & set(QUESTION.split()), user["text"]


@SQLITE
async def test_twilio_without_a_key_is_refused(server, talker):
    url = f"{server.ws_url}/twilio/stream/{talker}"
    async with websockets.connect(url) as twilio:
        start = {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {}}
        await twilio.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
        error = json.loads(await twilio.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await twilio.recv()
    assert "API key" in error["message"]
    assert closed.value.rcvd.code == 1008
