"""Process leases: the open calls of a process whose lease expired are closed as failed
and announced ``call_failed`` exactly once, however many processes sweep at once; the
calls of a live process are left alone."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from openline.domain.time import utcnow
from openline.store import schema
from openline.store.calls import CallRepo
from openline.store.db import make_engine
from openline.store.delivery_queue import outbox_row
from openline.store.processes import ProcessRepo
from tests.store.rows import call_row


def _open_call(repo: CallRepo, call_id: str, owner: str | None) -> None:
    row = call_row(call_id, owner_process_id=owner)
    started = {"call_id": call_id, "agent_id": "agent_x", "type": "call_started"}
    repo.create(row, [outbox_row("agent_webhook_x", 0, started)])


def test_an_expired_process_s_calls_are_closed_exactly_once_by_concurrent_sweepers(engine):
    processes, calls = ProcessRepo(engine), CallRepo(engine)
    processes.register("proc_dead", "host-a", 1, ttl_s=60)
    processes.register("proc_live", "host-b", 2, ttl_s=60)
    dead = [f"call_d{n:02}" for n in range(30)]
    for call_id in dead:
        _open_call(calls, call_id, "proc_dead")
    _open_call(calls, "call_live", "proc_live")
    _open_call(calls, "call_unowned_new", None)
    processes.expire(["proc_dead"])

    closed: list[list[str]] = []
    many = 3 if engine.dialect.name == "postgresql" else 1  # SQLite: one process owns the file
    url = engine.url.render_as_string(hide_password=False)
    sweepers = [make_engine(url) for _ in range(many)]

    def sweep(sweeper_engine) -> None:
        repo, leases = CallRepo(sweeper_engine), ProcessRepo(sweeper_engine)
        mine: list[str] = []
        while batch := repo.close_abandoned(leases.live(), utcnow() - timedelta(hours=2), 7):
            mine += batch
        closed.append(mine)

    threads = [threading.Thread(target=sweep, args=(e,)) for e in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for sweeper_engine in sweepers:
        sweeper_engine.dispose()

    assert sorted(call_id for mine in closed for call_id in mine) == dead
    d = schema.webhook_deliveries.c
    with engine.connect() as connection:
        failed = connection.execute(
            select(d.call_id, d.position).where(d.event_type == "call_failed")
        ).all()
    assert sorted(call_id for call_id, _ in failed) == dead  # one each
    assert {position for _, position in failed} == {1}
    for call_id in dead:
        call = calls.get(call_id)
        assert call["status"] == "failed" and call["end_reason"] == "error"
        assert "proc_dead stopped" in call["error_message"]
        assert call["analysis_status"] == "pending"
    assert calls.get("call_live")["status"] == "started"
    assert calls.get("call_unowned_new")["status"] == "started"  # may still be running

    processes.clear_expired()  # owns no open call any more: forgotten
    with engine.connect() as connection:
        left = connection.execute(select(schema.processes.c.id)).scalars().all()
    assert left == ["proc_live"]


def test_a_renewed_lease_keeps_calls_open_and_a_lapsed_one_does_not(engine):
    processes, calls = ProcessRepo(engine), CallRepo(engine)
    processes.register("proc_a", "host-a", 1, ttl_s=60)
    _open_call(calls, "call_a", "proc_a")
    assert processes.heartbeat("proc_a", ttl_s=60)
    assert calls.close_abandoned(processes.live(), utcnow()) == []
    assert processes.heartbeat("proc_a", ttl_s=-1)  # as if it had gone silent
    assert calls.close_abandoned(processes.live(), utcnow()) == ["call_a"]
    assert not processes.heartbeat("proc_gone", ttl_s=60)
