"""Fleet analytics as the console shows it: the charts and totals of a range, for one
agent or all of them, read from ``platform.analytics`` (the rollups), never the facts.

Every bar and point links to the calls list filtered to what it counts: the agent, its
bucket's time range, and its status, end reason, event name or metric value range (a
pass rate's bars: the calls of its agent or deployment in the range).

An agent's dashboard groups its numbers by deployment, the fleet's by agent: the
Evaluations panel shows each metric's pass rate overall and per group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from openline.console import charts
from openline.console.charts import Column, Line, Mark
from openline.console.time_range import TimeRange
from openline.console.time_range import field as input_field
from openline.domain.analytics import AnalyticsFilter, Bucket, GroupBy
from openline.domain.calls import EndReason
from openline.domain.sketch import Distribution
from openline.domain.tally import (
    FAILED,
    PASSED,
    VALUES_SHOWN,
    MetricTally,
    Tally,
    evaluation_json,
    pass_rate,
)
from openline.platform import Platform

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
HISTOGRAM_BINS = 10  # about: edges fall on round numbers
EVENT_KINDS = 8  # colour classes s0…s7, reused past eight event names


@dataclass
class Chart:
    key: str  # the element id
    title: str
    svg: Markup
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # colour class, name, total
    note: str = ""


@dataclass
class EvaluationRow:
    metric: str
    group: str  # the deployment id or agent name it is of
    counts: dict[str, Any]  # judged, passed, failed, errored, pass_rate
    calls_url: str


@dataclass
class Evaluations:
    """Pass rates per evaluation metric: a chart of them, a chart per metric by group
    (when more than one group has results), and a row per metric and group."""

    grouped_by: str  # "deployment" or "agent"
    charts: list[Chart]
    rows: list[EvaluationRow]


@dataclass
class Dashboard:
    span: TimeRange
    totals: dict[str, Any]  # the public tally of the whole range
    charts: list[Chart]
    metric_charts: list[Chart]
    by_agent: list[dict[str, Any]]  # per agent: its tally and name (fleet page)
    calls_url: str  # the calls this dashboard counts
    evaluations: Evaluations | None = None  # None: no metric results in the range


NO_DEPLOYMENT = "(no deployment)"  # calls through an agent's own server URL


def dashboard(ol: Platform, span: TimeRange, agent_id: str | None = None) -> Dashboard:
    group_by: GroupBy = "deployment_id" if agent_id else "agent_id"
    series = ol.analytics.series(
        span.start, span.end, span.grain, AnalyticsFilter(agent_id), group_by
    )
    per_bucket = [Tally.merged(bucket.groups.values()) for bucket in series]
    totals = Tally.merged(per_bucket)
    links = CallLinks(span, agent_id)
    labels = [span.label(bucket.start) for bucket in series]
    per_group = _per_group(series)
    names = {agent["id"]: agent["name"] for agent in ol.agents.list()} if not agent_id else {}
    return Dashboard(
        span=span,
        totals=totals.public(),
        charts=[
            _calls_chart(series, per_bucket, labels, links),
            _end_reasons_chart(totals, links),
            _latency_chart(series, per_bucket, labels, links),
            _events_chart(series, per_bucket, labels, links, totals),
        ],
        metric_charts=[
            chart
            for name in sorted(totals.metrics)
            for chart in _metric_charts(name, totals.metrics[name], links)
        ],
        by_agent=[] if agent_id else _by_agent(per_group, names),
        calls_url=links.calls(),
        evaluations=_evaluations(totals, per_group, links, group_by, names),
    )


class CallLinks:
    """URLs of the calls list, scoped to the dashboard's agent and a time range."""

    def __init__(self, span: TimeRange, agent_id: str | None) -> None:
        self.span = span
        self.scope = {"agent": agent_id} if agent_id else {}

    def calls(self, bucket: Bucket | None = None, **filters: str) -> str:
        start, end = (bucket.start, bucket.end) if bucket else (self.span.start, self.span.end)
        where = self.scope | {"after": input_field(start), "before": input_field(end)}
        return "/console/calls?" + urlencode(where | filters)

    def when(self, bucket: Bucket) -> str:
        return f"{input_field(bucket.start)[5:16]} to {input_field(bucket.end)[11:16]} UTC"


def _calls_chart(
    series: list[Bucket], tallies: list[Tally], labels: list[str], links: CallLinks
) -> Chart:
    shown = []
    for bucket, tally, label in zip(series, tallies, labels, strict=True):
        marks = tuple(
            Mark(
                count,
                status,
                links.calls(bucket, status=status),
                _counted(count, status, links, bucket),
            )
            for status, count in (("completed", tally.completed), ("failed", tally.failed))
        )
        shown.append(Column(label, marks))
    total = Tally.merged(tallies)
    legend = [
        ("completed", "completed", str(total.completed)),
        ("failed", "failed", str(total.failed)),
    ]
    return Chart("calls", "Calls by status", charts.columns("Calls by status", shown), legend)


def _counted(count: float, what: str, links: CallLinks, bucket: Bucket) -> str:
    return f"{charts.number(count)} {what}, {links.when(bucket)}"


def _end_reasons_chart(totals: Tally, links: CallLinks) -> Chart:
    rows = [
        _bar(reason, count, _reason_kind(reason), links.calls(end_reason=reason), "calls")
        for reason, count in totals.end_reasons.most_common()
    ]
    return Chart("end-reasons", "End reasons", charts.bars("End reasons", rows))


def _bar(label: str, count: int, kind: str, href: str, what: str) -> Column:
    """A column (or row) of one mark."""
    return Column(label, (Mark(count, kind, href, f"{count} {what}: {label}"),))


def _reason_kind(reason: str) -> str:
    """Coloured as the status it gives the call."""
    try:
        return EndReason(reason).status.value
    except ValueError:
        return "other"


def _latency_chart(
    series: list[Bucket], tallies: list[Tally], labels: list[str], links: CallLinks
) -> Chart:
    shown = []
    for name, q in QUANTILES:
        points = []
        for bucket, tally in zip(series, tallies, strict=True):
            value = tally.latency["response"].quantile(q)
            points.append(
                None
                if value is None
                else Mark(
                    value * 1000,
                    name,
                    links.calls(bucket),
                    f"{name} {_ms(value)}, {links.when(bucket)}",
                )
            )
        shown.append(Line(name, tuple(points)))
    title = "Response latency (ms)"
    overall = Tally.merged(tallies).latency["response"]
    legend = [(name, name, _ms(overall.quantile(q))) for name, q in QUANTILES]
    return Chart("latency", title, charts.lines(title, labels, shown), legend)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _events_chart(
    series: list[Bucket], tallies: list[Tally], labels: list[str], links: CallLinks, totals: Tally
) -> Chart:
    names = sorted(totals.events, key=lambda name: (-sum(totals.events[name].values()), name))
    kinds = {name: f"s{i % EVENT_KINDS}" for i, name in enumerate(names)}
    shown = []
    for bucket, tally, label in zip(series, tallies, labels, strict=True):
        marks = []
        for name in names:
            count = sum(tally.events.get(name, {}).values())
            marks.append(
                Mark(
                    count,
                    kinds[name],
                    links.calls(bucket, name=name),
                    _counted(count, name, links, bucket),
                )
            )
        shown.append(Column(label, tuple(marks)))
    legend = [(kinds[name], name, str(sum(totals.events[name].values()))) for name in names]
    return Chart("events", "Events", charts.columns("Events", shown), legend)


def _metric_charts(name: str, metric: MetricTally, links: CallLinks) -> Iterable[Chart]:
    """A histogram of the metric's numbers, bars of its other values (a metric may have both)."""
    if metric.numbers.count:
        edges = histogram_edges(metric.numbers)
        counts = metric.numbers.histogram(edges)
        shown = []
        for (lower, upper), count in zip(pairwise(edges), counts, strict=True):
            href = links.calls(metric=name, metric_min=str(lower), metric_max=str(upper))
            low, high = charts.number(lower), charts.number(upper)
            said = f"{count} values of {name} from {low} to below {high}"
            shown.append(Column(low, (Mark(count, "metric", href, said),)))
        title = f"{name}: numbers"
        note = _range_note(metric.numbers)
        yield Chart(f"metric-{name}", title, charts.columns(title, shown), note=note)
    if metric.values:
        rows = [
            _bar(value, count, "value", links.calls(metric=name, metric_value=value), name)
            for value, count in metric.values.most_common(VALUES_SHOWN)
        ]
        title = f"{name}: values"
        yield Chart(f"metric-{name}-values", title, charts.bars(title, rows))


def histogram_edges(numbers: Distribution) -> list[float]:
    """Round-numbered edges from at or below the least value to above the greatest."""
    lower, upper = numbers.min, numbers.max
    step = charts.nice_ceiling((upper - lower) / HISTOGRAM_BINS or abs(upper) or 1)
    first = round(math.floor(lower / step) * step, 12)
    if first > lower:  # rounding went past it
        first = round(first - step, 12)
    edges = [first]
    while edges[-1] <= upper:
        edges.append(round(first + len(edges) * step, 12))
    return edges


def _range_note(numbers: Distribution) -> str:
    return (
        f"{numbers.count} values from {charts.number(numbers.min)} to "
        f"{charts.number(numbers.max)}; each bar is [from, below)"
    )


def _per_group(series: list[Bucket]) -> dict[str | None, Tally]:
    """The range's tally per group (agent or deployment), most calls first."""
    merged: dict[str | None, Tally] = {}
    for bucket in series:
        for group, tally in bucket.groups.items():
            merged.setdefault(group, Tally()).merge(tally)
    return dict(sorted(merged.items(), key=lambda item: (-item[1].calls, item[0] or "")))


def _by_agent(per_agent: dict[str | None, Tally], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"agent_id": agent_id, "name": names.get(agent_id or ""), "tally": tally.public()}
        for agent_id, tally in per_agent.items()
    ]


def _evaluations(
    totals: Tally,
    per_group: dict[str | None, Tally],
    links: CallLinks,
    group_by: GroupBy,
    names: dict[str, str],
) -> Evaluations | None:
    if not totals.evaluations:
        return None
    noun = group_by.removesuffix("_id")

    def label(group: str | None) -> str:
        if group_by == "agent_id":
            return names.get(group or "", group or "")
        return group or NO_DEPLOYMENT

    def calls_of(group: str | None) -> str:
        if group_by == "agent_id":
            return links.calls(agent=group or "")
        return links.calls(deployment=group) if group else links.calls()

    overall = []
    found = Evaluations(noun, [], [])
    for name, counts in sorted(totals.evaluations.items()):
        overall.append(_rate_row(name, counts, links.calls(), name))
        of_groups = [
            (group, tally.evaluations[name])
            for group, tally in per_group.items()
            if name in tally.evaluations
        ]
        for group, group_counts in of_groups:
            found.rows.append(
                EvaluationRow(name, label(group), evaluation_json(group_counts), calls_of(group))
            )
        if len(of_groups) > 1:
            rows = [
                _rate_row(label(group), c, calls_of(group), f"{name}, {label(group)}")
                for group, c in of_groups
            ]
            title = f"{name}: pass rate by {noun}"
            found.charts.append(Chart(f"evaluation-{name}", title, _shares(title, rows)))
    title = "Evaluations: pass rate"
    found.charts.insert(
        0,
        Chart(
            "evaluations",
            title,
            _shares(title, overall),
            legend=[
                ("completed", "passed", str(sum(c[PASSED] for c in totals.evaluations.values()))),
                ("failed", "failed", str(sum(c[FAILED] for c in totals.evaluations.values()))),
            ],
            note="Pass rate: passed of passed and failed; errors and results without a "
            "verdict are counted, not rated.",
        ),
    )
    return found


def _shares(title: str, rows: list[tuple[Column, str]]) -> Markup:
    return charts.shares(title, [column for column, _ in rows], [note for _, note in rows])


def _rate_row(label: str, counts: list[int], href: str, what: str) -> tuple[Column, str]:
    """A shares row (passed, then failed) and its note, the pass rate."""
    passed, failed = counts[PASSED], counts[FAILED]
    marks = (
        Mark(passed, "completed", href, f"{passed} passed of {passed + failed}: {what}"),
        Mark(failed, "failed", href, f"{failed} failed of {passed + failed}: {what}"),
    )
    rate = pass_rate(counts)
    return Column(label, marks), "—" if rate is None else f"{rate:.0%}"
