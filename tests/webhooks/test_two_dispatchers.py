"""Two openline processes dispatch one PostgreSQL outbox: every delivery is attempted
exactly once (FOR UPDATE SKIP LOCKED and claim leases), in order per call."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from openline import ids
from openline.config import Settings
from openline.domain.webhook_events import turn_event
from openline.store import schema
from openline.store.db import make_engine
from openline.store.delivery_queue import outbox_row
from openline.store.feed import ChangeFeed
from openline.store.writer import Writer
from tests.conftest import TEST_KEY
from tests.support.servers import free_port, openline_server, wait_http
from tests.webhooks.helpers import SECRET, wait_for

CALLS, EVENTS = 50, 8
CONCURRENCY = 10  # deliveries in flight per process


SECRETS_KEY = Fernet.generate_key().decode()  # every worker on one database has the same


@contextlib.contextmanager
def openline_up(database_url: str, data_dir) -> Iterator[Callable[[], None]]:
    """``openline up`` as a process of its own on the same database. Yields at once (it
    boots while the caller does other things) a function that waits until it serves."""
    port = free_port()
    env = {
        "OPENLINE_DATABASE_URL": database_url,
        "OPENLINE_API_KEY": TEST_KEY,
        "OPENLINE_DATA_DIR": str(data_dir),
        "OPENLINE_SECRETS_KEY": SECRETS_KEY,
        "OPENLINE_WEBHOOK_CONCURRENCY": str(CONCURRENCY),
        "OPENLINE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback
    }
    args = [sys.executable, "-m", "openline", "up", "--port", str(port), "--no-example"]
    process = subprocess.Popen(args, env=os.environ | env)
    try:
        # A loaded two-core machine can take a while to import the whole server.
        yield lambda: wait_http(f"http://127.0.0.1:{port}/status", timeout_s=90, process=process)
    finally:
        process.terminate()
        process.wait(15)


async def enqueue(engine, webhook_id: str) -> None:
    """Outbox rows the way the harness queues them: through the batching writer, whose
    commit NOTIFYs every openline process."""
    writer = Writer(engine, ChangeFeed())
    writer.start()
    for _ in range(CALLS):
        call_id = ids.new_id(ids.CALL)
        for position in range(EVENTS):
            turn = {"role": "user", "text": str(position), "start_timestamp": float(position)}
            payload = turn_event(call_id, "agent_two", webhook_id, turn)
            row = outbox_row(webhook_id, position, payload)
            writer.insert(schema.webhook_deliveries, row, call_id)
    await writer.close()


async def test_two_processes_never_send_an_attempt_twice(pg_url, tmp_path, receiver):
    events = receiver.receiver
    events.delay_s = 0.02  # a little work per request
    # Whoever wakes first would claim every call's next event at once (and keep each call,
    # claiming its next event the moment one is done); ten at a time in each process
    # leaves work for the other however late its wake-up comes.
    settings = Settings(
        data_dir=tmp_path / "a",
        database_url=pg_url,
        api_key=TEST_KEY,
        secrets_key=SECRETS_KEY,
        start_example_agent=False,
        webhook_concurrency=CONCURRENCY,
        webhook_allow_private=True,  # the receiver is on loopback
    )
    with openline_up(pg_url, tmp_path / "b") as ready, openline_server(settings) as in_thread:
        ready()
        with in_thread.client() as http:
            webhook = http.post(
                "/agents/webhooks", json={"url": receiver.url, "secret": SECRET}
            ).json()
        dispatcher = in_thread.platform.dispatcher
        sent_here: list[str] = []
        attempt = dispatcher.attempt

        async def counted(delivery):
            sent_here.append(delivery.id)
            return await attempt(delivery)

        dispatcher.attempt = counted
        engine = make_engine(settings.sqlalchemy_url)
        try:
            await enqueue(engine, webhook["id"])
            total = CALLS * EVENTS
            await wait_for(lambda: len(events.events) >= total, timeout=40, what="every event")
            await wait_for(lambda: _delivered(engine) == total, what="every attempt recorded")
            tries = _attempts_per_delivery(engine)
        finally:
            engine.dispose()

    assert len(events.seen_ids) == len(set(events.seen_ids)) == total  # each exactly once
    assert len(tries) == total and set(tries.values()) == {1}
    assert 0 < len(sent_here) < total, "both processes should have dispatched some"
    by_call: dict[str, list[int]] = {}
    for event in events.events:
        by_call.setdefault(event["call_id"], []).append(int(event["turn"]["text"]))
    assert len(by_call) == CALLS
    assert all(order == list(range(EVENTS)) for order in by_call.values())


def _delivered(engine) -> int:
    d = schema.webhook_deliveries.c
    with engine.connect() as connection:
        return connection.execute(select(func.count()).where(d.status == "delivered")).scalar_one()


def _attempts_per_delivery(engine) -> Counter:
    a = schema.webhook_attempts.c
    with engine.connect() as connection:
        rows = connection.execute(select(a.delivery_id, func.count()).group_by(a.delivery_id))
        return Counter({delivery_id: count for delivery_id, count in rows})
