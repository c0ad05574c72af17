"""Ingest: log events and metrics persisted per second through openline's write path,
against a raw batched insert of the same rows into the same database.

* openline: many ``CallLedger``s (one per call, exactly as ``CallSession`` makes them,
  with the harness's ``FactWrites``) feed one ``Writer``; producers emit a burst of
  events and metrics on every call, yield to the event loop, and go on, as they would
  between agent frames. Timed from the first fact to ``await writer.flush()`` (every
  row committed). This includes the ledger (fact objects, payload caps), the writer's
  queue, batching, worker-thread commits, change-feed notices (``pg_notify`` on
  PostgreSQL) and the event loop.
* raw: the very same rows (taken from the ledger beforehand), inserted with SQLAlchemy
  Core ``executemany`` in transactions of the writer's batch size, same engine
  settings, same tables, no event loop.

Both run on SQLite (a WAL file in a temp dir, openline's engine settings) and on
PostgreSQL (a fresh schema, dropped afterwards), alternately, ``--repeat`` times each;
the median is reported, with the ratio openline / raw.

    python bench/ingest.py                     # 60,000 rows per run, both databases
    python bench/ingest.py --quick             # 20,000 rows per run
    python bench/ingest.py --backends sqlite --rows 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from _databases import scratch_database
from sqlalchemy import Engine, Table, func, select, text

from openline import ids
from openline.domain.calls import CallStatus, EndReason, Fact
from openline.harness.ledger import CallLedger
from openline.store import schema
from openline.store.call_writes import CallWrites, FactWrites
from openline.store.calls import CallRepo
from openline.store.facts import TABLE_OF, to_row
from openline.store.feed import ChangeFeed
from openline.store.rollups import RollupKeeper
from openline.store.writer import Writer

PG_URL = os.environ.get(
    "OPENLINE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PAYLOAD_CAP = 65_536  # Settings.payload_cap_chars default
BATCH = 2000  # Settings.writer_max_batch default
TABLES = (schema.log_events, schema.log_metrics)


# --------------------------------------------------------------------------------------
# the workload: per call and round, two log events (SDK nested form and bare form) and
# two metrics (a number and a small object)
# --------------------------------------------------------------------------------------


def emit(ledger: CallLedger, round_: int) -> None:
    ledger.log_event(
        "order_lookup",
        {
            "level": "info",
            "message": f"looked up order {round_}",
            "metadata": {"order_id": f"A{round_:06d}", "status": "shipped", "items": 3},
        },
    )
    ledger.log_event("tool_latency", {"tool": "lookup_order", "ms": 12.5 + round_ % 7})
    ledger.log_metric("llm_ttft_ms", 180.0 + round_ % 50)
    ledger.log_metric("sentiment", {"score": 0.42, "label": "neutral"})


ROWS_PER_ROUND = 4


class _Recorder:
    """A sink that keeps the rows, for the raw baseline."""

    def __init__(self) -> None:
        self.rows: list[tuple[Table, dict[str, Any]]] = []

    def add(self, fact: Fact) -> None:
        self.rows.append((TABLE_OF[type(fact)], to_row(fact)))

    def change(self, fact: Fact) -> None:  # pragma: no cover - logs are never changed
        raise AssertionError("unexpected change")


def workload_rows(calls: int, rounds: int) -> list[tuple[Table, dict[str, Any]]]:
    recorder = _Recorder()
    ledgers = [CallLedger(ids.new_id(ids.CALL), recorder, PAYLOAD_CAP) for _ in range(calls)]
    for round_ in range(rounds):
        for ledger in ledgers:
            emit(ledger, round_)
    return recorder.rows


# --------------------------------------------------------------------------------------
# the two paths
# --------------------------------------------------------------------------------------


async def through_openline(engine: Engine, calls: int, rounds: int) -> tuple[float, int]:
    writer = Writer(engine, ChangeFeed(), BATCH)
    writer.start()
    try:
        began = time.perf_counter()
        sink = FactWrites(writer)
        ledgers = [CallLedger(ids.new_id(ids.CALL), sink, PAYLOAD_CAP) for _ in range(calls)]
        for round_ in range(rounds):
            for ledger in ledgers:
                emit(ledger, round_)
            await asyncio.sleep(0)  # the loop serves other frames between bursts
        await writer.flush()
        elapsed = time.perf_counter() - began
    finally:
        await writer.close()
    return elapsed, writer.batches


def raw_insert(engine: Engine, rows: list[tuple[Table, dict[str, Any]]]) -> tuple[float, int]:
    batches = 0
    began = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        by_table: dict[Table, list[dict]] = defaultdict(list)
        for table, row in rows[start : start + BATCH]:
            by_table[table].append(row)
        with engine.begin() as connection:
            for table, table_rows in by_table.items():
                connection.execute(table.insert(), table_rows)
        batches += 1
    return time.perf_counter() - began, batches


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(t)).scalar() for t in TABLES)


def clear(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE log_events, log_metrics"))
        else:
            for table in TABLES:
                connection.execute(table.delete())
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.commit()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE log_events, log_metrics"))


def ledger_alone(calls: int, rounds: int) -> float:
    """Rows/s the ledger and the sink's row mapping produce with no database at all."""
    sink = _Recorder()
    ledgers = [CallLedger(ids.new_id(ids.CALL), sink, PAYLOAD_CAP) for _ in range(calls)]
    began = time.perf_counter()
    for round_ in range(rounds):
        for ledger in ledgers:
            emit(ledger, round_)
    return len(sink.rows) / (time.perf_counter() - began)


def bench_backend(
    engine: Engine, calls: int, rounds: int, repeat: int
) -> tuple[list[float], list[float], int, int]:
    rows = workload_rows(calls, rounds)
    expected = len(rows)
    raw_rates, openline_rates = [], []
    batches_seen = 0
    for attempt in range(repeat + 1):  # the first round warms caches and is not counted
        clear(engine)
        raw_s, _ = raw_insert(engine, rows)
        assert count_rows(engine) == expected, "raw insert lost rows"
        clear(engine)
        ol_s, batches_seen = asyncio.run(through_openline(engine, calls, rounds))
        stored = count_rows(engine)
        assert stored == expected, f"openline stored {stored} of {expected} rows"
        if attempt:
            raw_rates.append(expected / raw_s)
            openline_rates.append(expected / ol_s)
            print(
                f"    run {attempt}: raw {expected / raw_s:9,.0f} rows/s   "
                f"openline {expected / ol_s:9,.0f} rows/s ({batches_seen} batches)   "
                f"ratio {raw_s / ol_s:4.0%}",
                flush=True,
            )
    return raw_rates, openline_rates, expected, batches_seen


# --------------------------------------------------------------------------------------
# rollup upkeep (--upkeep): the same workload with calls that end (each after
# --call-facts facts) and are replaced, with and without a RollupKeeper at work
# --------------------------------------------------------------------------------------

SCOPES = [(f"agent_ingest{a}", f"dep_ingest{a}_{d}") for a in range(4) for d in range(3)]
UPKEEP_TABLES = "log_events, log_metrics, calls, analytics_queue, call_tallies, analytics_rollups"


class _LiveCall:
    """A call as ``CallSession`` keeps it: its row, its ``CallWrites``, its ledger."""

    def __init__(self, writer: Writer, repo: CallRepo, number: int, life: int) -> None:
        call_id = ids.new_id(ids.CALL)
        agent, deployment = SCOPES[number % len(SCOPES)]
        # due at once (a server waits out the hang-up grace first: the same work, later)
        self.writes = CallWrites(writer, repo, call_id, tally_delay_s=0.0)
        self.ledger = CallLedger(call_id, self.writes, PAYLOAD_CAP)
        self.life = life  # rounds left
        self.row = {
            "id": call_id,
            "agent_id": agent,
            "agent_name": agent,
            "deployment_id": deployment,
            "status": CallStatus.STARTED.value,
            "start_time": self.ledger.started_at,
            "metadata": {"bench": "ingest"},
            "rev": 0,
        }

    def end(self) -> None:
        """What ``CallSession._finish`` writes: the last metric, the end and its queue row."""
        ledger = self.ledger
        ledger.call_over()
        ledger.log_metric("system_call_success", True)
        ended_at = ledger.now()
        self.writes.end(
            self.row, CallStatus.COMPLETED, ledger.started_at + timedelta(seconds=ended_at),
            EndReason.AGENT_HANGUP.value, None, None, ledger.next_rev(),
        )  # fmt: skip


async def with_turnover(
    engine: Engine, calls: int, rounds: int, call_rounds: int, keeper_interval: float | None
) -> dict[str, float]:
    """Timed from the first fact to the last commit; with a keeper, also until every ended
    call is tallied (``drained``), since work it has not done yet is a cost deferred."""
    writer = Writer(engine, ChangeFeed(), BATCH)
    writer.start()
    repo = CallRepo(engine)
    opened = 0

    async def open_calls(count: int, life: int | None = None) -> list[_LiveCall]:
        nonlocal opened
        new = []
        for _ in range(count):
            new.append(_LiveCall(writer, repo, opened, life or 1 + opened % call_rounds))
            opened += 1
        # each session creates its row from a thread, at its start
        await asyncio.gather(*(asyncio.to_thread(repo.create, call.row) for call in new))
        return new

    live = await open_calls(calls)  # set-up, not timed (lives staggered: ends spread out)
    keeper = RollupKeeper(engine) if keeper_interval else None
    ended = 0
    try:
        began = time.perf_counter()
        if keeper is not None:
            keeper.start(keeper_interval)  # as the server runs it (platform.py)
        for round_ in range(rounds):
            for call in live:
                emit(call.ledger, round_)
                call.life -= 1
            over = [call for call in live if not call.life]
            for call in over:
                call.end()
            ended += len(over)
            if over:
                live = [call for call in live if call.life] + await open_calls(
                    len(over), call_rounds
                )
            await asyncio.sleep(0)  # the loop serves other frames between bursts
        await writer.flush()
        ingested = time.perf_counter() - began
        backlog = await asyncio.to_thread(_queued, engine)
        drained = ingested
        if keeper is not None:
            await keeper.close()
            while await asyncio.to_thread(keeper.run_due):
                pass  # what it had not got to yet, at once
            drained = time.perf_counter() - began
    finally:
        if keeper is not None:
            await keeper.close()
        await writer.close()
    return {"ingest_s": ingested, "drained_s": drained, "ended": ended, "backlog": backlog}


def _queued(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(schema.analytics_queue)).scalar()


def _tallied(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(schema.call_tallies)).scalar()


def clear_upkeep(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {UPKEEP_TABLES}"))
        else:
            for table in UPKEEP_TABLES.split(", "):
                connection.execute(text(f"DELETE FROM {table}"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.commit()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"VACUUM ANALYZE {UPKEEP_TABLES}"))


def bench_upkeep(
    engine: Engine, calls: int, rounds: int, call_rounds: int, repeat: int, interval: float
) -> list[dict[str, float]]:
    runs = []
    for attempt in range(repeat + 1):  # the first pair warms caches and is not counted
        pair: dict[str, float] = {}
        for keeper in (False, True):
            clear_upkeep(engine)
            got = asyncio.run(
                with_turnover(engine, calls, rounds, call_rounds, interval if keeper else None)
            )
            rows = count_rows(engine)
            if keeper:
                tallied = _tallied(engine)
                assert tallied == got["ended"], f"{tallied} of {got['ended']} calls tallied"
                pair |= {
                    "with_ingest": rows / got["ingest_s"],
                    "with_drained": rows / got["drained_s"],
                    "backlog": got["backlog"],
                }
            else:
                pair |= {"without": rows / got["ingest_s"], "rows": rows, "ended": got["ended"]}
        if attempt:
            runs.append(pair)
            print(
                f"    upkeep run {attempt}: {pair['ended']:,.0f} calls ended; without "
                f"{pair['without']:9,.0f} rows/s   with keeper {pair['with_ingest']:9,.0f} "
                f"rows/s ({pair['backlog']:,.0f} calls still queued at the last commit), "
                f"{pair['with_drained']:9,.0f} rows/s counting the drain   ratio "
                f"{pair['with_drained'] / pair['without']:4.0%}",
                flush=True,
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description="openline ingest benchmark")
    parser.add_argument("--rows", type=int, default=60_000, help="rows per run (about)")
    parser.add_argument("--calls", type=int, default=150, help="concurrent calls (ledgers)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database to use a schema of")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2 runs")
    parser.add_argument(
        "--upkeep",
        action="store_true",
        help="also: the workload with calls ending, with and without the rollup keeper",
    )
    parser.add_argument(
        "--call-facts", type=int, default=20, help="--upkeep: log facts per call before it ends"
    )
    parser.add_argument(
        "--keeper-interval", type=float, default=1.0, help="--upkeep: the keeper's poll (s)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 20_000, 2
    rounds = max(1, args.rows // (args.calls * ROWS_PER_ROUND))
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    started = time.monotonic()
    print(
        f"ingest: {args.calls} calls x {rounds} rounds x {ROWS_PER_ROUND} rows "
        f"(log events and metrics), batches of {BATCH}, median of {args.repeat} runs; "
        f"{os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    results = []
    upkeep: list[tuple[str, list[dict[str, float]]]] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"  {backend}:", flush=True)
        opener = scratch_database(backend, args.pg_url)
        with opener as engine:
            raw, ours, rows, _ = bench_backend(engine, args.calls, rounds, args.repeat)
            if args.upkeep:
                call_rounds = max(1, args.call_facts // ROWS_PER_ROUND)
                upkeep.append(
                    (
                        backend,
                        bench_upkeep(
                            engine, args.calls, rounds, call_rounds, args.repeat,
                            args.keeper_interval,
                        ),
                    )
                )  # fmt: skip
        ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
        results.append((backend, rows, statistics.median(raw), statistics.median(ours), ratio))
    alone = ledger_alone(args.calls, rounds)
    header = f"{'database':>10} {'rows':>8} | {'raw rows/s':>11} | {'openline rows/s':>15} | ratio"
    print("\nrows persisted per second (median of runs); ratio = openline / raw, median of the")
    print("runs' ratios (each run measures both, back to back)")
    print(header)
    print("-" * len(header))
    for backend, rows, raw, ours, ratio in results:
        print(f"{backend:>10} {rows:>8} | {raw:>11,.0f} | {ours:>15,.0f} | {ratio:5.0%}")
    print(f"(ledger and row mapping alone, no database: {alone:,.0f} rows/s)")
    for backend, _, _, _, ratio in results:
        verdict = "met" if ratio >= 0.5 else "NOT met"
        print(f"aim (ingest >= 50% of raw), {backend}: {ratio:.0%}, {verdict}")
    if upkeep:
        print_upkeep(upkeep, args.call_facts, args.keeper_interval)
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average now {_load()}")


def print_upkeep(upkeep: list[tuple[str, list[dict[str, float]]]], facts: int, interval: float):
    print(
        f"\nrollup upkeep: calls end after {facts} log facts (+ system_call_success) and are "
        f"replaced;\na RollupKeeper polls every {interval:g} s as the server's does; 'with' "
        "counts the time until every ended\ncall is tallied; ratio = with / without, median "
        "of the runs' ratios"
    )
    header = (
        f"{'database':>10} {'rows':>8} {'calls':>6} | {'without rows/s':>14} | "
        f"{'with rows/s':>11} | {'with, drained':>13} | ratio | upkeep cost"
    )
    print(header)
    print("-" * len(header))
    for backend, runs in upkeep:
        ratio = statistics.median(run["with_drained"] / run["without"] for run in runs)
        print(
            f"{backend:>10} {runs[0]['rows']:>8,.0f} {runs[0]['ended']:>6,.0f} | "
            f"{statistics.median(r['without'] for r in runs):>14,.0f} | "
            f"{statistics.median(r['with_ingest'] for r in runs):>11,.0f} | "
            f"{statistics.median(r['with_drained'] for r in runs):>13,.0f} | {ratio:5.0%} | "
            f"{1 - ratio:10.0%}"
        )
    for backend, runs in upkeep:
        ratio = statistics.median(run["with_drained"] / run["without"] for run in runs)
        verdict = "met" if 1 - ratio <= 0.15 else "NOT met"
        print(f"aim (upkeep <= 15% of ingest), {backend}: {1 - ratio:.0%}, {verdict}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
