"""The API key a browser puts in ?access_token= never reaches the server log."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.conftest import TEST_KEY
from tests.support.calls import TextCall
from tests.support.servers import free_port, wait_http


async def test_access_tokens_are_masked_in_the_server_log(tmp_path, agent_url):
    port = free_port()
    env = os.environ | {"OPENLINE_API_KEY": TEST_KEY, "OPENLINE_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/status", process=process)
        agent = httpx.post(
            f"http://127.0.0.1:{port}/agents?access_token={TEST_KEY}",
            json={"name": "a", "self_hosted_deployment_url": agent_url},
        ).json()
        call = await TextCall.open(f"ws://127.0.0.1:{port}", agent["id"], TEST_KEY)
        await call.reply()
        await call.hang_up()
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=20)
    assert "access_token=***" in log
    assert TEST_KEY not in log
