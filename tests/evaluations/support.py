"""Metrics made and attached over the API, and a call whose analysis is waited for."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import TEST_KEY
from tests.support.calls import TextCall

HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}


def attach_metric(
    base_url: str, agent_id: str, name: str, prompt: str, rule: dict | None = None
) -> dict:
    """Make a metric (an LLM one unless ``rule``) and attach it to the agent."""
    body = {"name": name, "prompt": prompt} | ({"rule": rule} if rule else {})
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as http:
        made = http.post("/agents/metrics", json=body)
        assert made.status_code == 201, made.text
        attached = http.post(f"/agents/{agent_id}/metrics/{made.json()['id']}")
        assert attached.status_code == 204, attached.text
    return made.json()


async def order_call(ws_url: str, agent_id: str, order: str) -> str:
    """Greeting, a tool call about ``order``, goodbye (the agent hangs up)."""
    call = await TextCall.open(ws_url, agent_id, TEST_KEY)
    await call.reply()
    await call.say(f"tool {order}")
    await call.reply()
    await call.say("bye")
    await call.closed()
    return call.call_id


async def analysed(base_url: str, call_id: str, timeout_s: float = 60) -> dict:
    """The call once its analysis is stored (its summary: every metric result is final)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, timeout=30) as http:
        while True:
            call = (await http.get(f"/agents/calls/{call_id}")).json()
            if call.get("summary") is not None:
                return call
            assert time.monotonic() < deadline, f"call {call_id} was never analysed"
            await asyncio.sleep(0.1)


def results_of(base_url: str, call_id: str) -> dict[str, dict]:
    """A call's judged results by metric name."""
    params = {"call_id": call_id, "limit": 100}
    reply = httpx.get(f"{base_url}/agents/metrics/results", headers=HEADERS, params=params)
    assert reply.status_code == 200, reply.text
    return {result["metricName"]: result for result in reply.json()["data"]}
