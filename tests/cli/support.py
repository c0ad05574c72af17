"""Making real calls for CLI tests to read back."""

from __future__ import annotations

import asyncio
import time

from tests.support.calls import TextCall


async def _call(server, agent_id: str, lines: list[str]) -> str:
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()  # the greeting
    for line in lines:
        await call.say(line)
        if line in ("bye", "crash"):
            await call.closed()
            return call.call_id
        await call.reply()
    await call.hang_up()
    return call.call_id


def make_call(server, agent_id: str, *lines: str) -> str:
    """A finished text call saying ``lines``; returns its id once it is recorded as ended."""
    call_id = asyncio.run(_call(server, agent_id, list(lines)))
    with server.client() as http:
        for _ in range(200):
            if http.get(f"/agents/calls/{call_id}").json()["status"] != "started":
                return call_id
            time.sleep(0.02)
    raise AssertionError(f"{call_id} never ended")
