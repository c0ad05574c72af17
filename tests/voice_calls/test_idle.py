"""A silent open microphone does not keep a call alive; pings are answered."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.servers import openline_server
from tests.support.voice import VoiceClient

SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@SQLITE
async def test_streaming_silence_ends_the_call_as_inactive(settings, talker_url):
    with openline_server(settings.model_copy(update={"idle_timeout_s": 3.0})) as server:
        with server.client() as http:
            agent = http.post(
                "/agents", json={"name": "talker", "self_hosted_deployment_url": talker_url}
            ).json()
        client = await VoiceClient.open(server.ws_url, agent["id"], server.api_key)
        await client.connection.send(json.dumps({"event": "ping", "stream_id": "v1"}))
        pong = await client.wait_for("pong", timeout=5)
        assert pong["stream_id"] == "v1"
        for _ in range(200):  # the microphone keeps streaming silence all along
            if client.closed is not None:
                break
            await asyncio.sleep(0.05)
        assert client.closed == (1000, "call ended: inactivity")
        with server.client() as http:
            call = http.get(f"/agents/calls/{client.call_id}").json()
        await client.hang_up()
    assert call["end_reason"] == "inactivity"
    # the greeting played and was recorded before the line went quiet
    assert [t["role"] for t in call["transcript"] if t["role"] != "system"] == ["assistant"]
