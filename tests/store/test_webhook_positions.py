"""One position rule for every delivery of a call: ``call_started`` first, a delivery
announcing a fact at that fact's rev, the call's end and its analysis after everything so
far (the highest position and fact rev), whoever writes them."""

from __future__ import annotations

from sqlalchemy import select

from openline import ids
from openline.domain.calls import LogMetric, Role, Turn, TurnEndReason
from openline.domain.webhook_events import turn_event
from openline.harness.announcer import CallAnnouncer
from openline.store import schema
from openline.store.calls import CallRepo
from openline.store.delivery_queue import outbox_row, queue
from openline.store.facts import TABLE_OF, to_row
from tests.store.rows import call_row

WEBHOOK = "agent_webhook_x"


class RecordingWriter:
    """The batching writer's ``insert``, kept instead of committed."""

    def __init__(self) -> None:
        self.inserted: list[tuple[dict, bool]] = []

    def insert(self, table, row, call_id, with_previous=False) -> None:
        assert table is schema.webhook_deliveries and call_id == row["call_id"]
        self.inserted.append((row, with_previous))


def test_a_live_call_announces_its_turns_at_their_rev_and_its_end_after_every_fact():
    call_id = ids.new_id(ids.CALL)
    writer = RecordingWriter()
    announcer = CallAnnouncer(writer, call_id, "agent_x")  # type: ignore[arg-type]
    (started,) = announcer.started(WEBHOOK, call_row(call_id))
    assert started["position"] == 0
    turn = Turn(call_id, seq=1, rev=3, timestamp=0.5, role=Role.USER, text="hi")
    turn.end_reason = TurnEndReason.TTS_COMPLETED
    announcer.turn_closed(turn, [])
    metric = LogMetric(call_id, seq=2, rev=7, timestamp=0.9, name="m", value=1)
    ended = call_row(call_id, status="completed")
    announcer.ended(ended, [turn, metric], failed=False)
    positions = [(row["event_type"], row["position"]) for row, _ in writer.inserted]
    assert positions == [("call_turn", 3), ("call_completed", 8)]
    # Each commits with the fact it announces.
    assert all(with_previous for _, with_previous in writer.inserted)


def test_the_analysis_goes_after_every_delivery_and_fact_of_the_call(engine):
    calls = CallRepo(engine)
    call_id = ids.new_id(ids.CALL)
    started = {"type": "call_started", "call_id": call_id, "agent_id": "agent_x"}
    calls.create(call_row(call_id, status="completed"), [outbox_row(WEBHOOK, 0, started)])
    turn = Turn(call_id, seq=1, rev=4, timestamp=0.5, role=Role.USER, text="hi")
    metric = LogMetric(call_id, seq=2, rev=9, timestamp=0.9, name="m", value=1)
    with engine.begin() as connection:
        for fact in (turn, metric):
            connection.execute(TABLE_OF[type(fact)].insert(), to_row(fact))
        queue(connection, WEBHOOK, turn.rev, turn_event(call_id, "agent_x", WEBHOOK, {}))

    assert calls.save_analysis(call_id, "first")  # after the metric: no delivery announced it
    assert calls.save_analysis(call_id, "again")  # after the first analysis
    d = schema.webhook_deliveries.c
    with engine.connect() as connection:
        found = connection.execute(
            select(d.event_type, d.position).where(d.call_id == call_id).order_by(d.position)
        ).all()
    assert [tuple(row) for row in found] == [
        ("call_started", 0),
        ("call_turn", 4),
        ("post_call_analysis", 10),
        ("post_call_analysis", 11),
    ]
