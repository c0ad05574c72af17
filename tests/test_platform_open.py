"""``Platform.open`` is exception-safe: when a late start-up step fails, everything that
had started (writer, dispatcher, analysis sweeper, lease keeper, feed listener, HTTP
client, engine) is stopped again and the journal and the lease are given up, on either
database."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select

from openline.deploy.supervisor import Supervisor
from openline.platform import JOURNALS_DIR, Platform
from openline.store import schema
from openline.store.db import make_engine
from openline.store.processes import ProcessRepo


class Refused(Exception):
    pass


async def test_a_failed_start_stops_what_had_started(settings, monkeypatch):
    async def refuse(self) -> None:  # the last step: bringing deployments back
        raise Refused("no deployments today")

    monkeypatch.setattr(Supervisor, "start", refuse)
    threads_before = {thread.ident for thread in threading.enumerate()}
    with pytest.raises(Refused):
        await Platform.open(settings)
    await asyncio.sleep(0)  # let cancelled tasks finish unwinding

    assert asyncio.all_tasks() == {asyncio.current_task()}  # writer, sweeps, listener: gone
    leftover = {
        thread.name
        for thread in threading.enumerate()
        if thread.ident not in threads_before and not thread.name.startswith("asyncio_")
    }
    assert leftover == set()  # (the event loop's own worker threads are reused, not leaked)
    journals = settings.data_dir / JOURNALS_DIR
    assert list(journals.iterdir()) == []  # this process's journal was closed and removed
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            registered = connection.execute(select(schema.processes.c.id)).scalars().all()
            live = connection.execute(ProcessRepo(engine).live()).scalars().all()
        assert len(registered) == 1 and live == []  # its lease was taken, then given up
    finally:
        engine.dispose()

    monkeypatch.undo()  # and the data dir opens again at once: nothing still holds it
    platform = await Platform.open(settings)
    await platform.close()
