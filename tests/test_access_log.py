"""No credential in a URL reaches the server log, however the URL spells it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from openline.api.access_log import mask
from tests.conftest import TEST_KEY
from tests.support.calls import TextCall
from tests.support.servers import free_port, wait_http

SPELLINGS = [
    "access_token={}",
    "access%5Ftoken={}",  # percent-encoded underscore: the example
    "%61ccess_token={}",
    "access%255Ftoken={}",  # encoded twice
    "ACCESS-TOKEN={}",
    "x=1&api_key={}&y=2",
    "next=%2Fconsole&token={}",
]


async def test_credentials_in_urls_are_masked_in_the_server_log(tmp_path, agent_url):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"OPENLINE_API_KEY": TEST_KEY, "OPENLINE_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    try:
        wait_http(f"{base}/status", process=process)
        agent = httpx.post(
            f"{base}/agents",
            headers=headers,
            json={"name": "a", "self_hosted_deployment_url": agent_url},
        ).json()
        token = httpx.post(f"{base}/access-token", headers=headers, json={}).json()["token"]
        for spelling in SPELLINGS:
            for secret in (TEST_KEY, token, TEST_KEY.replace("_", "%5F")):
                httpx.get(f"{base}/agents/calls?{spelling.format(secret)}")
        httpx.get(f"{base}/agents/{TEST_KEY}")  # a key pasted into the path
        for credential in (TEST_KEY, token):
            call = await TextCall.open(f"ws://127.0.0.1:{port}", agent["id"], credential)
            await call.reply()
            await call.hang_up()
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=20)
    assert "access_token=***" in log and "access%5Ftoken=***" in log
    assert "GET /agents/calls?x=1&api_key=***&y=2" in log  # the rest stays readable
    for secret in (TEST_KEY, token, TEST_KEY.replace("_", "%5F"), token[len("ol_at_") :]):
        assert secret not in log


def test_mask_leaves_other_parameters_and_text_alone():
    assert (
        mask("GET /agents/calls?limit=5&agent_id=agent_1")
        == "GET /agents/calls?limit=5&agent_id=agent_1"
    )
    assert mask("tool_call_0123456789abcdefghij done") == "tool_call_0123456789abcdefghij done"
    assert mask('"GET /x?csrf=abc HTTP/1.1"') == '"GET /x?csrf=*** HTTP/1.1"'
