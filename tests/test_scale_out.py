"""Two openline processes on one PostgreSQL serve the same agents and calls: a call made
through one is readable, and live-tailed, through the other."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import TEST_KEY
from tests.support.calls import Tail, TextCall
from tests.support.servers import free_port, http_process


@contextmanager
def server_process(database_url: str, data_dir) -> Iterator[str]:
    port = free_port()
    env = {
        "OPENLINE_DATABASE_URL": database_url,
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_DATA_DIR": str(data_dir),
    }
    args = [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"]
    with http_process(args, port, env) as base_url:
        yield base_url


@contextmanager
def two_processes(database_url: str, tmp_path, agent_url: str) -> Iterator[tuple[str, str, str]]:
    """Two openline processes on one database, and an agent made through the first:
    (first URL, second URL, agent id)."""
    with (
        server_process(database_url, tmp_path / "a") as server_a,
        server_process(database_url, tmp_path / "b") as server_b,
    ):
        agent = httpx.post(
            f"{server_a}/agents",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            json={"name": "shared", "self_hosted_deployment_url": agent_url},
        ).json()
        yield server_a, server_b, agent["id"]


async def test_two_processes_share_agents_calls_and_live_tails(pg_url, agent_url, tmp_path):
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with two_processes(pg_url, tmp_path, agent_url) as (server_a, server_b, agent_id):
        assert httpx.get(f"{server_b}/agents/{agent_id}", headers=headers).status_code == 200

        call = await TextCall.open("ws" + server_a[4:], agent_id, TEST_KEY)
        await call.reply()
        tail = Tail(server_b, call.call_id, headers)
        seen = tail.seen
        await asyncio.sleep(0.5)
        await call.say("tool Q9")
        await call.reply()
        for _ in range(50):  # B learns of A's writes through LISTEN/NOTIFY
            if any(f.get("event") == "order_processed" for _, f in seen):
                break
            await asyncio.sleep(0.1)
        assert any(f.get("event") == "order_processed" for _, f in seen)
        await call.say("bye")
        await call.closed()
        assert await tail.finished()
        assert seen[-1][0] == "end" and seen[-1][1]["end_reason"] == "agent_hangup"

        from_b = httpx.get(f"{server_b}/agents/calls/{call.call_id}", headers=headers).json()
        assert [t["text"] for t in from_b["transcript"] if t["role"] == "user"] == [
            "tool Q9",
            "bye",
        ]
        listed = httpx.get(
            f"{server_b}/agents/calls", headers=headers, params={"agent_id": agent_id}
        ).json()
        assert [c["id"] for c in listed["data"]] == [call.call_id]
