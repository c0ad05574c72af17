"""Fleet analytics: a 30-day report from the rollups, against a plain SQL scan of the facts.

N calls (20 facts each: 8 turns, user and assistant alternating, with tts/stt ttfb; one
or two tool calls; four metrics, numbers, a string and a boolean; six or seven log events
with levels) from 4 agents x 3 deployments, spread over 30 days, are written straight into
a scratch database (SQLite: a WAL file in a temp dir; PostgreSQL: a fresh schema, dropped
afterwards). Then, per database, in the same run:

* rebuild: ``RollupKeeper.rebuild`` makes every call's tally and every rollup (timed);
* openline: ``AnalyticsRepo.series`` over the 30 days, ``bucket=day``,
  ``group_by=deployment_id``, and ``report`` of it (median of ``--repeat`` runs);
* scan: the same numbers per day and deployment straight from the calls and the facts in
  SQL (counts, sums, window functions for response latency; quantiles exactly, from the
  fetched values on SQLite, ``percentile_disc`` on PostgreSQL), median of
  ``--scan-repeat`` runs.

Each call also has ``--evaluations`` (2) final metric results, drawn from their own
random stream (the facts are the same whatever their number): per deployment, some pass
less often than others; some fail to be judged, some have no verdict. ``--test-runs``
(1 %) of the calls are a test run's (``metadata.test_run``): left out of both answers, and
``with test runs`` times the same report with ``include_test_runs``.

The two answers are compared cell by cell (day x deployment): counts exactly, sums and
means to 1e-6, quantiles within 2 %.

    python bench/analytics.py                       # 1,000,000 calls, both databases
    python bench/analytics.py --quick               # 20,000 calls
    python bench/analytics.py --calls 200000 --backends sqlite
    python bench/analytics.py --quick --evaluations 0 --test-runs 0   # facts only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from _databases import scratch_database
from sqlalchemy import Engine, func, select, text

from openline import ids
from openline.domain.analytics import AnalyticsFilter, report
from openline.domain.tally import VALUES_SHOWN
from openline.store import schema
from openline.store.analytics import AnalyticsRepo
from openline.store.rollups import RollupKeeper

PG_URL = os.environ.get(
    "OPENLINE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
AGENTS, DEPLOYMENTS_PER_AGENT = 4, 3
CHUNK = 5000  # calls per generated transaction
FACTS_PER_CALL = 20
QUANTILE_TOLERANCE = 0.02

# -- the calls ---------------------------------------------------------------------------

CALL_COLS = (
    "id", "agent_id", "agent_name", "deployment_id", "status", "start_time", "end_time",
    "end_reason", "metadata", "rev", "analysis_attempts",
)  # fmt: skip
TURN_COLS = (
    "call_id", "seq", "rev", "timestamp", "role", "text", "end_timestamp", "end_reason",
    "interruptible", "tts_ttfb", "stt_ttfb",
)  # fmt: skip
TOOL_COLS = (
    "call_id", "seq", "rev", "timestamp", "name", "arguments", "tool_call_id", "turn_seq",
    "result", "result_timestamp",
)  # fmt: skip
EVENT_COLS = ("call_id", "seq", "rev", "timestamp", "event", "metadata", "level", "message")
METRIC_COLS = ("call_id", "seq", "rev", "timestamp", "name", "value")
RESULT_COLS = (
    "id", "call_id", "metric_id", "metric_name", "agent_id", "deployment_id", "status",
    "final", "passed", "attempts", "created_at", "updated_at",
)  # fmt: skip
TABLES = {
    "calls": CALL_COLS,
    "turns": TURN_COLS,
    "tool_calls": TOOL_COLS,
    "log_events": EVENT_COLS,
    "log_metrics": METRIC_COLS,
    "metric_results": RESULT_COLS,
}
# Evaluation metrics, and the weights of passed, failed, errored, no verdict (less passed
# and more failed on every second and third deployment of an agent).
EVALUATIONS = (("confirmed-time", (85, 10, 3, 2)), ("polite", (70, 25, 1, 4)))
VERDICTS = (("completed", True), ("completed", False), ("failed", None), ("completed", None))
COMPLETED_REASONS = (
    ["agent_hangup", "client_hangup", "inactivity", "client_disconnected", "max_duration"],
    [60, 25, 6, 6, 3],
)
TOOLS = ("lookup_order", "create_ticket", "transfer_call")
EVENTS = ("intent_detected", "order_lookup", "escalation_offered", "slow_backend")
LEVELS = (["info", "warning", "error", None], [70, 15, 5, 10])
SENTIMENTS = ("positive", "neutral", "negative")


def deployments() -> list[tuple[str, str]]:
    return [
        (f"agent_bench{a}", f"dep_bench{a}_{d}")
        for a in range(AGENTS)
        for d in range(DEPLOYMENTS_PER_AGENT)
    ]


class Generator:
    """Rows of N calls, in start order, as tuples in each table's column order; the
    values as the backend takes them from its driver (SQLite: text and 0/1)."""

    def __init__(
        self, calls: int, backend: str, evaluations: int, test_runs: float, seed: int = 14
    ) -> None:
        self.calls = calls
        self.sqlite = backend == "sqlite"
        self.rng = random.Random(seed)
        self.evaluations = evaluations
        self.test_runs = test_runs
        self.judged = random.Random(seed + 1)  # results and test runs: their own stream
        self.scopes = deployments()
        span = DAYS * 86400.0
        self.step = span / calls
        # per deployment: error rate and response latency median (s): some worse than others
        self.error_rate = [0.02 + 0.02 * (i % 3) for i in range(len(self.scopes))]
        self.latency = [0.45 + 0.15 * (i % 3) + 0.05 * (i // 3) for i in range(len(self.scopes))]

    def chunks(self):
        for first in range(0, self.calls, CHUNK):
            rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
            for i in range(first, min(first + CHUNK, self.calls)):
                self._call(i, rows)
            yield rows

    def _time(self, moment: datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else moment

    def _json(self, value: Any):
        return json.dumps(value)

    def _bool(self, value: bool):
        return int(value) if self.sqlite else value

    def _call(self, i: int, rows: dict[str, list[tuple]]) -> None:
        rng = self.rng
        start = T0 + timedelta(seconds=(i + rng.random()) * self.step)
        scope = rng.randrange(len(self.scopes))
        agent, deployment = self.scopes[scope]
        if rng.random() < self.error_rate[scope]:
            status, reason = "failed", "error"
        else:
            status, reason = "completed", rng.choices(*COMPLETED_REASONS)[0]
        duration = min(3600.0, max(5.0, rng.lognormvariate(4.3, 0.7)))  # median ~74 s
        if reason == "max_duration":
            duration = 3600.0
        duration = round(duration, 3)
        call_id = ids.new_id(ids.CALL, int(start.timestamp() * 1000))
        metadata = {"campaign": rng.choice(("spring", "autumn")), "tier": i % 3}
        if self.judged.random() < self.test_runs:
            metadata["test_run"] = f"run_{i % 7}"
        rows["calls"].append(
            (
                call_id, agent, agent, deployment, status, self._time(start),
                self._time(start + timedelta(seconds=duration)), reason,
                self._json(metadata), FACTS_PER_CALL + 1, 0,
            )
        )  # fmt: skip
        for k in range(self.evaluations):
            name, weights = EVALUATIONS[k % len(EVALUATIONS)]
            worse = scope % DEPLOYMENTS_PER_AGENT * 5
            weights = (weights[0] - worse, weights[1] + worse, *weights[2:])
            result_status, passed = self.judged.choices(VERDICTS, weights)[0]
            at = self._time(start + timedelta(seconds=duration + 2))
            rows["metric_results"].append(
                (
                    f"metric_result_{call_id}_{k}", call_id, f"metric_{k}", f"{name}-{k}",
                    agent, deployment, result_status, self._bool(True),
                    None if passed is None else self._bool(passed), 1, at, at,
                )
            )  # fmt: skip
        turns, tools = rows["turns"], rows["tool_calls"]
        events, metrics = rows["log_events"], rows["log_metrics"]
        seq = 0
        slot = duration / 9
        t = round(0.2 + rng.random() * 0.5, 3)
        tool_calls = 1 + (rng.random() < 0.5)

        def next_seq() -> int:
            nonlocal seq
            seq += 1
            return seq

        def assistant(at: float, words: str) -> float:
            end = round(at + slot * 0.5, 3)
            interrupted = rng.random() < 0.1
            s = next_seq()
            turns.append(
                (
                    call_id, s, s, at, "assistant", words, end,
                    "interrupted" if interrupted else "tts_completed", self._bool(True),
                    round(rng.lognormvariate(-1.6, 0.4), 4), None,
                )
            )  # fmt: skip
            return end

        def user(at: float, words: str) -> float:
            end = round(at + slot * 0.4, 3)
            s = next_seq()
            turns.append(
                (
                    call_id, s, s, at, "user", words, end, None, None, None,
                    round(rng.lognormvariate(-1.9, 0.5), 4),
                )
            )  # fmt: skip
            return end

        def event(at: float) -> None:
            s = next_seq()
            name = rng.choice(EVENTS)
            level = rng.choices(*LEVELS)[0]
            events.append((call_id, s, s, at, name, self._json({"n": s}), level, f"{name} at {at}"))

        def metric(at: float, name: str, value: Any) -> None:
            s = next_seq()
            metrics.append((call_id, s, s, at, name, self._json(value)))

        done = assistant(t, "Hello, thanks for calling. How can I help?")
        event(t)
        for k in range(3):
            said = user(round(done + slot * 0.2, 3), f"I have a question about order {i}-{k}")
            if rng.random() < 0.04:  # the agent began before the caller finished
                at = round(said - 0.3, 3)
            else:
                at = round(said + rng.lognormvariate(math.log(self.latency[scope]), 0.35), 3)
            if k < tool_calls:
                s = next_seq()
                r = rng.random()
                result = None if r < 0.01 else "Error: timeout" if r < 0.05 else '{"ok": true}'
                tools.append(
                    (
                        call_id, s, s, at, TOOLS[(i + k) % 3], self._json({"order": i}),
                        f"tc_{s}", s - 1, result, round(at + 0.2, 3),
                    )
                )  # fmt: skip
            metric(at, "llm_ttft_ms", round(rng.lognormvariate(math.log(180), 0.3), 2))
            done = assistant(at, f"Order {i}-{k} shipped yesterday.")
            event(done)
        user(round(done + slot * 0.2, 3), "Thanks, bye.")
        metric(done, "csat", rng.randint(1, 5))
        metric(done, "sentiment", rng.choice(SENTIMENTS))
        metric(done, "system_call_success", status != "failed")
        while seq < FACTS_PER_CALL:
            event(done)


def generate(engine: Engine, backend: str, calls: int, evaluations: int, test_runs: float) -> float:
    began = time.perf_counter()
    gen = Generator(calls, backend, evaluations, test_runs)
    done, told = 0, 0
    if backend == "sqlite":
        path = engine.url.database
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB, this connection only
        try:
            for rows in gen.chunks():
                connection.execute("BEGIN")
                for table, cols in TABLES.items():
                    marks = ",".join("?" * len(cols))
                    sql = f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})"
                    connection.executemany(sql, rows[table])
                connection.execute("COMMIT")
                done += len(rows["calls"])
                told = _progress("generate", done, calls, told, began)
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
    else:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            for rows in gen.chunks():
                with driver.cursor() as cursor:
                    for table, cols in TABLES.items():
                        with cursor.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN") as copy:
                            for row in rows[table]:
                                copy.write_row(row)
                driver.commit()
                done += len(rows["calls"])
                told = _progress("generate", done, calls, told, began)
        finally:
            raw.close()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))  # what autovacuum gets to in time
    return time.perf_counter() - began


def _progress(what: str, done: int, total: int, told: int, began: float) -> int:
    step = max(1, total // 10)
    if done // step > told // step or done == total:
        rate = done / max(1e-9, time.perf_counter() - began)
        print(f"    {what}: {done:,}/{total:,} calls ({rate:,.0f}/s)", flush=True)
        return done
    return told


def count_facts(engine: Engine) -> int:
    tables = (schema.turns, schema.tool_calls, schema.log_events, schema.log_metrics)
    with engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(t)).scalar() for t in tables)


# -- openline's answer -------------------------------------------------------------------


def openline_answer(
    engine: Engine, test_runs: bool = False
) -> tuple[dict, dict[tuple[str, str], dict]]:
    start, end = T0, T0 + timedelta(days=DAYS)
    where = AnalyticsFilter(include_test_runs=test_runs)
    series = AnalyticsRepo(engine).series(start, end, "day", where, "deployment_id")
    answer = report(start, end, "day", where, "deployment_id", series)
    return answer, {
        (bucket.start.date().isoformat(), dep): tally
        for bucket in series
        for dep, tally in bucket.groups.items()
    }


# -- the scan ----------------------------------------------------------------------------


def _sql(dialect: str) -> dict[str, str]:
    if dialect == "sqlite":
        day = "substr(c.start_time, 1, 10)"
        # SQLite parses fractional seconds into whole milliseconds, now and then one off:
        # whole minutes from julianday, the seconds from the text
        duration = (
            "round((julianday(substr(c.end_time, 1, 16)) - julianday(substr(c.start_time, 1, 16)))"
            " * 1440) * 60 + substr(c.end_time, 18) - substr(c.start_time, 18)"
        )
        is_number = "json_type(m.value) IN ('integer', 'real')"
        number = "json_extract(m.value, '$')"
        value = "m.value"
        not_a_test_run = "json_extract(c.metadata, '$.test_run') IS NULL"
    else:
        day = "to_char(c.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        duration = "extract(epoch FROM c.end_time - c.start_time)::float8"
        is_number = "jsonb_typeof(m.value) = 'number'"
        number = "(m.value #>> '{}')::float8"
        value = "m.value::text"
        not_a_test_run = "c.metadata -> 'test_run' IS NULL"
    ended = (
        f"(SELECT id, deployment_id AS dep, status, end_reason, {day} AS day, "
        f"max(0.0, {duration}) AS duration FROM calls c "
        "WHERE c.start_time >= :start AND c.start_time < :end "
        f"AND c.status != 'started' AND c.redacted_at IS NULL AND {not_a_test_run})"
    )
    if dialect != "sqlite":
        ended = ended.replace("max(0.0,", "greatest(0.0,")
    join = f"JOIN {ended} c ON c.id = f.call_id"
    return {
        "calls": f"SELECT c.day, c.dep, c.status, c.end_reason, count(*), sum(c.duration) "
        f"FROM {ended} c GROUP BY 1, 2, 3, 4",
        "duration": f"SELECT c.day, c.dep, c.duration FROM {ended} c",
        "turns": "SELECT c.day, c.dep, count(*), "
        "sum(CASE WHEN f.end_reason = 'interrupted' THEN 1 ELSE 0 END) "
        f"FROM turns f {join} GROUP BY 1, 2",
        "response": "SELECT c.day, c.dep, f.timestamp - f.prev_done FROM ("
        "SELECT call_id, role, timestamp, "
        "lag(role) OVER w AS prev_role, lag(coalesce(end_timestamp, timestamp)) OVER w "
        "AS prev_done FROM turns WINDOW w AS (PARTITION BY call_id ORDER BY seq)) f "
        f"{join} WHERE f.role = 'assistant' AND f.prev_role = 'user' "
        "AND f.timestamp >= f.prev_done",
        "tts_ttfb": f"SELECT c.day, c.dep, f.tts_ttfb FROM turns f {join} "
        "WHERE f.tts_ttfb IS NOT NULL",
        "stt_ttfb": f"SELECT c.day, c.dep, f.stt_ttfb FROM turns f {join} "
        "WHERE f.stt_ttfb IS NOT NULL",
        "tools": "SELECT c.day, c.dep, f.name, count(*), sum(CASE WHEN f.result IS NULL "
        "OR lower(ltrim(f.result)) LIKE 'error%' THEN 1 ELSE 0 END) "
        f"FROM tool_calls f {join} GROUP BY 1, 2, 3",
        "events": "SELECT c.day, c.dep, f.event, coalesce(f.level, 'unset'), count(*) "
        f"FROM log_events f {join} GROUP BY 1, 2, 3, 4",
        "numbers": f"SELECT c.day, c.dep, m.name, {number} FROM log_metrics m "
        f"{join.replace('f.call_id', 'm.call_id')} WHERE {is_number}",
        "number_stats": f"SELECT c.day, c.dep, m.name, count(*), sum({number}), "
        f"min({number}), max({number}) FROM log_metrics m "
        f"{join.replace('f.call_id', 'm.call_id')} WHERE {is_number} GROUP BY 1, 2, 3",
        "values": f"SELECT c.day, c.dep, m.name, {value}, count(*) FROM log_metrics m "
        f"{join.replace('f.call_id', 'm.call_id')} "
        f"WHERE m.value IS NOT NULL AND NOT ({is_number}) GROUP BY 1, 2, 3, 4",
        "evaluations": "SELECT c.day, c.dep, r.metric_name, r.status, r.passed, count(*) "
        f"FROM metric_results r {join.replace('f.call_id', 'r.call_id')} "
        "WHERE r.final GROUP BY 1, 2, 3, 4, 5",
    }


def _quantiles(connection, dialect: str, sql: str, keys: int, qs, params) -> dict:
    """{key: (count, [quantile per q])}, nearest rank (the ceil(q n)-th smallest)."""
    found: dict[tuple, tuple[int, list]] = {}
    if dialect == "postgresql":
        cols = ", ".join(f"k{j}" for j in range(keys))
        names = ", ".join([f"k{j}" for j in range(keys)] + ["v"])
        array = ", ".join(str(q) for q in qs)
        wrapped = (
            f"SELECT {cols}, count(*), percentile_disc(ARRAY[{array}]) WITHIN GROUP "
            f"(ORDER BY v) FROM ({sql}) AS s ({names}) GROUP BY {cols}"
        )
        for row in connection.execute(text(wrapped), params):
            found[tuple(row[:keys])] = (row[keys], list(row[keys + 1]))
        return found
    values: dict[tuple, list[float]] = defaultdict(list)
    for row in connection.execute(text(sql), params):
        values[tuple(row[:keys])].append(row[keys])
    for key, found_values in values.items():
        found_values.sort()
        n = len(found_values)
        found[key] = (n, [found_values[max(1, math.ceil(q * n)) - 1] for q in qs])
    return found


def _stats(count: int, quantiles: list, qs) -> dict:
    return {f"p{round(q * 100)}": value for q, value in zip(qs, quantiles, strict=True)}


def scan_answer(engine: Engine) -> dict[tuple[str, str], dict]:
    """Per (day, deployment) what ``Tally.public()`` says, from the facts alone."""
    dialect = engine.dialect.name
    sql = _sql(dialect)
    start, end = T0, T0 + timedelta(days=DAYS)
    if dialect == "sqlite":
        params = {
            "start": start.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "end": end.strftime("%Y-%m-%d %H:%M:%S.%f"),
        }
    else:
        params = {"start": start, "end": end}
    cells: dict[tuple[str, str], dict] = {}

    def cell(day: str, dep: str) -> dict:
        if (day, dep) not in cells:
            cells[(day, dep)] = {
                "calls": {"count": 0, "completed": 0, "failed": 0, "end_reasons": {}},
                "duration_s": {"sum": 0.0},
                "turns": {"count": 0, "interrupted": 0},
                "tool_calls": {},
                "latency_s": {
                    name: {"count": 0, "p50": None, "p90": None, "p95": None, "p99": None}
                    for name in ("response", "tts_ttfb", "stt_ttfb")
                },
                "metrics": {},
                "events": {},
                "evaluations": {},
            }
        return cells[(day, dep)]

    with engine.connect() as connection:
        for day, dep, status, reason, count, total in connection.execute(
            text(sql["calls"]), params
        ):
            calls = cell(day, dep)["calls"]
            calls["count"] += count
            calls["completed"] += count if status == "completed" else 0
            calls["failed"] += count if status == "failed" else 0
            if reason:
                calls["end_reasons"][reason] = calls["end_reasons"].get(reason, 0) + count
            cell(day, dep)["duration_s"]["sum"] += total
        qs = (0.5, 0.95)
        for (day, dep), (n, found) in _quantiles(
            connection, dialect, sql["duration"], 2, qs, params
        ).items():
            shape = cell(day, dep)["duration_s"]
            shape["mean"] = shape["sum"] / n
            shape |= _stats(n, found, qs)
        for day, dep, count, interrupted in connection.execute(text(sql["turns"]), params):
            cell(day, dep)["turns"] = {"count": count, "interrupted": interrupted}
        qs = (0.5, 0.9, 0.95, 0.99)
        for name in ("response", "tts_ttfb", "stt_ttfb"):
            for (day, dep), (n, found) in _quantiles(
                connection, dialect, sql[name], 2, qs, params
            ).items():
                cell(day, dep)["latency_s"][name] = {"count": n} | _stats(n, found, qs)
        for day, dep, name, count, errors in connection.execute(text(sql["tools"]), params):
            cell(day, dep)["tool_calls"][name] = {"count": count, "errors": errors}
        for day, dep, name, level, count in connection.execute(text(sql["events"]), params):
            event = cell(day, dep)["events"].setdefault(name, {"count": 0, "levels": {}})
            event["count"] += count
            event["levels"][level] = count
        for day, dep, name, count, total, low, high in connection.execute(
            text(sql["number_stats"]), params
        ):
            cell(day, dep)["metrics"][name] = {
                "count": count,
                "mean": total / count,
                "min": low,
                "max": high,
            }
        qs = (0.5, 0.95)
        for (day, dep, name), (n, found) in _quantiles(
            connection, dialect, sql["numbers"], 3, qs, params
        ).items():
            cell(day, dep)["metrics"][name] |= _stats(n, found, qs)
        values: dict[tuple, dict[str, int]] = defaultdict(dict)
        for day, dep, name, value, count in connection.execute(text(sql["values"]), params):
            decoded = json.loads(value)
            key = decoded[:200] if isinstance(decoded, str) else json.dumps(decoded)
            values[(day, dep, name)][key] = values[(day, dep, name)].get(key, 0) + count
        for (day, dep, name), counted in values.items():
            metrics = cell(day, dep)["metrics"]
            if name in metrics:  # sometimes a number: counted as "number"
                counted["number"] = counted.get("number", 0) + metrics[name]["count"]
            ranked = sorted(counted.items(), key=lambda item: -item[1])
            shown = dict(ranked[:VALUES_SHOWN])
            if rest := sum(count for _, count in ranked[VALUES_SHOWN:]):
                shown["other"] = shown.get("other", 0) + rest
            metrics[name] = {"count": sum(counted.values()), "values": shown}
        for day, dep, name, status, passed, count in connection.execute(
            text(sql["evaluations"]), params
        ):
            shown = cell(day, dep)["evaluations"].setdefault(
                name, {"judged": 0, "passed": 0, "failed": 0, "errored": 0}
            )
            shown["judged"] += count
            if status != "completed":
                shown["errored"] += count
            elif passed is not None:
                shown["passed" if passed else "failed"] += count
        for found in cells.values():
            for shown in found["evaluations"].values():
                rated = shown["passed"] + shown["failed"]
                shown["pass_rate"] = shown["passed"] / rated if rated else None
    return cells


# -- comparing ---------------------------------------------------------------------------


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where two public tallies disagree: counts exactly, quantiles within 2 %, other
    numbers (sums, means, min, max) to 1e-6."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if set(ours) != set(theirs):
            return [f"{path}: keys {sorted(set(ours) ^ set(theirs))}"]
        return [d for key in ours for d in differences(ours[key], theirs[key], f"{path}.{key}")]
    if ours is None or theirs is None:
        return [] if ours is None and theirs is None else [f"{path}: {ours} vs {theirs}"]
    leaf = path.rsplit(".", 1)[-1]
    if leaf[:1] == "p" and leaf[1:].isdigit():
        bound = QUANTILE_TOLERANCE * abs(theirs) + 1e-9
    elif isinstance(theirs, int) and isinstance(ours, int):
        bound = 0
    else:
        bound = max(1e-6, 1e-9 * abs(theirs))
    return [] if abs(ours - theirs) <= bound else [f"{path}: {ours} vs {theirs}"]


def compare(ours: dict, theirs: dict) -> list[str]:
    problems = []
    for key in sorted(set(ours) | set(theirs)):
        if key not in ours or key not in theirs:
            problems.append(f"{key}: only in {'openline' if key in ours else 'the scan'}")
            continue
        problems += [f"{key}{d}" for d in differences(ours[key].public(), theirs[key])]
    return problems


# -- the run -----------------------------------------------------------------------------


def bench_backend(backend: str, args) -> dict[str, Any]:
    print(f"  {backend}: load average {_load()}", flush=True)
    with scratch_database(backend, args.pg_url) as engine:
        generate_s = generate(engine, backend, args.calls, args.evaluations, args.test_runs)
        facts = count_facts(engine)
        print(f"    {facts:,} facts in {generate_s:.1f} s", flush=True)
        began = time.perf_counter()
        told = [0]

        def progress(done: int, total: int) -> None:
            told[0] = _progress("rebuild (tallies)", done, total, told[0], began)

        tallied = RollupKeeper(engine).rebuild(progress)
        rebuild_s = time.perf_counter() - began
        assert tallied == args.calls, f"rebuild tallied {tallied} of {args.calls} calls"
        print(
            f"    rebuild: {rebuild_s:.1f} s ({tallied / rebuild_s:,.0f} calls/s), "
            f"load average {_load()}",
            flush=True,
        )
        openline_answer(engine)  # warm-up, not counted
        ours_ms = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            answer, ours = openline_answer(engine)
            ours_ms.append((time.perf_counter() - began) * 1000)
        size = len(json.dumps(answer))
        print(
            f"    openline: {statistics.median(ours_ms):.1f} ms p50 of {args.repeat} "
            f"(min {min(ours_ms):.1f}, max {max(ours_ms):.1f}); reply {size:,} bytes",
            flush=True,
        )
        scan_ms = []
        for _ in range(args.scan_repeat):
            began = time.perf_counter()
            theirs = scan_answer(engine)
            scan_ms.append((time.perf_counter() - began) * 1000)
            print(f"    scan: {scan_ms[-1]:,.0f} ms", flush=True)
        problems = compare(ours, theirs)
        counted = answer["totals"]["calls"]["count"]
        if counted != sum(cell["calls"]["count"] for cell in theirs.values()):
            problems.append(f"totals: {counted} calls")
        with_ms = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            everything, _ = openline_answer(engine, test_runs=True)
            with_ms.append((time.perf_counter() - began) * 1000)
        if everything["totals"]["calls"]["count"] != args.calls:
            problems.append(f"with test runs: {everything['totals']['calls']['count']} calls")
        print(
            f"    with test runs: {statistics.median(with_ms):.1f} ms p50 of {args.repeat} "
            f"({args.calls - counted:,} test runs' calls)",
            flush=True,
        )
        for problem in problems[:10]:
            print(f"    DIFFERS {problem}", flush=True)
        print(f"    load average {_load()}", flush=True)
    return {
        "backend": backend,
        "calls": args.calls,
        "facts": facts,
        "generate_s": generate_s,
        "rebuild_s": rebuild_s,
        "ours_ms": statistics.median(ours_ms),
        "with_ms": statistics.median(with_ms),
        "scan_ms": statistics.median(scan_ms),
        "cells": len(theirs),
        "problems": len(problems),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="openline fleet analytics benchmark")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="timed openline queries")
    parser.add_argument("--scan-repeat", type=int, default=3, help="timed scans")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database to use a schema of")
    parser.add_argument("--quick", action="store_true", help="20,000 calls")
    parser.add_argument("--evaluations", type=int, default=2, help="metric results per call")
    parser.add_argument(
        "--test-runs", type=float, default=0.01, help="share of the calls that are test runs'"
    )
    args = parser.parse_args()
    if args.quick:
        args.calls = 20_000
    started = time.monotonic()
    print(
        f"analytics: {args.calls:,} calls x {FACTS_PER_CALL} facts over {DAYS} days, "
        f"{AGENTS} agents x {DEPLOYMENTS_PER_AGENT} deployments, {args.evaluations} metric "
        f"results per call, {args.test_runs:.0%} test runs; query: {DAYS} days, "
        f"bucket=day, group_by=deployment_id; openline median of {args.repeat}, scan median "
        f"of {args.scan_repeat}; {os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    results = [
        bench_backend(backend, args)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]
    ]
    header = (
        f"{'database':>10} {'calls':>9} {'facts':>11} | {'generate s':>10} | {'rebuild s':>9} "
        f"{'calls/s':>7} | {'openline ms':>11} | {'scan ms':>10} | {'ratio':>7} | "
        f"{'+tests ms':>9} | agree"
    )
    print("\nopenline: series + report (p50); +tests: the same with include_test_runs (p50);")
    print("scan: the facts in SQL (p50); ratio = scan / openline; agree: every (day,")
    print("deployment) cell, counts exact, quantiles within 2 %")
    print(header)
    print("-" * len(header))
    for r in results:
        agree = "yes" if not r["problems"] else f"NO ({r['problems']})"
        print(
            f"{r['backend']:>10} {r['calls']:>9,} {r['facts']:>11,} | {r['generate_s']:>10.1f} | "
            f"{r['rebuild_s']:>9.1f} {r['calls'] / r['rebuild_s']:>7,.0f} | "
            f"{r['ours_ms']:>11.1f} | {r['scan_ms']:>10,.0f} | "
            f"{r['scan_ms'] / r['ours_ms']:>6,.0f}x | {r['with_ms']:>9.1f} | "
            f"{agree} ({r['cells']} cells)"
        )
    for r in results:
        ratio = r["scan_ms"] / r["ours_ms"]
        verdict = "met" if r["ours_ms"] < 300 and ratio >= 100 else "NOT met"
        print(
            f"aim (< 300 ms and >= 100x the scan), {r['backend']}: {r['ours_ms']:.0f} ms, "
            f"{ratio:,.0f}x, {verdict}"
        )
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average now {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
