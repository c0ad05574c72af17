"""The alerts pages: every rule with its state (firing ones first), one rule with a chart
of its measure and its history of transitions; and the banner the overview shows while
rules fire.

Read from ``platform.alerts`` (the rules' public JSON, their transitions and samples), as
the other pages read their repositories: the evaluator writes, these pages only show.
An objective has no comparison or threshold of its own: it is shown against the factor
of its burn condition (``detail.condition``), a burn rate at or above it breaching.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from openline.console import charts
from openline.console._web import SignedIn, not_found_page, page, platform_of
from openline.console.charts import Level, Line, Mark
from openline.console.time_range import field as input_field
from openline.domain.alerts import COMPARISONS, OBJECTIVE, window_text
from openline.domain.time import as_utc, utcnow
from openline.platform import Platform
from openline.store.pagination import PageRequest

router = APIRouter(prefix="/console", include_in_schema=False)

HISTORY_PAGE = 25
CHART_SPAN = timedelta(hours=24)
CHART_SLOTS = 96  # at most: a point every 15 minutes over a day
SLOT_EVALUATIONS = 2  # at least, a slot: evaluations drift, a slot of one would miss some
SHOWN = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}
NOT = {">": "≤", ">=": "<", "<": "≥", "<=": ">"}  # what a clear value is to the threshold
RULE_TIMES = ("state_since", "evaluated_at", "created_at", "updated_at")


@dataclass(frozen=True)
class ScopePart:
    text: str
    href: str | None = None
    code: bool = False  # an id, shown as code


@dataclass(frozen=True)
class MeasureChart:
    svg: Markup
    start: datetime
    end: datetime
    note: str


# -- pages -------------------------------------------------------------------------------


@router.get("/alerts")
def alerts_page(request: Request, _: SignedIn) -> HTMLResponse:
    ol = platform_of(request)
    names = _agent_names(ol)
    rules = firing_first(ol.alerts.list())
    return page(
        request,
        "alerts.html",
        section="alerts",
        rows=[_row(rule, names) for rule in rules],
        firing=sum(rule["state"] == "firing" for rule in rules),
    )


@router.get("/alerts/{rule_id}")
def alert_page(
    request: Request,
    rule_id: str,
    _: SignedIn,
    starting_after: str = "",
    ending_before: str = "",
) -> HTMLResponse:
    ol = platform_of(request)
    rule = ol.alerts.get(rule_id)
    if rule is None:
        return not_found_page(request, "alert rule", rule_id, "/console/alerts")
    found = ol.alerts.history(
        rule_id, PageRequest(HISTORY_PAGE, starting_after or None, ending_before or None)
    )
    transitions = [_with_times(row, ("at",)) for row in found.rows]
    older = newer = None
    here = f"/console/alerts/{rule_id}?"
    if transitions:
        if found.has_more or ending_before:
            older = here + urlencode({"starting_after": transitions[-1]["id"]})
        if starting_after or (ending_before and found.has_more):
            newer = here + urlencode({"ending_before": transitions[0]["id"]})
    end = utcnow()
    created = _moment(rule.get("created_at"))
    start = max(end - CHART_SPAN, created) if created else end - CHART_SPAN
    samples = ol.alerts.samples(rule_id, start, end)
    return page(
        request,
        "alert.html",
        section="alerts",
        **rule_view(rule, _agent_names(ol), samples, start, end, ol.settings.alert_interval_s),
        transitions=[t | {"versus": _versus_of(t, rule)} for t in transitions],
        paged=bool(starting_after or ending_before),
        older_url=older,
        newer_url=newer,
    )


def rule_view(
    rule: dict,
    names: dict[str, str],
    samples: Sequence[dict],
    start: datetime,
    end: datetime,
    interval_s: float,
) -> dict[str, Any]:
    """What a rule's page shows of the rule itself: its row, chart and burn conditions."""
    return {
        "row": _row(rule, names),
        "chart": measure_chart(rule, samples, start, end, interval_s),
        "conditions": burn_conditions(rule),
    }


def firing_banner(ol: Platform) -> list[dict[str, Any]]:
    """The enabled rules firing now, newest first, for the overview's banner (a disabled
    rule keeps its state, but nothing evaluates it)."""
    return [rule for rule in ol.alerts.list(state="firing") if rule.get("enabled", True)]


# -- what the pages show -----------------------------------------------------------------


def firing_first(rules: Sequence[dict]) -> list[dict]:
    """Firing rules first, each group in the order given (newest first)."""
    return sorted(rules, key=lambda rule: rule["state"] != "firing")


def versus(value: float | None, comparison: str | None, threshold: float | None) -> str:
    """A value against its threshold as the relation that holds: ``0.6 > 0.2`` for a
    breach of ``> 0.2``, ``0.1 ≤ 0.2`` for a clear value; without a value, the condition."""
    if comparison not in COMPARISONS or threshold is None:
        return "—" if value is None else charts.number(value)
    limit = charts.number(threshold)
    if value is None:
        return f"— (fires {SHOWN[comparison]} {limit})"
    sign = SHOWN[comparison] if COMPARISONS[comparison](value, threshold) else NOT[comparison]
    return f"{charts.number(value)} {sign} {limit}"


def scope(rule: dict, names: dict[str, str]) -> list[ScopePart]:
    """What the rule watches: its agent (linked), deployment (linked), metadata."""
    where = rule.get("scope") or {}
    parts = []
    agent_id = where.get("agent_id")
    if agent_id:
        if agent_id in names:
            parts.append(ScopePart(names[agent_id], f"/console/agents/{agent_id}"))
        else:
            parts.append(ScopePart(f"{agent_id} (deleted)", code=True))
    deployment_id = where.get("deployment_id")
    if deployment_id:
        parts.append(ScopePart(deployment_id, f"/console/deployments/{deployment_id}", True))
    for key, value in sorted((where.get("metadata") or {}).items()):
        parts.append(ScopePart(f"{key}={value}", code=True))
    return parts or [ScopePart("All agents")]


def measure_chart(
    rule: dict, samples: Sequence[dict], start: datetime, end: datetime, interval_s: float
) -> MeasureChart:
    """The rule's evaluated values from ``start`` to ``end`` as a line, the threshold (and
    a different resolve threshold) across it. The span is cut into at most CHART_SLOTS
    slots of at least two evaluation intervals; each slot shows its worst value (the
    highest for a rule that fires above its threshold, the lowest below), its point
    linking to the calls its windows held."""
    span = max((end - start).total_seconds(), 1.0)
    count = max(1, min(CHART_SLOTS, int(span // max(SLOT_EVALUATIONS * interval_s, 1e-3))))
    step = span / count
    comparison = _condition(rule)[0] or ">"
    worse: Callable[[float, float], bool] = operator.gt if ">" in comparison else operator.lt
    worst: list[dict | None] = [None] * count
    for sample in samples:
        at, value = _moment(sample["at"]), sample.get("value")
        if at is None or value is None:
            continue
        i = min(count - 1, max(0, int((at - start).total_seconds() // step)))
        held = worst[i]
        if held is None or worse(value, held["value"]):
            worst[i] = {"value": value, "calls": sample.get("calls", 0), "at": at}
    window = timedelta(seconds=_window_s(rule))
    short = span <= 3600
    links = _calls_link(rule)
    points: list[Mark | None] = []
    for held in worst:
        if held is None:
            points.append(None)
            continue
        at = held["at"]
        said = (
            f"{charts.number(held['value'])} at {at:%H:%M:%S} UTC "
            f"({held['calls']} call{'' if held['calls'] == 1 else 's'})"
        )
        points.append(Mark(held["value"], "measure", links(at - window, at), said))
    labels = [
        (start + timedelta(seconds=i * step)).strftime("%H:%M:%S" if short else "%H:%M")
        for i in range(count)
    ]
    title = f"{rule.get('name', 'rule')}: {rule.get('description') or 'value'}"
    svg = charts.lines(title, labels, [Line("measure", tuple(points))], _levels(rule))
    note = (
        f"Each point is the worst value evaluated in {_span_words(step)}; "
        "it links to the calls its window held."
    )
    return MeasureChart(svg, start, end, note)


def burn_conditions(rule: dict) -> list[dict[str, Any]]:
    """An objective's burn conditions as last evaluated: each one's factor, windows and
    burn rates (none before its first evaluation, or for a threshold rule)."""
    found = ((rule.get("detail") or {}) if rule.get("kind") == OBJECTIVE else {}).get(
        "conditions"
    ) or {}
    return [
        {
            "name": name,
            "factor": charts.number(c["factor"]),
            "long": window_text(int(c["long_window_s"])),
            "short": window_text(int(c["short_window_s"])),
            "long_burn": versus(c.get("long_burn_rate"), ">=", c["factor"]),
            "short_burn": versus(c.get("short_burn_rate"), ">=", c["factor"]),
        }
        for name, c in found.items()
    ]


# -- pieces --------------------------------------------------------------------------------


def _row(rule: dict, names: dict[str, str]) -> dict[str, Any]:
    comparison, threshold = _condition(rule)
    resolve = rule.get("resolve_threshold")
    objective = rule.get("objective") or {}
    measure = (rule.get("measure") or {}).get("type", "value")
    return {
        "rule": _with_times(rule, RULE_TIMES),
        "versus": versus(rule.get("value"), comparison, threshold),
        "scope": scope(rule, names),
        "threshold": None if threshold is None else charts.number(threshold),
        "resolve": None if resolve in (None, threshold) else charts.number(resolve),
        "measure": "burn rate" if rule.get("kind") == OBJECTIVE else measure.replace("_", " "),
        "window": rule.get("window") or (f"{objective['period']} period" if objective else "—"),
    }


def _condition(rule: dict) -> tuple[str | None, float | None]:
    """The comparison and threshold the rule's value is read against: its own, or for an
    objective the factor of the burn condition its value is of (``>=``)."""
    if rule.get("kind") != OBJECTIVE:
        return rule.get("comparison"), rule.get("threshold")
    detail = rule.get("detail") or {}
    shown = (detail.get("conditions") or {}).get(detail.get("condition") or "")
    return ">=", None if shown is None else shown["factor"]


def _levels(rule: dict) -> list[Level]:
    """What the chart draws across: the threshold and a different resolve threshold, or
    an objective's burn conditions' factors."""
    if rule.get("kind") == OBJECTIVE:
        conditions = ((rule.get("detail") or {}).get("conditions") or {}).items()
        return [
            Level(c["factor"], "threshold", f"{name} ≥ {charts.number(c['factor'])}")
            for name, c in conditions
        ]
    threshold, resolve = rule.get("threshold"), rule.get("resolve_threshold")
    if threshold is None:
        return []
    sign = SHOWN.get(rule.get("comparison") or "", rule.get("comparison") or "")
    levels = [Level(threshold, "threshold", f"fires {sign} {charts.number(threshold)}")]
    if resolve is not None and resolve != threshold:
        levels.append(Level(resolve, "resolve", f"resolves at {charts.number(resolve)}"))
    return levels


def _window_s(rule: dict) -> float:
    """How far back the rule's value looks: its window, or its burn condition's long one."""
    if rule.get("kind") != OBJECTIVE:
        return rule.get("window_s") or 0
    detail = rule.get("detail") or {}
    shown = (detail.get("conditions") or {}).get(detail.get("condition") or "") or {}
    return shown.get("long_window_s") or 0


def _versus_of(transition: dict, rule: dict) -> str:
    comparison = _condition(rule)[0]
    return versus(transition.get("value"), comparison, transition.get("threshold"))


def _agent_names(ol: Platform) -> dict[str, str]:
    return {agent["id"]: agent["name"] for agent in ol.agents.list()}


def _calls_link(rule: dict) -> Callable[[datetime, datetime], str]:
    where = rule.get("scope") or {}
    scoped = {
        key: where[name]
        for key, name in (("agent", "agent_id"), ("deployment", "deployment_id"))
        if where.get(name)
    }

    def link(after: datetime, before: datetime) -> str:
        window = {"after": input_field(after), "before": input_field(before + timedelta(seconds=1))}
        return "/console/calls?" + urlencode(scoped | window)

    return link


def _with_times(row: dict, names: Sequence[str]) -> dict[str, Any]:
    """``row`` with its RFC 3339 times read as datetimes (the page's ``when`` shows them)."""
    return row | {name: _moment(row.get(name)) for name in names}


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(value))


def _span_words(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.3g} s"
    if seconds < 5400:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"
