"""openline stops in the middle of a retry series (one attempt in flight) and a new
process on the same database picks the pending deliveries up at once: nothing lost."""

from __future__ import annotations

import pytest

from openline import ids
from openline.domain.time import utcnow
from openline.store.calls import CallRepo
from openline.store.db import make_engine
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


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_call_left_open_by_a_crash_is_announced_failed_and_analysed(
    settings, agent_url, receiver
):
    fast = settings.model_copy(update=FAST | {"analysis_retry_s": 0.5})
    with openline_server(fast) as first:
        webhook, agent = hook_agent(first, receiver.url, agent_url)
    # what a killed process leaves behind: a call still `started`
    call_id = ids.new_id(ids.CALL)
    engine = make_engine(fast.sqlalchemy_url)
    CallRepo(engine).create(
        {
            "id": call_id,
            "agent_id": agent["id"],
            "agent_name": agent["name"],
            "status": "started",
            "start_time": utcnow(),
            "telephony_params": {"from": "websocket", "to": agent["id"]},
            "metadata": {},
            "rev": 0,
        }
    )
    engine.dispose()

    with openline_server(fast) as second:
        await wait_for(
            lambda: (
                [e["type"] for e in receiver.receiver.of_call(call_id)]
                == ["call_failed", "post_call_analysis"]
            ),
            what="call_failed, then the analysis",
        )
        with second.client() as http:
            call = http.get(f"/agents/calls/{call_id}").json()
        log = delivery_log(second, webhook["id"], call_id)
    assert sorted((d["event_type"], d["status"]) for d in log) == [
        ("call_failed", "delivered"),
        ("post_call_analysis", "delivered"),
    ]
    failed = receiver.receiver.of_call(call_id)[0]
    assert failed["call"]["status"] == "failed" and failed["end_reason"] == "error"
    assert "stopped" in failed["call"]["error_message"]
    assert call["status"] == "failed" and "stopped" in call["error_message"]
    assert call["summary"]
