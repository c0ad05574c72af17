"""Alerts: what one evaluation round of many rules costs, against a dashboard's report.

The calls of bench/analytics.py (N calls x 20 facts over 30 days, 4 agents x 3
deployments) are written into a scratch database and rolled up. Then ``--rules`` rules
are made: every measure (failure rate, call count, an end reason's share, response
latency p95, a metric's mean, an event count, a pass rate), each over a window of its own
from 15 minutes to 6 hours (no two share one: each reads its own), on every scope (all
agents, an agent, a deployment, a metadata filter), plus latency objectives; and
``AlertEvaluator.evaluate`` runs ``--rounds`` rounds, 30 seconds of simulated time apart,
at the end of the data. In the same run, the baseline: the
console's 24-hour overview (``AnalyticsRepo.series`` by hour, grouped by deployment, and
``report``), the read an alert rule replaces a person refreshing.

Reported per database: the first round (objectives read their 30-day budget then), the
later rounds' median, per rule, the share of one core the evaluator takes at the
default 30 s interval, and the ratio round / overview.

    python bench/alerts.py                     # 200,000 calls, 100 rules, both databases
    python bench/alerts.py --calls 20000 --rules 30 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta
from typing import Any

from _databases import scratch_database
from analytics import DAYS, PG_URL, T0, _load, deployments, generate
from sqlalchemy import Engine

from openline.alerts.evaluator import AlertEvaluator
from openline.domain.alerts import parse_rule
from openline.domain.analytics import AnalyticsFilter, report
from openline.store.alerts import AlertRepo
from openline.store.analytics import AnalyticsRepo
from openline.store.leadership import Leadership
from openline.store.rollups import RollupKeeper

INTERVAL_S = 30.0  # the default OPENLINE_ALERT_INTERVAL_S
MEASURES = (
    ({"type": "failure_rate"}, ">", 0.05),
    ({"type": "call_count"}, "<", 1),
    ({"type": "end_reason_share", "end_reasons": ["inactivity"]}, ">", 0.1),
    ({"type": "latency", "latency": "response", "quantile": "p95"}, ">", 1.5),
    ({"type": "metric", "metric": "csat", "aggregate": "mean"}, "<", 3.5),
    ({"type": "event_count", "event": "escalation_offered", "per_call": True}, ">", 0.5),
    ({"type": "pass_rate", "metric": "polite-1"}, "<", 0.8),
)


def scopes() -> list[dict[str, Any]]:
    pairs = deployments()
    return [
        {},
        {"agent_id": pairs[0][0]},
        {"deployment_id": pairs[1][1]},
        {"metadata": {"campaign": "spring"}},
    ]


def make_rules(repo: AlertRepo, count: int) -> int:
    """``count`` rules cycling through measures and scopes, each over a window of its own
    (15 minutes to 6 hours: no two rules share one, the evaluator's worst case); every
    tenth is an objective."""
    for n in range(count):
        scope = scopes()[n % 4]
        if n % 10 == 9:
            objective = {"latency": "response", "target_s": 1.0 + n / 1000, "ratio": 0.95}
            spec: dict[str, Any] = {"objective": objective, "scope": scope}
        else:
            measure, comparison, threshold = MEASURES[n % len(MEASURES)]
            spec = {"measure": measure, "comparison": comparison, "threshold": threshold}
            spec |= {"window": f"{15 + n * 7 % 345}m", "scope": scope}
        repo.create(f"rule {n}", parse_rule(spec), [])
    return count


def overview_ms(engine: Engine, now) -> float:
    began = time.perf_counter()
    start, where = now - timedelta(hours=24), AnalyticsFilter()
    series = AnalyticsRepo(engine).series(start, now, "hour", where, "deployment_id")
    report(start, now, "hour", where, "deployment_id", series)
    return (time.perf_counter() - began) * 1000


def bench_backend(backend: str, args) -> dict[str, Any]:
    print(f"  {backend}: load average {_load()}", flush=True)
    with scratch_database(backend, args.pg_url) as engine:
        generate(engine, backend, args.calls, evaluations=2, test_runs=0.0)
        RollupKeeper(engine).rebuild()
        repo = AlertRepo(engine)
        rules = make_rules(repo, args.rules)
        evaluator = AlertEvaluator(
            repo, AnalyticsRepo(engine), Leadership(engine, 1), None, "http://bench", INTERVAL_S
        )
        now = T0 + timedelta(days=DAYS) - timedelta(hours=1)
        overview_ms(engine, now)  # warm-up, not counted
        baseline = statistics.median(overview_ms(engine, now) for _ in range(args.rounds))
        rounds_ms, transitions = [], 0
        for n in range(args.rounds):
            began = time.perf_counter()
            transitions += len(evaluator.evaluate(now + timedelta(seconds=n * INTERVAL_S)))
            rounds_ms.append((time.perf_counter() - began) * 1000)
        states = [rule["state"] for rule in repo.list()]
        later = statistics.median(rounds_ms[1:])
        print(
            f"    first round {rounds_ms[0]:,.0f} ms, later p50 {later:,.0f} ms; "
            f"{transitions} transitions, {states.count('firing')} firing; "
            f"load average {_load()}",
            flush=True,
        )
    return {
        "backend": backend,
        "calls": args.calls,
        "rules": rules,
        "first_ms": rounds_ms[0],
        "later_ms": later,
        "overview_ms": baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="openline alert evaluation benchmark")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7, help="evaluation rounds, 30 s apart")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database to use a schema of")
    args = parser.parse_args()
    print(
        f"alerts: {args.calls:,} calls over {DAYS} days, {args.rules} rules, {args.rounds} "
        f"rounds {INTERVAL_S:g} s apart; {os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    results = [
        bench_backend(backend, args)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]
    ]
    header = (
        f"{'database':>10} {'calls':>9} {'rules':>5} | {'first ms':>8} | {'round ms':>8} "
        f"{'ms/rule':>7} {'core %':>6} | {'overview ms':>11} | {'ratio':>6}"
    )
    print("\nfirst: the first round (objectives' 30-day budgets read); round: later rounds'")
    print("p50; core %: round / 30 s interval; overview: the 24-hour dashboard report (p50);")
    print("ratio = round / overview")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['backend']:>10} {r['calls']:>9,} {r['rules']:>5} | {r['first_ms']:>8,.0f} | "
            f"{r['later_ms']:>8,.0f} {r['later_ms'] / r['rules']:>7.2f} "
            f"{r['later_ms'] / (INTERVAL_S * 10):>5.2f}% | {r['overview_ms']:>11,.1f} | "
            f"{r['later_ms'] / r['overview_ms']:>5.1f}x"
        )


if __name__ == "__main__":
    main()
