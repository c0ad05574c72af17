"""openline killed mid-call: the recording written so far is a playable WAV, served
once openline is back (the call itself is marked failed)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import wave
from io import BytesIO

import httpx
import numpy as np

from openline.bundled_agent import EXAMPLES
from tests.support.servers import free_port, wait_http
from tests.support.voice import VoiceClient, rms


def start_openline(port: int, data_dir) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "openline", "up", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its example agent dies with it, as on a machine crash
    )


async def test_a_crash_mid_call_leaves_a_playable_recording(tmp_path):
    port, data_dir = free_port(), tmp_path / "data"
    base_url = f"http://127.0.0.1:{port}"
    process = start_openline(port, data_dir)
    try:
        wait_http(base_url + "/status", timeout_s=60, process=process)
        key = (data_dir / "credentials").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        examples = httpx.get(f"{base_url}/agents", headers=headers).json()["summaries"]
        (example,) = [agent for agent in examples if agent["name"] == EXAMPLES[0].name]
        client = await VoiceClient.open(f"ws://127.0.0.1:{port}", example["id"], key)
        await client.wait_for_audio(2.5)  # the example agent's greeting is playing
        await asyncio.sleep(1.0)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    await client.hang_up()

    process = start_openline(port, data_dir)
    try:
        wait_http(base_url + "/status", timeout_s=60, process=process)
        call = httpx.get(f"{base_url}/agents/calls/{client.call_id}", headers=headers).json()
        audio = httpx.get(f"{base_url}/agents/calls/{client.call_id}/audio", headers=headers)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    assert call["status"] == "failed"
    assert audio.status_code == 200
    with wave.open(BytesIO(audio.content)) as recording:
        assert recording.getnchannels() == 2
        frames = recording.readframes(recording.getnframes())
        seconds = recording.getnframes() / recording.getframerate()
    assert 1.0 <= seconds <= 4.5  # flushed up to about a second before the crash
    right = np.frombuffer(frames, dtype=np.int16)[1::2]
    assert rms(right) > 100  # the greeting made it to disk
