"""A receiver that goes down while calls go on, and comes back: nothing is lost.

Real parts throughout: openline on loopback, calls over its websocket, a real receiver
process taken down and started again on the same port. While it is down the endpoint
is paused (its circuit opens) and is probed rather than hammered, and it is not
disabled; calls that start meanwhile are queued; once it is back every event of every
call arrives, once, in order per call.

The retry schedule here waits an hour from the third attempt: the events that failed
while the receiver was down must not be made to wait it out once it is back, even one
that fails again in the catch-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.servers import RunningServer, openline_server
from tests.webhooks.conftest import backend_settings
from tests.webhooks.helpers import (
    all_arrived,
    calls_at_once,
    check_delivered_once_in_order,
    delivery_log,
    hook_agent,
    wait_for,
    webhook_state,
)

HOUR_LATER = (0.0, 0.2) + (3600.0,) * 6


@pytest.fixture(scope="module", params=BACKENDS)
def outage_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp(f"outage-{request.param}")
    with (
        backend_settings(
            request.param,
            data_dir,
            webhook_retry_schedule_s=HOUR_LATER,
            webhook_timeout_s=1.0,
            webhook_probe_max_s=0.5,
        ) as settings,
        openline_server(settings) as running,
    ):
        yield running


async def test_a_receiver_outage_during_calls_loses_nothing(outage_server, agent_url, receiver):
    webhook, agent = hook_agent(outage_server, receiver.url, agent_url)
    call_ids: list[str] = []
    calling = True
    states: set[str] = set()

    async def keep_calling() -> None:
        while calling:
            call_ids.extend(await calls_at_once(outage_server, agent["id"], 2))

    async def calls_after(count: int) -> None:
        await wait_for(lambda: len(call_ids) >= count, timeout=60, what=f"{count} calls")

    def state() -> str:
        found = webhook_state(outage_server, webhook["id"])["state"]
        states.add(found)
        return found

    caller = asyncio.create_task(keep_calling())
    try:
        await calls_after(2)
        await asyncio.to_thread(receiver.stop)  # the calls go on meanwhile
        down_from = len(call_ids)
        await wait_for(lambda: state() == "paused", what="the endpoint paused")
        await calls_after(down_from + 4)  # calls made start to end while it is down
        paused = webhook_state(outage_server, webhook["id"])
        assert paused["enabled"] and paused["backlog"]["pending"] > 0
        assert paused["next_probe_at"] is not None
        # The first request it gets back is a probe; the next, in the catch-up, fails.
        receiver.receiver.script = [{}, {"status": 503}]
        await asyncio.to_thread(receiver.start)
        await calls_after(len(call_ids) + 2)
    finally:
        calling = False
        await caller
    await all_arrived(outage_server, receiver.receiver, webhook["id"], call_ids, timeout=60)
    check_delivered_once_in_order(outage_server, receiver.receiver, webhook["id"], call_ids)
    assert "disabled" not in states | {state()}
    assert state() == "healthy"
    logs = [delivery_log(outage_server, webhook["id"], call_id) for call_id in call_ids]
    assert [a["status_code"] for log in logs for d in log for a in d["attempts"]].count(503) == 1
    assert webhook_state(outage_server, webhook["id"])["backlog"]["pending"] == 0
