"""Credentials in URLs: only where a browser cannot send a header, and there a
short-lived access token (``POST /access-token``, as Cartesia's) in place of the key."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from cartesia import Cartesia
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from openline.config import Settings
from tests.conftest import TEST_KEY
from tests.support.servers import RunningServer, openline_server


@pytest.fixture
def sqlite_server(tmp_path) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path / "data", api_key=TEST_KEY, start_example_agent=False)
    with openline_server(settings) as running:
        yield running


def first_reply(server: RunningServer, agent_id: str, credential: str) -> dict:
    """What the call websocket answers a start event with, given ``?access_token=``."""
    url = f"{server.ws_url}/agents/stream/{agent_id}?access_token={credential}"
    with connect(url) as socket:
        with contextlib.suppress(ConnectionClosed):  # a refusal may close it first
            socket.send(json.dumps({"event": "start", "stream_id": "s1"}))
        return json.loads(socket.recv(20))


def test_rest_routes_want_the_key_in_a_header(sqlite_server):
    base = sqlite_server.base_url
    for method, path in [("GET", "/agents"), ("POST", "/agents"), ("GET", "/agents/calls")]:
        keyed = httpx.request(method, base + path, params={"access_token": TEST_KEY}, json={})
        assert keyed.status_code == 401, (method, path)
    assert httpx.get(base + "/agents", headers={"X-API-Key": TEST_KEY}).status_code == 200


def test_the_official_client_mints_a_token_that_opens_calls(sqlite_server, agent_url):
    agent_id = sqlite_server.create_agent("a", self_hosted_deployment_url=agent_url)
    client = Cartesia(api_key=TEST_KEY, base_url=sqlite_server.base_url)
    token = client.access_token.create(grants={"agent": True}, expires_in=60).token
    assert TEST_KEY not in token
    assert first_reply(sqlite_server, agent_id, token)["event"] == "ack"

    # The token stands in for the key in a URL, nowhere else.
    as_header = {"Authorization": f"Bearer {token}"}
    assert httpx.get(sqlite_server.base_url + "/agents", headers=as_header).status_code == 401
    with pytest.raises(Exception, match="401"):
        Cartesia(api_key=token, base_url=sqlite_server.base_url).access_token.create()
    # Also served under /agents, beside the other agents routes.
    with sqlite_server.client() as http:
        minted = http.post("/agents/access-token", json={}).json()["token"]
    assert first_reply(sqlite_server, agent_id, minted)["event"] == "ack"


def test_tokens_without_the_agent_grant_forged_or_expired_are_refused(sqlite_server, agent_url):
    agent_id = sqlite_server.create_agent("a", self_hosted_deployment_url=agent_url)
    with sqlite_server.client() as http:
        tts_only = http.post("/access-token", json={"grants": {"tts": True}}).json()["token"]
        short = http.post("/access-token", json={"expires_in": 1}).json()["token"]
        assert http.post("/access-token", json={"expires_in": 3601}).status_code == 422
    refused = first_reply(sqlite_server, agent_id, tts_only)
    assert refused["event"] == "error" and "grant" in refused["message"]
    body, mac = short.rsplit(".", 1)
    forged = body + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    assert "invalid or expired" in first_reply(sqlite_server, agent_id, forged)["message"]
    time.sleep(1.2)  # the short token's minute is a second here
    assert "invalid or expired" in first_reply(sqlite_server, agent_id, short)["message"]
