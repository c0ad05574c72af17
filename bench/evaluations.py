"""Evaluations: what judging metrics adds to each call's post-call analysis.

N ended calls (``analytics.py``'s generator: 20 facts each, 4 agents x 3 deployments) are
written straight into a scratch database (SQLite: a WAL file in a temp dir; PostgreSQL: a
fresh schema, dropped afterwards), with one webhook endpoint told of every call (a
delivered ``call_completed`` row), so that storing an analysis also queues its
``post_call_analysis`` delivery, as in production. Then, per database, one
``AnalysisRunner`` built as ``platform.py`` builds it (``Evaluator`` with a ``Judge``,
``OfflineSummarizer``, ``CallRepo``, ``ResultRepo``; no change feed, no sweep) analyses
every call, one after another, in phases:

* baseline: no metric attached to any agent: read the call and its facts, shape it,
  summarize, store the summary and queue the webhook;
* rules: K rule metrics (``--metrics``, default 5: event, tool_called, metric, transcript,
  end_reason, over what the generated calls hold, so some pass and some fail) attached
  to every agent;
* llm (``--llm L``): L prompt metrics judged by a fake OpenAI-compatible endpoint on
  loopback (this script, ``--serve-judge``, in its own process).

Between phases the calls' analysis is reset (pending, no summary, no attempts), their
results, queued deliveries and tally queue rows deleted, and the metrics swapped. After
each phase the record is checked: every call ``done`` with a summary and one queued
``post_call_analysis``; exactly one final result per (call, metric), each ``completed``;
each metric's passes equal to what an independent check of the generated facts expects.
A wrong record is printed (``WRONG …``) and the script exits 1. Nothing about time is
asserted.

    python bench/evaluations.py                      # 2,000 calls, 5 rule metrics, both databases
    python bench/evaluations.py --quick              # 300 calls
    python bench/evaluations.py --llm 1 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _databases import scratch_database
from _procs import free_port, load_average, process, run_load, wait_http
from analytics import EVENTS, PG_URL, TOOLS, generate
from sqlalchemy import Engine, func, select, text

from openline.analysis.evaluator import Evaluator
from openline.analysis.judges import Judge
from openline.analysis.runner import MAX_ATTEMPTS, AnalysisRunner
from openline.analysis.summarizers import OfflineSummarizer
from openline.domain.time import utcnow
from openline.domain.webhook_events import CALL_COMPLETED, POST_CALL_ANALYSIS
from openline.store import schema
from openline.store.calls import CallRepo
from openline.store.delivery_queue import outbox_row
from openline.store.evaluations import MetricRepo, ResultRepo

JUDGE_TIMEOUT_S = 30.0  # the setting's default; the lease is 2 x it + 5 s, as platform.py
PHASE_LIMIT_S = 1800.0  # a phase stops analysing new calls after this long
WEBHOOK_ID = "agent_webhook_bench"

# -- what the calls hold, for the rules and their independent check -----------------------


@dataclass
class Digest:
    """What the generator put in one call, read back with plain SQL."""

    end_reason: str | None = None
    events: set[str] = field(default_factory=set)
    tools: set[str] = field(default_factory=set)
    numbers: dict[str, float] = field(default_factory=dict)  # last number per metric name
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)


Expect = Callable[[Digest], bool]


def rule_metrics(k: int) -> list[tuple[str, dict, Expect]]:
    """K rule metrics: one of each type, then variants, each with its expected verdict."""
    reasons = (
        ["agent_hangup", "client_hangup"],
        ["inactivity", "max_duration"],
        ["agent_hangup"],
        ["client_disconnected", "error"],
    )
    made: list[tuple[str, dict, Expect]] = []
    for j in range(k):
        kind, n = j % 5, j // 5
        if kind == 0:
            name = EVENTS[(1 + n) % len(EVENTS)]
            rule = {"type": "event", "name": name}
            made.append((f"event_{j}", rule, lambda d, name=name: name in d.events))
        elif kind == 1:
            name = TOOLS[(2 + n) % len(TOOLS)]
            rule = {"type": "tool_called", "name": name}
            made.append((f"tool_{j}", rule, lambda d, name=name: name in d.tools))
        elif kind == 2:
            threshold = 4 - n % 4
            rule = {"type": "metric", "name": "csat", "op": ">=", "value": threshold}
            made.append((f"csat_{j}", rule, lambda d, t=threshold: d.numbers.get("csat", -1) >= t))
        elif kind == 3:
            digit = (7 + n) % 10
            pattern = rf"order \d*{digit}-0"
            rule = {"type": "transcript", "role": "user", "pattern": pattern}
            made.append(
                (
                    f"transcript_{j}",
                    rule,
                    lambda d, p=re.compile(pattern, re.I): any(p.search(t) for t in d.user),
                )
            )
        else:
            allowed = reasons[n % len(reasons)]
            rule = {"type": "end_reason", "in": allowed}
            made.append((f"end_reason_{j}", rule, lambda d, a=allowed: d.end_reason in a))
    return made


def llm_metrics(count: int) -> list[tuple[str, None, Expect]]:
    """The fake judge passes a call when its prompt holds "7-0" (a caller asking about
    an order whose number ends in 7)."""
    return [
        (f"llm_{j}", None, lambda d: any("7-0" in t for t in d.user + d.assistant))
        for j in range(count)
    ]


def digests(engine: Engine) -> dict[str, Digest]:
    found: dict[str, Digest] = defaultdict(Digest)
    with engine.connect() as connection:
        for call_id, reason in connection.execute(
            select(schema.calls.c.id, schema.calls.c.end_reason)
        ):
            found[call_id].end_reason = reason
        e = schema.log_events.c
        for call_id, name in connection.execute(select(e.call_id, e.event)):
            found[call_id].events.add(name)
        t = schema.tool_calls.c
        for call_id, name in connection.execute(select(t.call_id, t.name)):
            found[call_id].tools.add(name)
        m = schema.log_metrics.c
        for call_id, name, value in connection.execute(
            select(m.call_id, m.name, m.value).order_by(m.call_id, m.seq)
        ):
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[call_id].numbers[name] = float(value)
        u = schema.turns.c
        for call_id, role, said in connection.execute(select(u.call_id, u.role, u.text)):
            (found[call_id].user if role == "user" else found[call_id].assistant).append(said)
    return found


# -- set-up and reset ---------------------------------------------------------------------


def prepare(engine: Engine) -> list[str]:
    """Mark the generated calls' analysis pending, and tell one webhook endpoint of each
    (a delivered ``call_completed``): ``save_analysis`` then queues ``post_call_analysis``."""
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(schema.calls.update().values(analysis_status="pending"))
        calls = connection.execute(
            select(schema.calls.c.id, schema.calls.c.agent_id).order_by(schema.calls.c.id)
        ).all()
        connection.execute(
            schema.webhooks.insert(),
            {"id": WEBHOOK_ID, "url": "http://127.0.0.1:9/hooks", "secret": "unused",
             "created_at": now, "updated_at": now},
        )  # fmt: skip
        rows = []
        for call_id, agent_id in calls:
            payload = {"type": CALL_COMPLETED, "call_id": call_id, "agent_id": agent_id}
            row = outbox_row(WEBHOOK_ID, 21, payload)
            rows.append(row | {"status": "delivered", "next_attempt_at": None, "delivered_at": now})
        connection.execute(schema.webhook_deliveries.insert(), rows)
    _analyze_tables(engine)
    return [call_id for call_id, _ in calls]


def reset(engine: Engine, metrics: list[tuple[str, dict | None, Expect]]) -> dict[str, str]:
    """Forget every analysis and result, and attach ``metrics`` (and only them) to every
    agent. Returns metric name -> id."""
    d = schema.webhook_deliveries
    with engine.begin() as connection:
        connection.execute(
            schema.calls.update().values(
                analysis_status="pending", summary=None, analysis_error=None, analysis_attempts=0
            )
        )
        connection.execute(schema.metric_results.delete())
        connection.execute(d.delete().where(d.c.event_type == POST_CALL_ANALYSIS))
        connection.execute(schema.analytics_queue.delete())
        connection.execute(schema.agent_metrics.delete())
        connection.execute(schema.eval_metrics.delete())
        agents = connection.execute(select(schema.calls.c.agent_id).distinct()).scalars().all()
    repo = MetricRepo(engine)
    made = {}
    for name, rule, _ in metrics:
        prompt = f"bench metric {name}" if rule else "Did the caller get an answer?"
        metric = repo.create(name, prompt, None, rule)
        made[name] = metric["id"]
        for agent in agents:
            repo.attach(agent, metric["id"])
    _analyze_tables(engine)
    return made


def _analyze_tables(engine: Engine) -> None:
    """PostgreSQL: what autovacuum gets to in time (fresh statistics, no dead rows)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("calls", "metric_results", "webhook_deliveries", "analytics_queue"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))


# -- the phase ----------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    metrics: int
    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    ms: list[float] = field(default_factory=list)
    results: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    profile: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    @property
    def p99(self) -> float:
        return sorted(self.ms)[min(len(self.ms) - 1, int(len(self.ms) * 0.99))]

    @property
    def per_s(self) -> float:
        return self.calls / self.wall_s if self.wall_s else 0.0


def make_runner(engine: Engine, judge_url: str | None, http: httpx.AsyncClient) -> AnalysisRunner:
    """As ``platform.py`` builds it, without the change feed (nothing listens here)."""
    key = "bench-key" if judge_url else None
    judge = Judge(http, judge_url, key, "bench-model", JUDGE_TIMEOUT_S)
    evaluator = Evaluator(ResultRepo(engine), judge, 2 * JUDGE_TIMEOUT_S + 5, MAX_ATTEMPTS)
    return AnalysisRunner(CallRepo(engine), OfflineSummarizer(), evaluator, retry_s=30.0)


async def analyze_phase(
    engine: Engine, judge_url: str | None, call_ids: list[str], phase: Phase, profile: bool
) -> None:
    async with httpx.AsyncClient() as http:
        await analyze_all(make_runner(engine, judge_url, http), call_ids, phase, profile)


async def analyze_all(
    runner: AnalysisRunner, call_ids: list[str], phase: Phase, profile: bool
) -> None:
    profilers: list[cProfile.Profile] = []
    if profile:  # every to_thread call on one worker thread, profiled too
        loop = asyncio.get_running_loop()

        def start_worker_profile() -> None:
            profilers.append(cProfile.Profile())
            profilers[-1].enable()

        pool = concurrent.futures.ThreadPoolExecutor(1, initializer=start_worker_profile)
        loop.set_default_executor(pool)
        main = cProfile.Profile()
        main.enable()
    began, cpu = time.perf_counter(), time.process_time()
    for call_id in call_ids:
        if time.perf_counter() - began > PHASE_LIMIT_S:
            phase.wrong.append(f"stopped after {PHASE_LIMIT_S:.0f} s: {phase.calls} calls")
            break
        started = time.perf_counter()
        await runner.analyze(call_id)
        phase.ms.append((time.perf_counter() - started) * 1000)
        phase.calls += 1
    phase.wall_s = time.perf_counter() - began
    phase.cpu_s = time.process_time() - cpu
    if profile:
        main.disable()
        await asyncio.to_thread(lambda: profilers[0].disable())
        out = io.StringIO()
        stats = pstats.Stats(main, stream=out)
        stats.add(profilers[0])
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(r"openline/(store|analysis|domain)", 20)
        phase.profile = out.getvalue()


def check(
    engine: Engine,
    phase: Phase,
    metrics: list[tuple[str, dict | None, Expect]],
    metric_ids: dict[str, str],
    expected: dict[str, Digest],
) -> None:
    """The record after a phase: what is wrong goes into ``phase.wrong``."""
    r, c, d = schema.metric_results.c, schema.calls.c, schema.webhook_deliveries.c
    n, k = phase.calls, len(metrics)
    with engine.connect() as connection:
        done = connection.execute(
            select(func.count()).where(c.analysis_status == "done", c.summary.is_not(None))
        ).scalar()
        queued = connection.execute(
            select(func.count()).where(d.event_type == POST_CALL_ANALYSIS)
        ).scalar()
        rows = connection.execute(select(func.count()).select_from(schema.metric_results)).scalar()
        pairs = connection.execute(
            select(func.count()).select_from(select(r.call_id, r.metric_id).distinct().subquery())
        ).scalar()
        final = connection.execute(
            select(func.count()).where(r.final.is_(True), r.status == "completed")
        ).scalar()
        passed = defaultdict(set)
        for call_id, metric_id in connection.execute(
            select(r.call_id, r.metric_id).where(r.passed.is_(True))
        ):
            passed[metric_id].add(call_id)
    phase.results = final
    if done != n:
        phase.wrong.append(f"{done} of {n} calls analysed")
    if queued != n:
        phase.wrong.append(f"{queued} post_call_analysis deliveries queued for {n} calls")
    if not rows == pairs == final == n * k:
        phase.wrong.append(
            f"results: {rows} rows, {pairs} (call, metric) pairs, {final} final and completed; "
            f"expected {n * k}"
        )
    for name, _, expect in metrics:
        want = {call_id for call_id, digest in expected.items() if expect(digest)}
        got = passed[metric_ids[name]]
        phase.passed[name] = len(got)
        if got != want:
            phase.wrong.append(
                f"{name}: {len(got)} passed, expected {len(want)} "
                f"({len(got - want)} too many, {len(want - got)} missing)"
            )


def run_phase(
    engine: Engine,
    name: str,
    metrics: list[tuple[str, dict | None, Expect]],
    call_ids: list[str],
    expected: dict[str, Digest],
    judge_url: str | None,
    profile: bool,
) -> Phase:
    metric_ids = reset(engine, metrics)
    phase = Phase(name, len(metrics))
    print(f"    {name}: {len(metrics)} metrics, load average {load_average()}", flush=True)
    run_load(lambda: analyze_phase(engine, judge_url, call_ids, phase, profile))
    check(engine, phase, metrics, metric_ids, expected)
    print(
        f"    {name}: {phase.calls:,} calls in {phase.wall_s:.1f} s, {phase.p50:.2f} ms p50, "
        f"{phase.p99:.2f} ms p99, {phase.results:,} results; load average {load_average()}",
        flush=True,
    )
    if phase.passed:
        print("      passed: " + ", ".join(f"{k} {v:,}" for k, v in phase.passed.items()))
    for problem in phase.wrong:
        print(f"    WRONG {name}: {problem}", flush=True)
    return phase


def bench_backend(backend: str, args, judge_url: str | None) -> list[Phase]:
    print(f"  {backend}: load average {load_average()}", flush=True)
    with scratch_database(backend, args.pg_url) as engine:
        generate_s = generate(engine, backend, args.calls, evaluations=0, test_runs=0.0)
        call_ids = prepare(engine)
        expected = digests(engine)
        print(f"    {len(call_ids):,} calls generated in {generate_s:.1f} s", flush=True)
        plan: list[tuple[str, list]] = [("baseline", []), ("rules", rule_metrics(args.metrics))]
        if args.llm:
            plan.append(("llm", llm_metrics(args.llm)))
        phases = [
            run_phase(
                engine, name, metrics, call_ids, expected, judge_url,
                args.profile and name != "baseline",
            )
            for name, metrics in plan
        ]  # fmt: skip
    return phases


# -- the fake judge -----------------------------------------------------------------------


def serve_judge(port: int) -> None:
    """Chat completions answered at once: passed when the prompt holds "7-0"."""
    import uvicorn

    def reply(passed: bool) -> bytes:
        verdict = {"value": passed, "passed": passed, "reason": "the fake judge said so"}
        message = {"role": "assistant", "content": json.dumps(verdict)}
        return json.dumps(
            {"id": "chatcmpl-bench", "object": "chat.completion", "model": "bench-model",
             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        ).encode()  # fmt: skip

    answers = {True: reply(True), False: reply(False)}

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        answer = answers[b"7-0" in body] if scope["path"].endswith("/chat/completions") else b"{}"
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        lifespan="off", loop="uvloop", http="httptools",
    )  # fmt: skip


# -- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="openline evaluations benchmark")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--metrics", type=int, default=5, help="rule metrics per agent")
    parser.add_argument(
        "--llm", type=int, nargs="?", const=1, default=0,
        help="also a phase with L prompt metrics judged by a fake LLM on loopback",
    )  # fmt: skip
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database to use a schema of")
    parser.add_argument("--quick", action="store_true", help="300 calls")
    parser.add_argument(
        "--profile", action="store_true",
        help="cProfile the phases with metrics (one worker thread; times inflated)",
    )  # fmt: skip
    parser.add_argument("--serve-judge", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_judge:
        serve_judge(args.serve_judge)
        return
    if args.quick:
        args.calls = 300
    if args.metrics < 1:
        parser.error("--metrics must be at least 1")
    started = time.monotonic()
    print(
        f"evaluations: {args.calls:,} calls x 20 facts, one analysis each per phase, one "
        f"after another; {args.metrics} rule metrics"
        + (f", then {args.llm} LLM metrics (fake judge on loopback)" if args.llm else "")
        + f"; {os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    with tempfile.TemporaryDirectory(prefix="openline-bench-judge-") as tmp:
        if args.llm:
            port = free_port()
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve-judge", str(port)]
            with process(argv, Path(tmp) / "judge.log") as judge:
                wait_http(f"http://127.0.0.1:{port}/status", judge)
                url = f"http://127.0.0.1:{port}/v1"
                results = {b: bench_backend(b, args, url) for b in backends}
        else:
            results = {b: bench_backend(b, args, None) for b in backends}
    report(results)
    wrong = sum(len(p.wrong) for phases in results.values() for p in phases)
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average now {load_average()}")
    if args.profile:
        for backend, phases in results.items():
            for phase in phases:
                if phase.profile:
                    print(f"\nprofile, {backend} {phase.name}: top 20 by tottime, then")
                    print(f"openline's top 20 by cumulative time\n{phase.profile}")
    if wrong:
        print(f"{wrong} problems with the record (WRONG above)")
        sys.exit(1)


def report(results: dict[str, list[Phase]]) -> None:
    print("\nms: wall time of one AnalysisRunner.analyze (p50 over the calls); calls/s and")
    print("results/s over the phase; ratio = p50 / the baseline's p50; +ms/result = (p50 -")
    print("baseline p50) / metrics; cpu: this process's CPU ms per call; record: one final")
    print("result per (call, metric), passes as expected, every call done and announced")
    header = (
        f"{'database':>10} {'phase':>8} {'calls':>6} {'metrics':>7} | {'ms p50':>7} "
        f"{'p99':>7} {'cpu':>6} | {'calls/s':>7} {'results/s':>9} | {'ratio':>6} "
        f"{'+ms/result':>10} | record"
    )
    print(header)
    print("-" * len(header))
    for backend, phases in results.items():
        base = phases[0]
        for p in phases:
            ratio = p.p50 / base.p50
            extra = (p.p50 - base.p50) / p.metrics if p.metrics else 0.0
            record = "ok" if not p.wrong else f"WRONG ({len(p.wrong)})"
            if p.metrics and not p.wrong:
                record += f" ({p.results:,} results)"
            cpu = p.cpu_s * 1000 / max(1, p.calls)
            print(
                f"{backend:>10} {p.name:>8} {p.calls:>6,} {p.metrics:>7} | {p.p50:>7.2f} "
                f"{p.p99:>7.2f} {cpu:>6.2f} | {p.per_s:>7.1f} "
                f"{p.results / p.wall_s if p.wall_s else 0:>9.1f} | {ratio:>5.2f}x "
                f"{extra:>10.2f} | {record}"
            )


if __name__ == "__main__":
    main()
