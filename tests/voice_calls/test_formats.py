"""Agent audio comes back in the call's own format, in 100 ms frames."""

from __future__ import annotations

import base64

import pytest

from tests.support.talker_agent import GREETING
from tests.support.voice import VoiceClient, finish, rendered_seconds


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize("rate", [24_000, 44_100])
async def test_agent_audio_is_in_the_calls_format(server, talker, rate):
    client = await VoiceClient.open(server.ws_url, talker, server.api_key, rate=rate)
    await client.wait_for("agent_done")  # after the greeting's last audio
    await finish(client, server)
    frames = [len(base64.b64decode(e["media"]["payload"])) for e in client.seen("media_output")]
    assert set(frames[:-1]) == {rate // 10 * 2}  # 100 ms of 16-bit mono at the call's rate
    assert abs(client.audio_seconds - await rendered_seconds(GREETING, "en-us")) < 0.02
