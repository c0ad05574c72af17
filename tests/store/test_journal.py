"""The writer's journal: ops round-trip exactly, committed segments are trimmed, and the
journal of a process killed before its writer committed is replayed once, in order."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from sqlalchemy import select

from openline.domain.time import utcnow
from openline.store import schema
from openline.store.calls import CallRepo
from openline.store.delivery_queue import outbox_row
from openline.store.feed import ChangeFeed
from openline.store.journal import Journal, leftovers
from openline.store.ops import Insert, Update, decode_all, encode
from openline.store.replay import replay
from openline.store.writer import Writer
from tests.store.rows import call_row


def test_ops_round_trip_exactly():
    at = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)
    insert = Insert(
        schema.log_events,
        {
            "call_id": "call_a",
            "seq": 3,
            "rev": 4,
            "timestamp": 0.1 + 0.2,
            "event": "e",
            "metadata": {"when": at.isoformat(), "n": [1, 2.5, None, True], "ü": "✓"},
            "level": None,
            "message": "line\nbreak",
        },
        "call_a",
        with_previous=True,
    )
    update = Update(schema.calls, ("call_a",), {"end_time": at, "status": "failed"}, "call_a")
    log_line = Insert(schema.deployment_logs, {"deployment_id": "dep_a", "at": at}, "dep_a")
    ops = [insert, update, log_line]
    data = b"".join(encode(op) for op in ops)
    assert list(decode_all(data)) == ops
    assert list(decode_all(data[:-3])) == ops[:2]  # a torn last record is left out


async def test_committed_segments_are_trimmed_and_a_clean_close_leaves_nothing(engine, tmp_path):
    CallRepo(engine).create(call_row("call_t"))
    journal = Journal.create(tmp_path / "journal", "proc_t", segment_bytes=2000)
    writer = Writer(engine, ChangeFeed(), journal=journal)
    writer.start()
    for seq in range(1, 301):
        row = {"call_id": "call_t", "seq": seq, "rev": seq, "timestamp": 0.0, "name": "m"}
        writer.insert(schema.log_metrics, row | {"value": seq}, "call_t")
        if seq % 50 == 0:
            await writer.flush()
    await writer.flush()
    segments = sorted(journal.directory.glob("*.log"))
    assert len(segments) == 1  # the one being written; the full ones were deleted
    await writer.close()
    assert list((tmp_path / "journal").iterdir()) == []
    with engine.connect() as connection:
        stored = connection.execute(select(schema.log_metrics.c.value)).scalars().all()
    assert sorted(stored) == list(range(1, 301))


_KILLED_WRITER = """
import asyncio, os, signal, sys
from openline.domain.time import utcnow
from openline.store import schema
from openline.store.db import make_engine
from openline.store.feed import ChangeFeed
from openline.store.journal import Journal
from openline.store.delivery_queue import outbox_row
from openline.store.writer import Writer

async def main():
    engine = make_engine(sys.argv[1])
    writer = Writer(engine, ChangeFeed(), journal=Journal.create(Journal_root, "proc_dead"))
    writer.start()
    def metric(seq, value):
        row = {"call_id": "call_k", "seq": seq, "rev": seq, "timestamp": 0.5, "name": "m"}
        return row | {"value": value}
    def announce(kind, position):
        payload = {"call_id": "call_k", "agent_id": "agent_x", "type": kind}
        return outbox_row("agent_webhook_x", position, payload)
    writer.insert(schema.log_metrics, metric(1, "committed"), "call_k")
    writer.insert(schema.webhook_deliveries, announce("call_turn", 1), "call_k", True)
    await writer.flush()
    # acknowledged, never committed: killed before the writer's task runs again
    writer.insert(schema.log_metrics, metric(2, "first"), "call_k")
    writer.insert(schema.webhook_deliveries, announce("call_turn", 2), "call_k", True)
    writer.update(schema.log_metrics, ("call_k", 2), {"value": "second"}, "call_k")
    writer.update(schema.log_metrics, ("call_k", 2), {"value": "last"}, "call_k")
    ended = {"status": "completed", "end_time": utcnow()}
    writer.update(schema.calls, ("call_k",), ended, "call_k")
    writer.insert(schema.webhook_deliveries, announce("call_completed", 3), "call_k", True)
    os.kill(os.getpid(), signal.SIGKILL)

Journal_root = __import__("pathlib").Path(sys.argv[2])
asyncio.run(main())
"""


def _killed_writer(url: str, root) -> None:
    process = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), url, str(root)], check=False
    )
    assert process.returncode == -signal.SIGKILL


def _stored(engine) -> tuple[list, list]:
    m, d = schema.log_metrics.c, schema.webhook_deliveries.c
    with engine.connect() as connection:
        metrics = connection.execute(select(m.seq, m.value).order_by(m.seq)).all()
        events = connection.execute(select(d.event_type).order_by(d.position)).scalars().all()
    return [tuple(row) for row in metrics], list(events)


def test_a_killed_process_s_journal_is_replayed_once_in_order(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    CallRepo(engine).create(call_row("call_k"))
    root = tmp_path / "journal"
    _killed_writer(url, root)
    assert _stored(engine) == ([(1, "committed")], ["call_turn"])

    (found,) = leftovers(root)
    assert found.process_id == "proc_dead"
    assert replay(engine, found.ops()) == 8
    assert replay(engine, found.ops()) == 8  # a crash mid-replay: replaying again is a no-op
    found.discard()
    assert leftovers(root) == []
    assert _stored(engine) == (
        [(1, "committed"), (2, "last")],
        ["call_turn", "call_turn", "call_completed"],
    )
    assert CallRepo(engine).get("call_k")["status"] == "completed"


def test_a_call_closed_elsewhere_gets_its_facts_but_not_a_second_ending(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    calls = CallRepo(engine)
    calls.create(call_row("call_k") | {"owner_process_id": "proc_dead"}, [_started()])
    root = tmp_path / "journal"
    _killed_writer(url, root)
    # meanwhile another process saw the lease expire (no process is live) and closed it
    assert calls.close_abandoned(select(schema.processes.c.id), utcnow()) == ["call_k"]

    (found,) = leftovers(root)
    replay(engine, found.ops())
    found.discard()
    metrics, events = _stored(engine)
    assert metrics == [(1, "committed"), (2, "last")]
    assert sorted(events) == ["call_failed", "call_started", "call_turn", "call_turn"]
    assert calls.get("call_k")["status"] == "failed"


def test_a_live_process_s_journal_is_not_taken(tmp_path):
    root = tmp_path / "journal"
    journal = Journal.create(root, "proc_alive")
    assert leftovers(root) == []
    journal.close()


def _started() -> dict:
    payload = {"call_id": "call_k", "agent_id": "agent_x", "type": "call_started"}
    return outbox_row("agent_webhook_x", 0, payload)
