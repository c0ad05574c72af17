"""A Twilio media stream with a start event of the wrong shape is refused before
authentication with a reason (1008), and a frame nested too deep to decode is dropped
while the call goes on."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
GOOD_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


async def _start(url: str, start: dict) -> tuple[list[dict], int, str]:
    """Send Twilio's opening events; what came back and how the socket closed."""
    received: list[dict] = []
    async with websockets.connect(url) as twilio:
        await twilio.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await twilio.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await asyncio.wait_for(twilio.recv(), 20)))
    return received, closed.value.rcvd.code, closed.value.rcvd.reason


@SQLITE
async def test_a_start_event_of_the_wrong_shape_is_refused_with_a_reason(server):
    url = f"{server.ws_url}/twilio/stream/agent_any"
    key = server.api_key
    cases = [
        ({"customParameters": ["access_token", key]}, "customParameters: Input should be"),
        ({"customParameters": key}, "customParameters: Input should be"),
        ({"customParameters": {"access_token": 5}}, "customParameters.access_token:"),
        ({"customParameters": {"access_token": {"k": key}}}, "customParameters.access_token:"),
        (
            {"customParameters": {"access_token": key}, "mediaFormat": "audio/x-mulaw"},
            "mediaFormat: Input should be",
        ),
    ]
    for start, problem in cases:
        received, code, reason = await _start(url, {"callSid": "CA1"} | start)
        assert code == 1008, (start, code, reason)
        assert reason.startswith("malformed start event: ") and problem in reason, reason
        assert received[-1]["event"] == "error" and problem in received[-1]["message"]
    with server.client() as http:
        assert http.get("/agents/calls").json()["data"] == []


@SQLITE
async def test_a_frame_nested_too_deep_is_dropped_and_the_call_goes_on(server, talker):
    start = {
        "callSid": "CA2",
        "mediaFormat": GOOD_FORMAT,
        "customParameters": {"access_token": server.api_key},
    }
    async with websockets.connect(f"{server.ws_url}/twilio/stream/{talker}") as twilio:
        await twilio.send(json.dumps({"event": "start", "streamSid": "MZ2", "start": start}))
        await twilio.recv()  # the call is up: the greeting is playing
        await twilio.send('{"event": "media", "media": ' + "[" * 3000 + "]" * 3000 + "}")
        await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ2", "stop": {}}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(twilio.recv(), 20)
    with server.client() as http:
        call = http.get("/agents/calls", params={"agent_id": talker}).json()["data"][0]
    assert call["status"] == "completed" and call["end_reason"] == "client_hangup", call
