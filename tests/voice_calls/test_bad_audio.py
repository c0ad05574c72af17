"""Bad audio gets a clear error; the call goes on, and what was recorded stays."""

from __future__ import annotations

import base64
import json

import pytest
import websockets

from tests.support.calls import TextCall, ended
from tests.support.voice import VoiceClient

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


async def errors_after(client: VoiceClient, frame: str, count: int) -> dict:
    await client.connection.send(frame)
    return await client.wait_for("error", count=count, timeout=10)


@SQLITE
async def test_broken_media_is_answered_with_errors_and_the_call_goes_on(server, talker):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key)
    await client.wait_for("agent_text")

    def media(payload: str) -> str:
        return json.dumps(
            {"event": "media_input", "stream_id": "v1", "media": {"payload": payload}}
        )

    not_base64 = await errors_after(client, media("this is not base64!"), 1)
    assert not_base64["code"] == "invalid_audio" and "base64" in not_base64["message"]
    odd = await errors_after(client, media(base64.b64encode(b"\x01\x02\x03").decode()), 2)
    assert odd["code"] == "invalid_audio" and "even" in odd["message"]
    missing = await errors_after(client, json.dumps({"event": "media_input", "media": {}}), 3)
    assert "payload" in missing["message"]
    giant = await errors_after(client, media("A" * (2 << 20)), 4)
    assert "cap" in giant["message"]

    # still a live call: the agent is heard, the caller can type a turn
    await client.connection.send(json.dumps({"event": "user_text", "text": "are you there"}))
    reply = await client.wait_for("agent_text", count=2, timeout=20)
    assert reply["text"] == "You said: are you there"
    await client.hang_up()
    call = await ended(server, client.call_id)
    with server.client() as http:
        audio = http.get(f"/agents/calls/{client.call_id}/audio")
    assert call["status"] == "completed" and call["end_reason"] == "client_hangup"
    assert [t["role"] for t in call["transcript"] if t["role"] != "system"][:3] == [
        "assistant",
        "user",
        "assistant",
    ]
    assert audio.status_code == 200 and len(audio.content) > 44


@SQLITE
@pytest.mark.parametrize(
    ("first", "problem"),
    [
        (
            {"event": "start", "config": {"input_format": "opus_48000"}},
            "input_format",
        ),
        ({"event": "media_input", "media": {"payload": "AAAA"}}, "start event"),
    ],
)
async def test_a_wrong_format_or_audio_before_start_is_refused(server, talker, first, problem):
    url = f"{server.ws_url}/agents/stream/{talker}?access_token={server.api_key}"
    async with websockets.connect(url) as connection:
        await connection.send(json.dumps(first))
        error = json.loads(await connection.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await connection.recv()
    assert error["event"] == "error" and problem in error["message"]
    assert closed.value.rcvd.code == 1008


@SQLITE
async def test_audio_in_a_text_call_is_refused_with_a_hint(server, talker):
    call = await TextCall.open(server.ws_url, talker, server.api_key)
    await call.send({"event": "media_input", "media": {"payload": "AAAA"}})
    error = await call.next_event("error")
    assert error["code"] == "unsupported_media" and "input_format" in error["message"]
    await call.say("still here")
    while await call.reply() != "You said: still here":
        pass  # the greeting may come first; a missing answer times out
    await call.hang_up()
