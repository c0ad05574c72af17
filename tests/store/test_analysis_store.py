"""Two processes may both analyse a call (each sweep finds it pending): the first summary
stored wins and is announced once; asked for explicitly, a call is analysed again."""

from __future__ import annotations

from sqlalchemy import select

from openline import ids
from openline.domain.time import utcnow
from openline.store import schema
from openline.store.calls import CallRepo
from openline.store.delivery_queue import outbox_row


def ended_call(calls: CallRepo) -> str:
    call_id = ids.new_id(ids.CALL)
    started = {"type": "call_started", "call_id": call_id, "agent_id": "agent_1"}
    calls.create(
        {
            "id": call_id,
            "agent_id": "agent_1",
            "status": "completed",
            "start_time": utcnow(),
            "end_time": utcnow(),
            "analysis_status": "pending",
            "rev": 3,
        },
        [outbox_row("agent_webhook_1", 0, started)],
    )
    return call_id


def analyses_queued(engine, call_id: str) -> list[str]:
    d = schema.webhook_deliveries.c
    query = select(d.payload).where(d.call_id == call_id, d.event_type == "post_call_analysis")
    with engine.connect() as connection:
        return [payload["analysis"]["summary"] for payload in connection.execute(query).scalars()]


def test_the_first_automatic_analysis_wins_and_is_announced_once(engine):
    calls = CallRepo(engine)
    call_id = ended_call(calls)
    assert calls.save_analysis(call_id, "first", unless_done=True)
    assert not calls.save_analysis(call_id, "second", unless_done=True)
    calls.analysis_failed(call_id, "a third process timed out")  # too late to matter
    call = calls.get(call_id)
    assert (call["summary"], call["analysis_status"]) == ("first", "done")
    assert analyses_queued(engine, call_id) == ["first"]

    assert calls.save_analysis(call_id, "asked again")  # an explicit re-analysis
    assert calls.get(call_id)["summary"] == "asked again"
    assert sorted(analyses_queued(engine, call_id)) == ["asked again", "first"]
