"""A receiver that misbehaves loses nothing: every event of every call (three at once)
arrives, in order per call, and a webhook-id comes twice only as a retry.

One openline per database serves this module, with the retry schedule shrunk from
(0, 5 s, 5 min, …) to (0, 0.2 s, 0.4 s, 0.8 s, 1 s, …) and a 1 s timeout.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.receiver import FlakyProxy, Receiver, ReceiverServer
from tests.webhooks.helpers import (
    SECRET,
    all_arrived,
    calls_at_once,
    check_delivered_once_in_order,
    delivery_log,
    hook_agent,
    retried,
    standard_call,
    wait_for,
)

CALLS = 3  # at once: per-call order must hold while calls interleave


def attempts(server, webhook_id: str) -> list[dict]:
    return [a for d in delivery_log(server, webhook_id) for a in d["attempts"]]


async def test_receiver_down_then_up(fault_server, agent_url):
    down = ReceiverServer(Receiver(SECRET))  # its port is chosen; nothing listens there yet
    webhook, agent = hook_agent(fault_server, down.url, agent_url)
    call_ids = await calls_at_once(fault_server, agent["id"], CALLS)
    await wait_for(lambda: len(attempts(fault_server, webhook["id"])) >= 2 * CALLS)
    failed = attempts(fault_server, webhook["id"])
    assert all(a["status_code"] is None and "Connect" in a["error"] for a in failed), failed
    assert down.receiver.seen_ids == []
    down.start()
    try:
        await all_arrived(fault_server, down.receiver, webhook["id"], call_ids)
        check_delivered_once_in_order(fault_server, down.receiver, webhook["id"], call_ids)
        assert len(retried(fault_server, webhook["id"])) >= CALLS  # each call's first event
    finally:
        down.stop()


async def test_server_errors_are_retried(fault_server, agent_url, receiver):
    receiver.receiver.script = [{"status": 500}, {"status": 502}, {"status": 500}] * 2
    webhook, agent = hook_agent(fault_server, receiver.url, agent_url)
    call_ids = await calls_at_once(fault_server, agent["id"], CALLS)
    await all_arrived(fault_server, receiver.receiver, webhook["id"], call_ids)
    check_delivered_once_in_order(fault_server, receiver.receiver, webhook["id"], call_ids)
    codes = [a["status_code"] for a in attempts(fault_server, webhook["id"])]
    assert codes.count(500) == 4 and codes.count(502) == 2
    failed = [a for a in attempts(fault_server, webhook["id"]) if a["status_code"] == 500]
    assert failed[0]["error"] == "HTTP 500" and failed[0]["response_excerpt"] == "no"
    assert len(receiver.receiver.seen_ids) == len(set(receiver.receiver.seen_ids)) + 6
    assert len(receiver.receiver.seen_ids) == len(codes)  # every attempt reached it once


async def test_timeouts_are_retried_with_the_same_webhook_id(fault_server, agent_url, receiver):
    # Past the 1 s timeout: openline gives up and retries while the receiver still works
    # on the first try, which it then also accepts: a duplicate, with the same webhook-id.
    receiver.receiver.script = [{"sleep": 1.6}, {}, {"sleep": 1.6}]
    webhook, agent = hook_agent(fault_server, receiver.url, agent_url)
    call_ids = await calls_at_once(fault_server, agent["id"], CALLS)
    await all_arrived(fault_server, receiver.receiver, webhook["id"], call_ids)
    check_delivered_once_in_order(fault_server, receiver.receiver, webhook["id"], call_ids)
    timed_out = [a for a in attempts(fault_server, webhook["id"]) if a["status_code"] is None]
    assert len(timed_out) >= 2
    assert all(a["error"] == "timed out after 1s" for a in timed_out)
    assert all(a["duration_ms"] < 1500 for a in timed_out)
    await asyncio.sleep(0.7)  # the first tries finish late and are deduplicated
    seen = receiver.receiver.seen_ids
    assert len(seen) > len(set(seen))


async def test_slow_and_huge_bodies(fault_server, agent_url, receiver):
    # A 200 whose body trickles past the deadline is a failure (the exchange has one
    # deadline); a huge body is read only up to the excerpt cap.
    receiver.receiver.script = [{"trickle": 40, "every": 0.1}, {"big": 5_000_000}]
    webhook, agent = hook_agent(fault_server, receiver.url, agent_url)
    call_id = await standard_call(fault_server, agent["id"])
    await all_arrived(fault_server, receiver.receiver, webhook["id"], [call_id])
    check_delivered_once_in_order(fault_server, receiver.receiver, webhook["id"], [call_id])
    first = delivery_log(fault_server, webhook["id"], call_id)[-1]  # newest first
    assert first["event_type"] == "call_started"
    trickled, huge = first["attempts"][:2]
    assert trickled["error"] == "timed out after 1s" and trickled["duration_ms"] < 1500
    assert huge["status_code"] == 200 and huge["response_excerpt"] == "x" * 2048


async def test_connection_resets(fault_server, agent_url, receiver):
    proxy = FlakyProxy(receiver.port, ["close", "reset", "close", "reset", "reset"]).start()
    try:
        webhook, agent = hook_agent(fault_server, proxy.url, agent_url)
        call_ids = await calls_at_once(fault_server, agent["id"], CALLS)
        await all_arrived(fault_server, receiver.receiver, webhook["id"], call_ids)
        check_delivered_once_in_order(fault_server, receiver.receiver, webhook["id"], call_ids)
    finally:
        proxy.stop()
    assert proxy.broken == 5
    errors = [a["error"] for a in attempts(fault_server, webhook["id"]) if a["error"]]
    assert len(errors) >= 5, errors
    assert all(a.split(":")[0] in ("RemoteProtocolError", "ReadError") for a in errors), errors


async def test_retry_after_is_honoured(fault_server, agent_url, receiver):
    receiver.receiver.script = [{"status": 503, "headers": {"Retry-After": "1"}}]
    webhook, agent = hook_agent(fault_server, receiver.url, agent_url)
    call_id = await standard_call(fault_server, agent["id"])
    await all_arrived(fault_server, receiver.receiver, webhook["id"], [call_id], timeout=30)
    check_delivered_once_in_order(fault_server, receiver.receiver, webhook["id"], [call_id])
    first_id = receiver.receiver.seen_ids[0]
    tried, again = receiver.receiver.times_of(first_id)
    assert again - tried >= 0.95  # the schedule alone would have retried after 0.2 s
    (delayed,) = retried(fault_server, webhook["id"])
    assert [a["status_code"] for a in delayed["attempts"]] == [503, 200]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # Private ranges are allowed here (the receivers are on loopback), plain http to
        # them is not; tests/webhooks/test_targets.py refuses them with the setting off.
        ("http://10.0.0.1/x", "plain http is only allowed to loopback"),
        ("http://hooks.example.com/x", "plain http is only allowed to loopback; use https"),
        ("https://user:pw@hooks.example.com/", "must not carry credentials"),
        ("ftp://hooks.example.com/", "must be an http:// or https:// URL with a host"),
    ],
)
def test_unsafe_targets_are_refused(fault_server, url, says):
    with fault_server.client() as http:
        refused = http.post("/agents/webhooks", json={"url": url})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"] == f"url: {says}" or says in refused.text
        fine = http.post("/agents/webhooks", json={"url": "https://hooks.example.com/in"})
        assert fine.status_code == 201
        moved = http.patch(f"/agents/webhooks/{fine.json()['id']}", json={"url": url})
        assert moved.status_code == 422 and says in moved.text
        for local in ("http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"):
            # Plain http is fine to loopback, once the operator allows private targets.
            assert http.post("/agents/webhooks", json={"url": local}).status_code == 201
