"""Two deployments of an agent side by side over a range: every measure ``compare``
lines up (calls, failure rate, latency quantiles, tools, metrics, events, evaluation pass
rates), the ones that got worse from A to B marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openline.console import charts
from openline.console.dashboard import CallLinks
from openline.console.time_range import TimeRange
from openline.domain.analytics import PASS_RATE_WORSE_BY, WORSE_BY, AnalyticsFilter, Change, compare
from openline.domain.tally import Tally
from openline.platform import Platform

_RATES = ("failure rate", "interrupted share", "error rate", "pass rate")
# What the page says "worse" means.
WORSE_MEANS = (
    f"worse: more than {WORSE_BY:.0%} up; a pass rate more than "
    f"{PASS_RATE_WORSE_BY * 100:.0f} points down"
)


@dataclass
class Row:
    section: str
    measure: str
    a: str
    b: str
    change: str  # B against A, relative
    worse: bool | None  # None: the measure has no better direction, or a side has no value


@dataclass
class Comparison:
    choices: list[dict[str, Any]]  # the agent's deployments and any with calls: id, calls
    a: str
    b: str
    rows: list[Row]
    calls: dict[str, str]  # each side's calls list
    problem: str = ""
    worse_means: str = WORSE_MEANS


def comparison(ol: Platform, agent_id: str, span: TimeRange, a: str, b: str) -> Comparison:
    series = ol.analytics.series(
        span.start, span.end, span.grain, AnalyticsFilter(agent_id), "deployment_id"
    )
    tallies: dict[str, Tally] = {}
    for bucket in series:
        for deployment_id, tally in bucket.groups.items():
            if deployment_id:  # calls without a deployment: an agent server's
                tallies.setdefault(deployment_id, Tally()).merge(tally)
    known = {row["id"] for row in ol.deployment_repo.for_agent(agent_id)}
    ids = sorted(known | set(tallies), reverse=True)  # ids are time-ordered: newest first
    choices = [{"id": i, "calls": tallies[i].calls if i in tallies else 0} for i in ids]
    with_calls = [i for i in ids if i in tallies]
    b = b or (with_calls[0] if with_calls else "")
    a = a or next((i for i in with_calls if i != b), "")
    found = Comparison(choices, a, b, [], {})
    if not a or not b:
        found.problem = "Comparing needs two deployments with calls in this range."
        return found
    if a == b:
        found.problem = "Pick two different deployments."
        return found
    unknown = [i for i in (a, b) if i not in ids]
    if unknown:
        found.problem = f"This agent has no deployment {unknown[0][:64]!r}."
        return found
    sides = [tallies.get(i, Tally()).public() for i in (a, b)]
    found.rows = [_row(change) for change in compare(*sides)]
    links = CallLinks(span, agent_id)
    found.calls = {i: links.calls(deployment=i) for i in (a, b)}
    return found


def _row(change: Change) -> Row:
    return Row(
        change.section,
        change.measure,
        _shown(change, change.before),
        _shown(change, change.after),
        _points(change.before, change.after)
        if change.section == "evaluations"
        else _relative(change.before, change.after),
        change.worse,
    )


def _shown(change: Change, value: float | None) -> str:
    if value is None:
        return "—"
    if change.measure.endswith(_RATES):
        return f"{value:.1%}"
    if change.section == "latency_s":
        return f"{value * 1000:.0f} ms"
    if change.section == "duration_s":
        return f"{value:.1f} s"
    if change.section == "events":
        return f"{value:.2f}"
    return charts.number(value)


def _points(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    return f"{(after - before) * 100:+.0f} pts"


def _relative(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    if before == 0:
        return "" if after == 0 else "new"
    return f"{(after - before) / abs(before):+.0%}"
