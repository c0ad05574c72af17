"""The batching writer: ordered, coalescing, durable under refusals and lock contention."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import select

from openline.domain.calls import CallStatus
from openline.harness.ledger import CallLedger
from openline.store import schema
from openline.store.call_writes import FactWrites
from openline.store.calls import CallRepo
from openline.store.delivery_queue import outbox_row
from openline.store.feed import ChangeFeed
from openline.store.writer import Writer
from tests.store.rows import call_row


async def test_facts_from_many_calls_land_in_few_batches_in_order(engine):
    feed = ChangeFeed()
    writer = Writer(engine, feed)
    writer.start()
    repo = CallRepo(engine)
    woken = feed.subscribe("call_7")
    ledgers = []
    for n in range(20):
        repo.create(call_row(f"call_{n}"))
        ledgers.append(CallLedger(f"call_{n}", FactWrites(writer), payload_cap=10_000))
    for round_ in range(50):
        for ledger in ledgers:
            ledger.user_turn(f"user {round_}")
            ledger.agent_message(f"part a{round_} ")
            ledger.agent_message(f"part b{round_}")
            ledger.log_metric("round", round_)
    await writer.flush()
    assert woken.is_set()
    # 20 calls x 50 rounds x (2 inserts + 2 updates + 1 insert) ops, far fewer commits.
    assert writer.batches < 100
    facts = repo.facts(["call_7"])["call_7"]
    turns = [f for f in facts if type(f).__name__ == "Turn"]
    assert [t.text for t in turns[:4]] == ["user 0", "part a0 part b0", "user 1", "part a1 part b1"]
    assert [c["text"] for c in turns[1].text_chunks] == ["part a0 ", "part b0"]
    metrics = [f.value for f in facts if type(f).__name__ == "LogMetric"]
    assert metrics == list(range(50))
    await writer.close()


async def test_a_refused_row_does_not_hold_back_the_rest(engine):
    writer = Writer(engine, ChangeFeed())
    writer.start()
    CallRepo(engine).create(call_row("call_a"))
    good = {"call_id": "call_a", "rev": 1, "timestamp": 0.0, "name": "ok", "value": 1}
    duplicate_key = dict(good, rev=2)  # same (call_id, seq) → the database refuses it
    writer.insert(schema.log_metrics, dict(good, seq=1), "call_a")
    await writer.flush()
    writer.insert(schema.log_metrics, dict(duplicate_key, seq=1), "call_a")
    writer.insert(schema.log_metrics, dict(good, seq=2, rev=3, name="after"), "call_a")
    await writer.flush()
    with engine.connect() as connection:
        names = connection.execute(select(schema.log_metrics.c.name)).scalars().all()
    assert sorted(names) == ["after", "ok"]
    await writer.close()


async def test_a_refused_fact_takes_its_webhook_rows_with_it(engine):
    """Retried fact by fact, never row by row: no webhook announces a fact never stored."""
    writer = Writer(engine, ChangeFeed())
    writer.start()
    CallRepo(engine).create(call_row("call_a"))
    first = {"call_id": "call_a", "seq": 1, "rev": 1, "timestamp": 0.0, "name": "a", "value": 1}
    writer.insert(schema.log_metrics, first, "call_a")
    await writer.flush()

    def announce(name: str) -> dict:
        payload = {"call_id": "call_a", "agent_id": "agent_x", "type": "call_turn", "n": name}
        return outbox_row("agent_webhook_x", 1, payload)

    refused = dict(first, rev=2, name="refused")  # same (call_id, seq): a duplicate key
    writer.insert(schema.log_metrics, refused, "call_a")
    writer.insert(schema.webhook_deliveries, announce("refused"), "call_a", with_previous=True)
    writer.insert(schema.log_metrics, dict(first, seq=2, rev=3, name="kept"), "call_a")
    writer.insert(schema.webhook_deliveries, announce("kept"), "call_a", with_previous=True)
    await writer.flush()
    with engine.connect() as connection:
        names = connection.execute(select(schema.log_metrics.c.name)).scalars().all()
        payloads = connection.execute(select(schema.webhook_deliveries.c.payload)).scalars()
        announced = [payload["n"] for payload in payloads]
    assert sorted(names) == ["a", "kept"]
    assert announced == ["kept"]
    await writer.close()


async def test_writes_wait_out_a_locked_database(tmp_path):
    from openline.store.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'locked.db'}")
    migrate(engine)
    CallRepo(engine).create(call_row("call_l"))
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        raw = engine.raw_connection()
        raw.execute("PRAGMA busy_timeout=0")
        raw.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(10)
        raw.rollback()
        raw.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)
    short = make_engine(f"sqlite:///{tmp_path / 'locked.db'}")
    writer = Writer(short, ChangeFeed())
    writer.start()
    writer.update(schema.calls, ("call_l",), {"status": CallStatus.COMPLETED.value}, "call_l")
    flushing = asyncio.create_task(writer.flush())
    await asyncio.sleep(0.3)
    assert not flushing.done()  # blocked by the lock, not failed
    release.set()
    await asyncio.wait_for(flushing, 60)
    holder.join()
    assert CallRepo(engine).get("call_l")["status"] == "completed"
    await writer.close()
