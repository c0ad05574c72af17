"""Fleet analytics' rollups on both databases: what a range query answers equals the calls'
own tallies merged, whatever the range and bucket; redaction takes a call out; a rebuild
gives the same rollups; keepers working at once never lose or double a call."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text as sql_text

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
            # unset fields left out: the database may be at a revision before their columns
            row = {name: value for name, value in to_row(fact).items() if value is not None}
            connection.execute(TABLE_OF[type(fact)].insert(), [row])
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


# -- evaluations and test runs --------------------------------------------------------

VERDICTS = {"pass": ("completed", True), "fail": ("completed", False), "error": ("failed", None)}


def store_results(engine, call_id: str, **verdicts: str) -> None:
    """Final metric results of a call: metric name (``_`` for ``-``) → pass | fail | error."""
    now = utcnow()
    rows = [
        {
            "id": f"metric_result_{call_id}_{name}",
            "call_id": call_id,
            "metric_id": f"metric_{name}",
            "metric_name": name.replace("_", "-"),
            "agent_id": "agent_a",
            "status": VERDICTS[verdict][0],
            "final": True,
            "passed": VERDICTS[verdict][1],
            "created_at": now,
            "updated_at": now,
        }
        for name, verdict in verdicts.items()
    ]
    with engine.begin() as connection:
        connection.execute(schema.metric_results.insert(), rows)


def evaluations(engine, start, end, where=EVERY_CALL, group_by=None) -> dict:
    series = AnalyticsRepo(engine).series(start, end, "hour", where, group_by)
    groups: dict = {}
    for bucket in series:
        for group, tally in bucket.groups.items():
            groups.setdefault(group, Tally()).merge(tally)
    return {group: tally.public()["evaluations"] for group, tally in groups.items()}


def rate(passed: int, failed: int, errored: int = 0) -> dict:
    judged = passed + failed
    return {
        "judged": judged + errored,
        "passed": passed,
        "failed": failed,
        "errored": errored,
        "pass_rate": round(passed / judged, 6) if judged else None,
    }


def test_pass_rates_per_metric_and_deployment_come_from_final_results_only(engine):
    for n in range(1, 9):
        store_call(engine, n, T0 + timedelta(minutes=n), "dep_1" if n <= 4 else "dep_2")
        verdict = "pass" if n % 4 else "fail"  # dep_1: 3 of 4 pass; dep_2: 3 of 4
        store_results(engine, f"call_{n:04d}", scored_high=verdict, judge="error")
    store_results(engine, "call_0005", scored_high_v2="fail")
    with engine.begin() as connection:  # still being judged: not counted
        connection.execute(
            schema.metric_results.update().where(schema.metric_results.c.call_id == "call_0006"),
            {"final": False, "status": "pending", "passed": None},
        )
    drain(engine)
    end = T0 + timedelta(hours=1)
    assert evaluations(engine, T0, end, group_by="deployment_id") == {
        "dep_1": {"judge": rate(0, 0, 4), "scored-high": rate(3, 1)},
        "dep_2": {"judge": rate(0, 0, 3), "scored-high": rate(2, 1), "scored-high-v2": rate(0, 1)},
    }
    assert totals(engine, T0, end)["evaluations"]["scored-high"] == rate(5, 2)
    spring = AnalyticsFilter(metadata=(("campaign", "spring"),))  # calls 1, 3, 5, 7
    assert evaluations(engine, T0, end, spring)[None]["scored-high"] == rate(4, 0)


def test_results_judged_after_the_first_tally_move_the_rollups_without_recomputing(
    engine, monkeypatch
):
    for n in range(1, 41):
        store_call(engine, n, T0 + timedelta(seconds=20 * n), f"dep_{n % 2}")
    drain(engine)
    assert totals(engine, T0, T0 + timedelta(hours=1))["evaluations"] == {}
    for n in range(1, 41):
        verdict = "pass" if n % 3 else "fail"
        store_results(engine, f"call_{n:04d}", scored_high=verdict, evals="error")  # a name
    with engine.begin() as connection:  # what the analysis does once a call's are final
        queue_tallies(connection, [f"call_{n:04d}" for n in range(1, 41)], T0)
        queue_tallies(connection, ["call_0001"], T0)  # twice: a second pass changes nothing

    def recomputed(*args):
        raise AssertionError("a rollup was recomputed from its parts")

    monkeypatch.setattr("openline.store.rollups._parts", recomputed)
    drain(engine)
    store_results(engine, "call_0002", late="fail")  # a call with results gains one more
    with engine.begin() as connection:
        queue_tallies(connection, ["call_0002"], T0)
    drain(engine)
    monkeypatch.undo()
    shown = totals(engine, T0, T0 + timedelta(hours=1), "minute")
    assert shown["evaluations"] == {
        "evals": rate(0, 0, 40), "late": rate(0, 1), "scored-high": rate(27, 13),
    }  # fmt: skip
    assert shown["calls"]["count"] == 40
    kept = rollups_of(engine)
    RollupKeeper(engine).rebuild()
    assert rollups_of(engine) == kept


def test_a_changed_call_whose_results_came_too_is_recomputed(engine):
    store_call(engine, 1, T0)
    drain(engine)
    store_results(engine, "call_0001", scored_high="fail")
    with engine.begin() as connection:  # a late fact, and the results: recomputed
        metric = LogMetric("call_0001", 99, 99, 9.0, "score", 50)
        connection.execute(TABLE_OF[LogMetric].insert(), [to_row(metric)])
        queue_tallies(connection, ["call_0001"], T0)
    drain(engine)
    shown = totals(engine, T0, T0 + timedelta(days=1), "day")
    assert shown["metrics"]["score"]["count"] == 2
    assert shown["evaluations"] == {"scored-high": rate(0, 1)}


def test_test_runs_calls_are_left_out_unless_asked_for(engine):
    for n in range(1, 7):
        metadata = {"campaign": "spring" if n % 2 else "autumn"}
        if n > 3:
            metadata["test_run"] = "run_1"
        store_call(engine, n, T0 + timedelta(minutes=10 * n), "dep_1", metadata=metadata)
    store_call(engine, 7, T0 + timedelta(minutes=5), "dep_1", metadata={"test_run": None})
    store_results(engine, "call_0002", scored_high="pass")
    store_results(engine, "call_0005", scored_high="fail")
    drain(engine)
    start, end = T0, T0 + timedelta(days=1)
    everything = AnalyticsFilter(include_test_runs=True)
    assert totals(engine, start, end)["calls"]["count"] == 4  # 1, 2, 3 and 7
    assert totals(engine, start, end, where=everything) == expected(engine, start, end)
    assert totals(engine, start, end, where=everything)["calls"]["count"] == 7
    assert totals(engine, start, end, where=everything)["evaluations"] == {
        "scored-high": rate(1, 1)
    }
    assert totals(engine, start, end)["evaluations"] == {"scored-high": rate(1, 0)}
    # a range edge inside a minute, by the minute, grouped: the same calls
    edge = T0 + timedelta(minutes=40, seconds=30)
    assert totals(engine, edge, end, "minute", everything)["calls"]["count"] == 2
    assert totals(engine, edge, end, "minute")["calls"]["count"] == 0
    grouped = AnalyticsRepo(engine).series(start, end, "day", everything, "deployment_id")
    assert sum(t.calls for b in grouped for t in b.groups.values()) == 7
    # a metadata filter: every call's tally, test runs out unless asked for or named
    autumn = (("campaign", "autumn"),)  # calls 2, 4, 6
    assert totals(engine, start, end, where=AnalyticsFilter(metadata=autumn))["calls"]["count"] == 1
    also = AnalyticsFilter(metadata=autumn, include_test_runs=True)
    assert totals(engine, start, end, where=also)["calls"]["count"] == 3
    named = AnalyticsFilter(metadata=(("test_run", "run_1"),))
    assert named.public()["include_test_runs"] is True
    assert totals(engine, start, end, where=named)["calls"]["count"] == 3
    # rebuilt, recomputed (a redaction) or redone: still out of the rollups
    kept = rollups_of(engine)
    assert sum(calls for (grain, *_), (calls, _) in kept.items() if grain == "day") == 4
    RollupKeeper(engine).rebuild()
    assert rollups_of(engine) == kept
    CallRepo(engine).redact("call_0004")
    CallRepo(engine).redact("call_0001")
    drain(engine)
    assert totals(engine, start, end)["calls"]["count"] == 3
    assert totals(engine, start, end, where=everything)["calls"]["count"] == 5


def test_migration_0012_counts_results_and_takes_test_runs_out(engine_at):
    """Calls tallied at 0011 (no evaluations, test runs in the rollups) are queued by 0012,
    and the keepers make them right."""
    engine = engine_at("0011")
    calls = {1: {}, 2: {"test_run": "run_9"}, 3: {}}
    for n, metadata in calls.items():
        store_call(engine, n, T0 + timedelta(minutes=n), queued=False, metadata=metadata)
    store_results(engine, "call_0001", scored_high="pass")
    store_results(engine, "call_0002", scored_high="fail")
    tallies = {}
    with engine.begin() as connection:  # the rows as 0011's keeper wrote them
        for n, metadata in calls.items():
            call_id = f"call_{n:04d}"
            facts = facts_of(call_id, n)
            start = T0 + timedelta(minutes=n)
            tally = Tally.of_call("completed", start, start, None, facts)
            tallies[n] = tally
            connection.execute(
                text_insert("call_tallies"),
                {
                    "call_id": call_id, "agent_id": "agent_a", "deployment_id": "",
                    "start_time": start, "metadata": json.dumps(metadata),
                    "tally": json.dumps(tally.to_json()),
                },
            )  # fmt: skip
        day = Tally.merged(tallies.values())
        for grain, at in (("minute", None), ("hour", T0.replace(minute=0, second=0)),
                          ("day", T0.replace(hour=0, minute=0, second=0))):  # fmt: skip
            rows = (
                [(T0.replace(second=0) + timedelta(minutes=n), t) for n, t in tallies.items()]
                if at is None
                else [(at, day)]
            )
            for bucket_start, tally in rows:
                connection.execute(
                    schema.analytics_rollups.insert(),
                    {
                        "grain": grain, "bucket_start": bucket_start, "agent_id": "agent_a",
                        "deployment_id": "", "calls": tally.calls,
                        "tally": json.dumps(tally.to_json()),
                    },
                )  # fmt: skip
    migrate(engine)
    drain(engine)
    shown = totals(engine, T0, T0 + timedelta(hours=1))
    assert shown["calls"]["count"] == 2
    assert shown["evaluations"] == {"scored-high": rate(1, 0)}
    included = totals(
        engine, T0, T0 + timedelta(hours=1), where=AnalyticsFilter(include_test_runs=True)
    )
    assert included["evaluations"] == {"scored-high": rate(1, 1)}


def text_insert(table: str):
    """An INSERT naming only the columns 0011 had (the declared table has more)."""
    columns = ("call_id", "agent_id", "deployment_id", "start_time", "metadata", "tally")
    return sql_text(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
