"""Keeping fleet analytics' rollups: a tally per ended call, merged per minute, hour, day.

A call's end queues it (``analytics_queue``, in the transaction that ends it, due once
its last facts are in); so does its redaction. ``RollupKeeper`` takes due rows, makes (or
removes) each call's tally, then refreshes the rollups above it: the minute, the hour
and the day. A call tallied for the first time is merged into them (merging is exact and
order-free); when a call already tallied changes or leaves (a redaction, a second pass),
its rollups are recomputed from their parts: a minute from its calls' tallies, an hour
from its minutes, a day from its hours. A call's tally counts its final metric results
too, and its analysis queues it again once they are all in: a tally that only gained
results moves its rollups by the difference, again without recomputing them. A test
run's call (``metadata.test_run``) is tallied, marked ``test_run``, and in no rollup.

Several processes on one PostgreSQL: queue rows are claimed with ``SKIP LOCKED``, and a
rollup is locked before its parts are read, in one global order (minutes, then hours,
then days, each sorted), so two refreshes of one rollup follow each other and never
deadlock; ``rebuild`` holds an advisory lock the keepers share. On SQLite the claim is a
write, which takes the database's one write lock first.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, exists, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from openline import ids
from openline.domain.analytics import is_test_run
from openline.domain.buckets import GRAINS, STEP, Grain, floor
from openline.domain.calls import CallStatus, LogEvent, LogMetric, ToolCall, Turn
from openline.domain.tally import Tally
from openline.domain.time import as_utc, utcnow
from openline.store import schema
from openline.store.facts import read_facts

log = logging.getLogger(__name__)

TALLIED_KINDS = (Turn, ToolCall, LogEvent, LogMetric)
_REBUILD_LOCK_ID = 7_405_313  # arbitrary, constant: a rebuild excludes the keepers
_PARENT: dict[Grain, Grain] = {"minute": "hour", "hour": "day"}

Scope = tuple[str, str]  # (agent id, deployment id or "")
Key = tuple[datetime, str, str]  # (bucket start, agent id, deployment id or "")


def queue_row(call_id: str, due_at: datetime) -> dict:
    return {"id": ids.new_id(ids.TALLY_DUE), "call_id": call_id, "due_at": due_at}


def queue_tallies(connection: Connection, call_ids: Iterable[str], due_at: datetime) -> None:
    rows = [queue_row(call_id, due_at) for call_id in call_ids]
    if rows:
        connection.execute(schema.analytics_queue.insert(), rows)


class RollupKeeper:
    def __init__(self, engine: Engine, batch: int = 200) -> None:
        self._engine = engine
        self._batch = batch
        self._task: asyncio.Task | None = None

    # -- the background task ------------------------------------------------------

    def start(self, interval_s: float) -> None:
        self._task = asyncio.create_task(self._run(interval_s), name="openline-rollups")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, interval_s: float) -> None:
        while True:
            try:
                while await asyncio.to_thread(self.run_due) == self._batch:
                    pass  # a backlog: go on at once
            except Exception:  # the database refused or is down: the rows stay queued
                log.warning("analytics: cannot update the rollups; retrying", exc_info=True)
            await asyncio.sleep(interval_s)

    # -- the work -----------------------------------------------------------------

    def run_due(self, now: datetime | None = None) -> int:
        """Tally the calls whose queue rows are due; returns how many rows were taken."""
        q = schema.analytics_queue.c
        now = now or utcnow()
        with self._engine.connect() as connection:  # a read first: idle polls write nothing
            if not connection.execute(select(exists().where(q.due_at <= now))).scalar():
                return 0
        claim = (
            select(q.id)
            .where(q.due_at <= now)
            .order_by(q.due_at)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        taken = schema.analytics_queue.delete().where(q.id.in_(claim)).returning(q.call_id)
        with self._engine.begin() as connection:
            call_ids = connection.execute(taken).scalars().all()
            _share_rebuild_lock(connection)
            refresh(connection, *_retally(connection, sorted(set(call_ids))))
        return len(call_ids)

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Remake every call's tally from its facts, then every rollup from the tallies.
        Returns the number of calls looked at (one in progress or redacted has no tally);
        ``progress(done, total)`` is told as it goes."""
        c = schema.calls.c
        with self._engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(schema.calls)).scalar()
        done, after = 0, ""
        while True:
            with self._engine.connect() as connection:
                next_ids = select(c.id).where(c.id > after).order_by(c.id).limit(self._batch * 5)
                call_ids = connection.execute(next_ids).scalars().all()
            if not call_ids:
                break
            with self._engine.begin() as connection:
                _take_rebuild_lock(connection)
                _retally(connection, call_ids, incremental=False)
            done += len(call_ids)
            after = call_ids[-1]
            if progress is not None:
                progress(done, total or 0)
        _rollup_everything(self._engine)
        return done


def _retally(
    connection: Connection, call_ids: Sequence[str], incremental: bool = True
) -> tuple[dict[Key, Tally], set[Key]]:
    """Make the tallies of these calls as their facts and final metric results are now
    (none for a call still in progress or redacted). Returns what this changes in the
    minutes' rollups: tallies to merge into them (new calls; and, for a call whose tally
    only gained evaluations, the difference), and the minutes to recompute from their parts
    (a tallied call changed or left). A test run's call is tallied but in no rollup.

    ``incremental=False`` (a rebuild, which recomputes every rollup after): what changed
    is not worked out."""
    if not call_ids:
        return {}, set()
    c, t = schema.calls.c, schema.call_tallies.c
    old = connection.execute(  # a write first (SQLite: the write lock before any read)
        schema.call_tallies.delete()
        .where(t.call_id.in_(call_ids))
        .returning(t.call_id, t.start_time, t.agent_id, t.deployment_id, t.test_run, t.tally)
    ).all()
    before = {
        row.call_id: row
        for row in old
        if not row.test_run  # a test run's tally is in no rollup: nothing to take out
    }
    calls = connection.execute(
        select(schema.calls).where(
            c.id.in_(call_ids), c.status != CallStatus.STARTED.value, c.redacted_at.is_(None)
        )
    ).all()
    facts = read_facts(connection, [call.id for call in calls], TALLIED_KINDS, -1)
    results = _final_results(connection, [call.id for call in calls])
    changed: set[Key] = set()
    added: dict[Key, Tally] = {}
    rows = []
    for call in calls:
        start = as_utc(call.start_time)
        tally = Tally.of_call(
            call.status,
            start,
            as_utc(call.end_time),
            call.end_reason,
            facts[call.id],
            results.get(call.id, ()),
        )
        deployment = call.deployment_id or ""
        test_run = is_test_run(call.metadata)
        encoded = json.dumps(tally.to_json(), separators=(",", ":"))
        rows.append(
            {
                "call_id": call.id,
                "agent_id": call.agent_id,
                "deployment_id": deployment,
                "start_time": start,
                "metadata": call.metadata,
                "test_run": test_run,
                "tally": encoded,
            }
        )
        if test_run:
            continue
        key = (floor(start, "minute"), call.agent_id, deployment)
        was = before.pop(call.id, None)
        if was is None:
            added.setdefault(key, Tally()).merge(tally)
        elif incremental and _key_of(was) == key:
            change = _only_evaluations_changed(was.tally, encoded, tally)
            if change is None:
                changed.add(key)
            elif change.evaluations:
                added.setdefault(key, Tally()).merge(change)
        else:
            changed.add(_key_of(was))
            changed.add(key)
    changed.update(_key_of(was) for was in before.values())  # left: redacted, say
    if rows:
        connection.execute(schema.call_tallies.insert(), rows)
    return added, changed


def _key_of(row) -> Key:
    return (floor(as_utc(row.start_time), "minute"), row.agent_id, row.deployment_id)


_EVALS = ',"evals":'  # the stored tally's last key (Tally.to_json), when it has results


def _only_evaluations_changed(old: str, new: str, tally: Tally) -> Tally | None:
    """When a call's new tally differs from its old one in its evaluations only (its
    results were judged after it was first tallied), the difference (no evaluations: no
    difference at all); else None.

    Compared as text (both are ``to_json`` of the same facts, encoded alike): the second
    pass of every evaluated call comes here, and decoding both would cost more than the
    rollups' update."""
    if old == new:
        return Tally()
    if tally.evaluations:
        shape = tally.to_json()
        del shape["evals"]
        base = json.dumps(shape, separators=(",", ":"))
    else:
        base = new
    if old == base:
        before = Tally()
    elif old.startswith(base[:-1] + _EVALS):
        before = Tally()
        stored = json.loads(old[len(base) - 1 + len(_EVALS) : -1])
        before.evaluations = {name: list(counts) for name, counts in stored.items()}
    else:
        return None
    return tally.evaluations_delta(before)


def _final_results(
    connection: Connection, call_ids: Sequence[str]
) -> dict[str, list[tuple[str, str, bool | None]]]:
    """Each call's final metric results: (metric name, status, passed)."""
    found: dict[str, list[tuple[str, str, bool | None]]] = {}
    if not call_ids:
        return found
    r = schema.metric_results.c
    query = select(r.call_id, r.metric_name, r.status, r.passed).where(
        r.call_id.in_(call_ids), r.final.is_(True)
    )
    for call_id, name, status, passed in connection.execute(query):
        found.setdefault(call_id, []).append((name, status, passed))
    return found


def refresh(connection: Connection, added: dict[Key, Tally], changed: set[Key]) -> None:
    """Bring the rollups of these minutes, and of the hours and days holding them, up to
    date: where calls were only added, by merging them into the stored rollup (a call's
    cost does not grow with its minute's calls); where a tallied call changed or left, by
    recomputing the rollup from its parts."""
    for grain in GRAINS:
        for key in sorted(set(added) | changed):
            current = _lock(connection, grain, key)
            if key in changed:
                parts = _parts(connection, grain, key)
                stored = Tally.merged(Tally.from_json(part) for part in parts)
            else:
                stored = Tally.from_json(current)
                stored.merge(added[key])
            _store(connection, grain, key, stored)
        if grain in _PARENT:
            parent = _PARENT[grain]
            rolled_up: dict[Key, Tally] = {}
            for (start, agent, dep), tally in added.items():
                rolled_up.setdefault((floor(start, parent), agent, dep), Tally()).merge(tally)
            added = rolled_up
            changed = {(floor(start, parent), agent, dep) for start, agent, dep in changed}


_EMPTY = json.dumps(Tally().to_json(), separators=(",", ":"))


def _lock(connection: Connection, grain: Grain, key: Key) -> str:
    """The rollup's row, made if need be and locked until this transaction ends; returns
    its stored tally (as it is after any other transaction that held the lock)."""
    r = schema.analytics_rollups
    start, agent, deployment = key
    row = {"grain": grain, "bucket_start": start, "agent_id": agent, "deployment_id": deployment}
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(r).values(row | {"calls": 0, "tally": _EMPTY}).on_conflict_do_nothing()
    )
    return connection.execute(
        select(r.c.tally).where(*_is(grain, key)).with_for_update()
    ).scalar_one()


def _parts(connection: Connection, grain: Grain, key: Key) -> list[str]:
    start, agent, deployment = key
    end = start + STEP[grain]
    if grain == "minute":
        t = schema.call_tallies.c
        query = select(t.tally).where(
            t.agent_id == agent,
            t.deployment_id == deployment,
            t.start_time >= start,
            t.start_time < end,
            t.test_run.is_(False),
        )
    else:
        r = schema.analytics_rollups.c
        child: Grain = "minute" if grain == "hour" else "hour"
        query = select(r.tally).where(
            r.grain == child,
            r.agent_id == agent,
            r.deployment_id == deployment,
            r.bucket_start >= start,
            r.bucket_start < end,
            r.calls > 0,
        )
    return list(connection.execute(query).scalars())


def _store(connection: Connection, grain: Grain, key: Key, tally: Tally) -> None:
    r = schema.analytics_rollups
    if tally.calls:
        encoded = json.dumps(tally.to_json(), separators=(",", ":"))
        connection.execute(
            r.update().where(*_is(grain, key)).values(calls=tally.calls, tally=encoded)
        )
    else:
        connection.execute(r.delete().where(*_is(grain, key)))


def _is(grain: Grain, key: Key):
    r = schema.analytics_rollups.c
    start, agent, deployment = key
    return (
        r.grain == grain,
        r.bucket_start == start,
        r.agent_id == agent,
        r.deployment_id == deployment,
    )


def _rollup_everything(engine: Engine) -> None:
    """Every rollup from the call tallies: each grain in one sorted pass over the grain
    below it (streamed, so memory stays flat), committed before the next grain reads it."""
    t, r = schema.call_tallies.c, schema.analytics_rollups.c
    source = (
        select(t.start_time, t.agent_id, t.deployment_id, t.tally)
        .where(t.test_run.is_(False))
        .order_by(t.agent_id, t.deployment_id, t.start_time)
    )
    for grain in GRAINS:
        with engine.connect() as reader, engine.begin() as writer:
            _take_rebuild_lock(writer)  # first: no keeper is between its lock and its insert
            writer.execute(schema.analytics_rollups.delete().where(r.grain == grain))
            rows = reader.execution_options(yield_per=5000).execute(source)
            parts = (
                (floor(as_utc(start), grain), agent, dep, tally)
                for start, agent, dep, tally in rows
            )
            written = _write_rollups(writer, grain, parts)
        log.info("analytics: %d %s rollups rebuilt", written, grain)
        source = (
            select(r.bucket_start, r.agent_id, r.deployment_id, r.tally)
            .where(r.grain == grain)
            .order_by(r.agent_id, r.deployment_id, r.bucket_start)
        )


def _write_rollups(connection: Connection, grain: Grain, parts) -> int:
    """Merge consecutive parts of one key (they come sorted by scope and time) into rows."""
    pending: list[dict] = []
    written = 0
    key: Key | None = None
    tally = Tally()

    def emit() -> None:
        nonlocal written
        if key is not None and tally.calls:
            start, agent, deployment = key
            pending.append(
                {
                    "grain": grain,
                    "bucket_start": start,
                    "agent_id": agent,
                    "deployment_id": deployment,
                    "calls": tally.calls,
                    "tally": json.dumps(tally.to_json(), separators=(",", ":")),
                }
            )
            written += 1

    for start, agent, deployment, encoded in parts:
        if (start, agent, deployment) != key:
            emit()
            key, tally = (start, agent, deployment), Tally()
            if len(pending) >= 2000:
                connection.execute(schema.analytics_rollups.insert(), pending)
                pending.clear()
        tally.merge(Tally.from_json(encoded))
    emit()
    if pending:
        connection.execute(schema.analytics_rollups.insert(), pending)
    return written


# Advisory locks are database-wide: keyed by the schema too, so an openline in another
# schema of the same database (a test's, a second install's) never waits on this one.
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:id, hashtext(current_schema()))")
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:id, hashtext(current_schema()))")


def _share_rebuild_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(_SHARED, {"id": _REBUILD_LOCK_ID})


def _take_rebuild_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(_EXCLUSIVE, {"id": _REBUILD_LOCK_ID})


def due_after(end_time: datetime, delay_s: float) -> datetime:
    """When an ended call's tally is due: once the facts its agent sends after the end (the
    hang-up grace) are in."""
    return end_time + timedelta(seconds=delay_s)
