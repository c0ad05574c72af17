"""Per-call logs: logging/loguru lines travel on the call that emitted them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from openline.sdk._outbox import Outbox
from openline.sdk.testing import AgentProcess, CallClient

AGENT = Path(__file__).parent / "agents" / "log_agent.py"
LINES = 200


def run_call(ws_url: str, tag: str, barrier: threading.Barrier, out: dict) -> None:
    with CallClient(ws_url, call_id=f"call_{tag}") as call:
        call.start()
        barrier.wait(timeout=10)  # both calls speak at the same moment
        call.send_turn(tag)
        call.until_closed()
        out[tag] = call


@pytest.fixture(scope="module")
def agent():
    with AgentProcess(AGENT, env={"LINES": str(LINES)}) as proc:
        yield proc


def test_two_concurrent_calls_get_their_own_lines_none_lost(agent):
    httpx.post(f"{agent.url}/chats", json={"call_id": "x"}).raise_for_status()
    out: dict[str, CallClient] = {}
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=run_call, args=(agent.ws_url, tag, barrier, out))
        for tag in ("alpha", "bravo")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    spans = {
        tag: [f["timestamp"] for f in call.frames if f["type"] == "log_record"]
        for tag, call in out.items()
    }
    # the two calls really ran at the same time in the one process
    assert min(spans["alpha"]) < max(spans["bravo"])
    assert min(spans["bravo"]) < max(spans["alpha"])

    for tag, other in (("alpha", "bravo"), ("bravo", "alpha")):
        call = out[tag]
        records = [f for f in call.frames if f["type"] == "log_record"]
        messages = [r["message"] for r in records]
        assert not [m for m in messages if other in m], "a line from the other call leaked in"
        assert [m for m in messages if " line " in m] == [f"{tag} line {i}" for i in range(LINES)]
        assert f"{tag} from a thread (call call_{tag})" in messages
        assert f"{tag} from loguru" in messages
        error = next(r for r in records if r["message"] == f"{tag} caught an error")
        assert error["level"] == "error"
        assert "ZeroDivisionError" in error["exc_text"]
        assert not [m for m in messages if "debug is below" in m]
        assert not [m for m in messages if "outside any call" in m]
        first = records[0]
        assert first["level"] == "info"
        assert first["logger"] == "log_agent"
        assert isinstance(first["timestamp"], float)
        assert first["exc_text"] is None
        assert call.close_code == 1000
    # lines outside calls still reach the deployment log (stderr)
    assert "module level line, outside any call" in agent.output
    assert "pre-call hook outside any call" in agent.output


def test_works_without_loguru():
    with (
        AgentProcess(AGENT, env={"LINES": "3", "BLOCK_LOGURU": "1"}) as proc,
        CallClient(proc.ws_url) as call,
    ):
        call.start()
        call.send_turn("solo")
        call.until_closed()
    messages = [f["message"] for f in call.frames if f["type"] == "log_record"]
    assert messages[:3] == ["solo line 0", "solo line 1", "solo line 2"]
    assert "solo from loguru" not in messages


async def test_log_queue_is_bounded_and_drops_are_reported():
    sent: list[str] = []
    release = asyncio.Event()

    async def slow_send(text: str) -> None:
        await release.wait()
        sent.append(text)

    async def close(code: int) -> None:
        sent.append(f"close {code}")

    outbox = Outbox(slow_send, close, max_logs=10)
    writer = asyncio.create_task(outbox.run())
    outbox.post({"type": "message", "content": "first"})
    await asyncio.sleep(0.01)  # the writer is now stuck sending "first"
    for i in range(25):
        outbox.post_log({"type": "log_record", "message": f"line {i}"})
    outbox.post({"type": "message", "content": "never dropped"})
    outbox.close(1000)
    release.set()
    await asyncio.wait_for(writer, 5)
    assert sum('"log_record"' in s and "line " in s for s in sent) == 10
    assert any("dropped 15 log records" in s for s in sent)
    assert any("never dropped" in s for s in sent)
    assert sent[-1] == "close 1000"
