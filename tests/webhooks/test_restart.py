"""openline stops in the middle of a retry series (one attempt in flight) and a new
process on the same database picks the pending deliveries up at once: nothing lost."""

from __future__ import annotations

from tests.support.servers import openline_server
from tests.webhooks.helpers import (
    FAST,
    all_arrived,
    calls_at_once,
    check_delivered_once_in_order,
    delivery_log,
    hook_agent,
    wait_for,
)


async def test_pending_deliveries_resume_after_a_restart(settings, agent_url, receiver):
    fast = settings.model_copy(update=FAST)  # same data dir (SQLite) or pg_url as the next
    events = receiver.receiver
    events.fail_with, events.delay_s = 503, 0.3
    with openline_server(fast) as first:
        webhook, agent = hook_agent(first, receiver.url, agent_url)
        call_ids = await calls_at_once(first, agent["id"], 2)
        await wait_for(lambda: len(events.seen_ids) >= 4, what="a few failed attempts")
        await wait_for(lambda: events.in_handler > 0, what="an attempt in flight")
        # leaving the block stops this openline while that attempt waits for its answer

    tried = len(events.seen_ids)
    events.fail_with, events.delay_s = None, 0.0
    with openline_server(fast) as second:
        # Well within the 60 s claim lease: the stopped process handed its claim back.
        await all_arrived(second, events, webhook["id"], call_ids, timeout=15)
        # The attempt cut off by the stop reached the receiver but is not in the log.
        check_delivered_once_in_order(second, events, webhook["id"], call_ids, interrupted=2)
        log = delivery_log(second, webhook["id"])
        assert len(log) == 16
        failed_first = [d for d in log if d["attempts"][0]["status_code"] == 503]
        assert len(failed_first) >= 2 and len(events.seen_ids) > tried
