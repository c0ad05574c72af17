"""``openline up`` on a fresh data dir: a key is made and saved, the example agent is
started and registered, and it can be called at once."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.support.calls import TextCall
from tests.support.servers import free_port, wait_http


async def test_up_starts_the_platform_with_a_callable_example_agent(tmp_path):
    port = free_port()
    data_dir = tmp_path / "fresh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "openline", "up", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(base_url + "/status", timeout_s=60, process=process)
        key = (data_dir / "credentials").read_text().strip()
        assert oct((data_dir / "credentials").stat().st_mode & 0o777) == "0o600"
        headers = {"Authorization": f"Bearer {key}"}
        agents = httpx.get(f"{base_url}/agents", headers=headers).json()["summaries"]
        (example,) = [a for a in agents if a["name"] == "Order status (example)"]

        call = await TextCall.open(f"ws://127.0.0.1:{port}", example["id"], key)
        assert "order number" in await call.reply()
        await call.say("where is A123?")
        assert "A123 is shipped" in await call.reply()
        await call.say("bye")
        assert "Goodbye" in await call.reply()
        assert await call.closed() == (1000, "call ended by agent, reason: agent_ended")
        body = httpx.get(f"{base_url}/agents/calls/{call.call_id}", headers=headers).json()
        events = [e["log_event"]["event"] for e in body["transcript"] if "log_event" in e]
        assert "order_processed" in events
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert f"API key (shown once; saved in {data_dir / 'credentials'}): {key}" in stderr
    assert f"Example agent ready: openline chat {example['id']}" in stderr
