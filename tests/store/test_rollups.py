"""Fleet analytics' rollups on both databases: what a range query answers equals the calls'
own tallies merged, whatever the range and bucket; redaction takes a call out; a rebuild
gives the same rollups; keepers working at once never lose or double a call."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from openline.domain.analytics import AnalyticsFilter
from openline.domain.calls import LogEvent, LogMetric, Role, ToolCall, Turn, TurnEndReason
from openline.domain.tally import Tally
from openline.domain.time import utcnow
from openline.store import schema
from openline.store.analytics import AnalyticsRepo
from openline.store.calls import CallRepo
from openline.store.db import make_engine, migrate
from openline.store.facts import TABLE_OF, to_row
from openline.store.processes import ProcessRepo
from openline.store.rollups import RollupKeeper, queue_tallies

T0 = datetime(2026, 11, 28, 23, 30, 17, tzinfo=UTC)
EVERY_CALL = AnalyticsFilter()
REASONS = ["agent_hangup", "client_hangup", "error", "inactivity"]


def facts_of(call_id: str, n: int) -> list:
    """A small conversation whose numbers are known from ``n`` (1..100)."""
    return [
        Turn(call_id, 1, 1, 0.5, Role.ASSISTANT, "hi", end_timestamp=1.0),
        Turn(call_id, 2, 2, 2.0, Role.USER, "order?", end_timestamp=3.0, stt_ttfb=0.1),
        Turn(
            call_id, 3, 3, 3.0 + n / 100, Role.ASSISTANT, "shipped", end_timestamp=5.0,
            tts_ttfb=0.2, end_reason=TurnEndReason.INTERRUPTED if n % 4 == 0 else None,
        ),
        ToolCall(call_id, 4, 4, 3.1, "lookup", {"n": n}, result="ok" if n % 10 else "Error: down"),
        LogMetric(call_id, 5, 5, 3.2, "score", n),
        LogMetric(call_id, 6, 6, 3.3, "answer", "yes" if n % 3 else "no"),
        LogEvent(call_id, 7, 7, 3.4, "order_processed", level="warning" if n % 5 == 0 else "info"),
    ]  # fmt: skip


def store_call(
    engine, n: int, start: datetime, deployment: str | None = None, queued: bool = True, **fields
) -> str:
    call_id = f"call_{n:04d}"
    row = {
        "id": call_id,
        "agent_id": fields.pop("agent_id", "agent_a"),
        "agent_name": "a",
        "deployment_id": deployment,
        "status": "failed" if REASONS[n % 4] == "error" else "completed",
        "start_time": start,
        "end_time": start + timedelta(seconds=n),
        "end_reason": REASONS[n % 4],
        "metadata": {"campaign": "spring" if n % 2 else "autumn", "tier": n % 3},
        "rev": 10,
    } | fields
    with engine.begin() as connection:
        connection.execute(schema.calls.insert(), [row])
        for fact in facts_of(call_id, n):
            connection.execute(TABLE_OF[type(fact)].insert(), [to_row(fact)])
        if queued:
            queue_tallies(connection, [call_id], start)
    return call_id


def drain(engine) -> None:
    keeper = RollupKeeper(engine, batch=37)
    while keeper.run_due(datetime(2100, 1, 1, tzinfo=UTC)):
        pass


@pytest.fixture
def hundred_calls(engine):
    """Calls 1..100, one every 47 minutes from T0 (over three days), two deployments."""
    for n in range(1, 101):
        store_call(engine, n, T0 + timedelta(minutes=47 * n), "dep_1" if n <= 60 else "dep_2")
    drain(engine)
    return engine


def expected(engine, start, end, where=EVERY_CALL) -> dict:
    """The same answer, straight from each call's tally (the calls chosen in Python)."""
    with engine.connect() as connection:
        rows = connection.execute(schema.call_tallies.select()).all()
    chosen = []
    for row in rows:
        at = row.start_time if row.start_time.tzinfo else row.start_time.replace(tzinfo=UTC)
        if not start <= at < end:
            continue
        if where.deployment_id and row.deployment_id != where.deployment_id:
            continue
        if any(str(row.metadata.get(k)) != v for k, v in where.metadata):
            continue
        chosen.append(Tally.from_json(row.tally))
    return Tally.merged(chosen).public()


def totals(engine, start, end, grain="hour", where=EVERY_CALL, group_by=None):
    series = AnalyticsRepo(engine).series(start, end, grain, where, group_by)
    return Tally.merged(tally for bucket in series for tally in bucket.groups.values()).public()


def test_known_calls_give_exact_counts_and_quantiles_within_one_percent(hundred_calls):
    shown = totals(hundred_calls, T0, T0 + timedelta(days=5), "day")
    assert shown["calls"] == {
        "count": 100,
        "completed": 75,
        "failed": 25,
        "end_reasons": {"agent_hangup": 25, "client_hangup": 25, "error": 25, "inactivity": 25},
    }
    duration = shown["duration_s"]
    assert duration["sum"] == 5050 and duration["mean"] == 50.5
    assert abs(duration["p50"] - 50) <= 0.5 and abs(duration["p95"] - 95) <= 0.95
    score = shown["metrics"]["score"]
    assert (score["count"], score["min"], score["max"], score["mean"]) == (100, 1, 100, 50.5)
    assert abs(score["p50"] - 50) <= 0.5 and abs(score["p95"] - 95) <= 0.95
    assert shown["metrics"]["answer"] == {"count": 100, "values": {"yes": 67, "no": 33}}
    assert shown["events"] == {
        "order_processed": {"count": 100, "levels": {"info": 80, "warning": 20}}
    }
    assert shown["turns"] == {"count": 300, "interrupted": 25}
    assert shown["tool_calls"] == {"lookup": {"count": 100, "errors": 10}}
    response = shown["latency_s"]["response"]  # n/100 s: 0.01 .. 1.00
    assert response["count"] == 100
    for q, exact in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        assert abs(response[q] - exact) <= 0.01 * exact, (q, response[q])


@pytest.mark.parametrize("grain", ["minute", "hour", "day"])
def test_any_range_answers_what_its_calls_tallies_merged_give(hundred_calls, grain):
    rng = random.Random(grain)
    for _ in range(6):
        start = T0 + timedelta(seconds=rng.randrange(0, 3 * 86400))
        span = {"minute": 7200, "hour": 86400 * 2, "day": 86400 * 4}[grain]
        end = start + timedelta(seconds=rng.randrange(60, span))
        assert totals(hundred_calls, start, end, grain) == expected(hundred_calls, start, end)


def test_a_range_edge_inside_a_minute_counts_only_the_calls_inside(engine):
    minute = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for n, second in ((1, 5), (2, 20), (3, 40), (4, 59)):
        store_call(engine, n, minute + timedelta(seconds=second))
    drain(engine)
    shown = totals(engine, minute + timedelta(seconds=20), minute + timedelta(seconds=59))
    assert shown["calls"]["count"] == 2  # the calls at :20 and :40


def test_series_groups_and_filters(hundred_calls):
    start, end = T0, T0 + timedelta(days=4)
    series = AnalyticsRepo(hundred_calls).series(
        start, end, "day", AnalyticsFilter(), "deployment_id"
    )
    assert [bucket.start for bucket in series][:2] == [T0, datetime(2026, 11, 29, tzinfo=UTC)]
    per_day = [sum(t.calls for t in bucket.groups.values()) for bucket in series]
    starts = [T0 + timedelta(minutes=47 * n) for n in range(1, 101)]
    assert per_day == [sum(b.start <= s < b.end for s in starts) for b in series]
    merged = Tally.merged(t for b in series for t in b.groups.values())
    assert merged.calls == 100
    by_group: dict = {}
    for bucket in series:
        for group, tally in bucket.groups.items():
            by_group[group] = by_group.get(group, 0) + tally.calls
    assert by_group == {"dep_1": 60, "dep_2": 40}
    only = AnalyticsFilter(deployment_id="dep_2")
    assert totals(hundred_calls, start, end, where=only)["calls"]["count"] == 40
    spring = AnalyticsFilter(metadata=(("campaign", "spring"), ("tier", "1")))
    assert totals(hundred_calls, start, end, where=spring) == expected(
        hundred_calls, start, end, spring
    )
    assert totals(hundred_calls, start, end, where=spring)["calls"]["count"] == 17


def test_a_redacted_call_leaves_the_rollups(hundred_calls):
    start, end = T0, T0 + timedelta(days=5)
    CallRepo(hundred_calls).redact("call_0050")
    drain(hundred_calls)
    shown = totals(hundred_calls, start, end, "day")
    assert shown["calls"]["count"] == 99
    assert shown["duration_s"]["sum"] == 5000
    assert shown["metrics"]["score"]["count"] == 99


def rollups_of(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(schema.analytics_rollups.select()).all()
    return {
        (row.grain, row.bucket_start.replace(tzinfo=None), row.agent_id, row.deployment_id): (
            row.calls,
            Tally.from_json(json.loads(row.tally)).public(),
        )
        for row in rows
    }


def test_a_rebuild_gives_the_rollups_kept_call_by_call(hundred_calls):
    kept = rollups_of(hundred_calls)
    assert sum(grain == "minute" for grain, *_ in kept) == 100  # a minute per call
    with hundred_calls.begin() as connection:
        connection.execute(schema.call_tallies.delete())
        connection.execute(schema.analytics_rollups.delete())
    told = []
    assert (
        RollupKeeper(hundred_calls).rebuild(lambda done, total: told.append((done, total))) == 100
    )
    assert told[-1] == (100, 100)
    assert rollups_of(hundred_calls) == kept


def test_keepers_working_at_once_count_every_call_once(engine):
    """Several keepers (threads, each with its own connections) drain one queue of calls
    that share minutes, hours and days; the rollups must equal a rebuild's."""
    rng = random.Random(5)
    for n in range(1, 161):
        store_call(engine, n, T0 + timedelta(seconds=rng.randrange(0, 7200)), f"dep_{n % 2}")
    engines = [make_engine(str(engine.url.render_as_string(hide_password=False))) for _ in range(3)]
    errors: list[Exception] = []

    def work(own) -> None:
        try:
            keeper = RollupKeeper(own, batch=7)
            while keeper.run_due(datetime(2100, 1, 1, tzinfo=UTC)):
                pass
        except Exception as error:  # noqa: BLE001  (the thread's failure, asserted below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for own in engines:
        own.dispose()
    assert not errors
    incremental = rollups_of(engine)
    assert RollupKeeper(engine).rebuild() == 160
    assert rollups_of(engine) == incremental
    assert totals(engine, T0, T0 + timedelta(hours=3))["calls"]["count"] == 160


def test_calls_closed_after_their_process_died_are_counted_as_failed(engine):
    processes, calls = ProcessRepo(engine), CallRepo(engine)
    processes.register("proc_gone", "host", 1, ttl_s=-1)  # its lease has expired
    started = utcnow() - timedelta(minutes=5)
    store_call(engine, 1, started, status="started", end_time=None, end_reason=None)
    with engine.begin() as connection:
        connection.execute(
            schema.calls.update().where(schema.calls.c.id == "call_0001"),
            {"owner_process_id": "proc_gone"},
        )
    drain(engine)  # its queue row was due, but a call in progress has no tally
    assert totals(engine, started, utcnow())["calls"]["count"] == 0
    assert calls.close_abandoned(processes.live(), utcnow()) == ["call_0001"]
    drain(engine)
    shown = totals(engine, started, utcnow())
    assert shown["calls"] == {"count": 1, "completed": 0, "failed": 1, "end_reasons": {"error": 1}}
    assert shown["metrics"]["score"]["count"] == 1  # with what it had recorded


def test_calls_that_ended_before_the_analytics_migration_are_queued_by_it(engine_at):
    engine = engine_at("0009")
    for n in (1, 2, 3):
        store_call(engine, n, T0 + timedelta(minutes=n), queued=False)
    store_call(engine, 4, T0, queued=False, status="started", end_time=None)
    migrate(engine)
    drain(engine)
    shown = totals(engine, T0, T0 + timedelta(hours=1))
    assert shown["calls"]["count"] == 3
    assert shown["metrics"]["score"]["count"] == 3
