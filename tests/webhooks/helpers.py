"""Making hooked calls and checking what reached the receiver."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime

from tests.support.calls import TextCall
from tests.support.receiver import Receiver

SECRET = "whsec_test_secret_123"
# Seconds before each attempt: the production shape (0, 5 s, 5 min, …) shrunk to fit a test.
FAST_SCHEDULE = (0.0, 0.2, 0.4, 0.8) + (1.0,) * 16
# A paused endpoint is probed at least every half second.
FAST = {
    "webhook_retry_schedule_s": FAST_SCHEDULE,
    "webhook_timeout_s": 1.0,
    "webhook_probe_max_s": 0.5,
}

# What one `standard_call` announces, in order.
STANDARD = [
    "call_started",
    "call_turn",
    "call_turn",
    "call_turn",
    "call_turn",
    "call_turn",
    "call_completed",
    "post_call_analysis",
]


def hook_agent(server, url: str, agent_url: str, secret: str = SECRET) -> tuple[dict, dict]:
    """A webhook for ``url`` and an agent (the scripted one) that uses it."""
    with server.client() as http:
        created = http.post("/agents/webhooks", json={"url": url, "secret": secret})
        assert created.status_code == 201, created.text
    webhook = created.json()
    return webhook, hooked_agent(server, webhook["id"], agent_url)


def hooked_agent(server, webhook_id: str, agent_url: str, name: str = "hooked") -> dict:
    """An agent (the scripted one at ``agent_url``) whose call events go to the webhook."""
    with server.client() as http:
        agent = http.post(
            "/agents",
            json={"name": name, "webhook_id": webhook_id, "self_hosted_deployment_url": agent_url},
        )
    assert agent.status_code == 201, agent.text
    return agent.json()


async def standard_call(server, agent_id: str) -> str:
    """Greeting, a tool call, goodbye: eight events (``STANDARD``)."""
    call = await TextCall.open(server.ws_url, agent_id, server.api_key)
    await call.reply()
    await call.say("tool K1")
    await call.reply()
    await call.say("bye")
    await call.reply()
    await call.closed()
    return call.call_id


async def calls_at_once(server, agent_id: str, count: int) -> list[str]:
    return list(await asyncio.gather(*(standard_call(server, agent_id) for _ in range(count))))


async def wait_for(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting{': ' + what if what else ''}"
        await asyncio.sleep(0.05)


def delivery_log(server, webhook_id: str, call_id: str | None = None) -> list[dict]:
    params = {"limit": 100} | ({"call_id": call_id} if call_id else {})
    with server.client() as http:
        reply = http.get(f"/agents/webhooks/{webhook_id}/deliveries", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def webhook_state(server, webhook_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/agents/webhooks/{webhook_id}").json()


async def all_arrived(
    server, receiver: Receiver, webhook_id: str, call_ids: list[str], timeout: float = 20.0
) -> None:
    """Wait until every call's events reached the receiver and are logged as delivered."""

    def done() -> bool:
        if any(len(receiver.of_call(c)) < len(STANDARD) for c in call_ids):
            return False
        log = delivery_log(server, webhook_id)
        return all(d["status"] == "delivered" for d in log if d["call_id"] in call_ids)

    await wait_for(done, timeout, f"events of {call_ids}")


def check_delivered_once_in_order(
    server, receiver: Receiver, webhook_id: str, call_ids: list[str], interrupted: int = 0
) -> None:
    """Every event of every call arrived, in order per call; a webhook-id came more than
    once only as a retry (the log shows that many attempts, give or take ``interrupted``
    attempts cut off by a stopping openline, which are not logged); nothing was queued
    twice."""
    seen = Counter(receiver.seen_ids)
    unlogged = 0
    for call_id in call_ids:
        got = receiver.of_call(call_id)
        assert [e["type"] for e in got] == STANDARD, (call_id, [e["type"] for e in got])
        turns = [(e["turn"]["role"], e["turn"]["text"]) for e in got if e["type"] == "call_turn"]
        assert turns[1:] == [
            ("user", "tool K1"),
            ("assistant", "Order K1 has shipped."),
            ("user", "bye"),
            ("assistant", "Goodbye!"),
        ]
        stamps = [datetime.fromisoformat(e["timestamp"]) for e in got]
        assert stamps == sorted(stamps), "arrived out of the order they were queued in"
        log = delivery_log(server, webhook_id, call_id)
        assert {d["id"] for d in log} == {e["_webhook_id"] for e in got}  # each queued once
        for delivery in log:
            assert delivery["status"] == "delivered", delivery
            assert 200 <= delivery["attempts"][-1]["status_code"] < 300
            unlogged += max(0, seen[delivery["id"]] - len(delivery["attempts"]))
    assert unlogged <= interrupted, "a webhook-id arrived more often than it was attempted"
    assert receiver.refused == []
    assert receiver.unsigned == 0


def retried(server, webhook_id: str) -> list[dict]:
    """Deliveries that took more than one attempt."""
    return [d for d in delivery_log(server, webhook_id) if len(d["attempts"]) > 1]
