"""Alert rules: what they measure over a window of calls, when they fire and resolve
(docs/alerts.md).

A threshold rule compares a measure of the window's tally (``domain.tally.Tally``, read
from the analytics rollups) with a threshold. An objective rule watches how fast a latency
objective's error budget burns, with the multi-window conditions of Google's SRE workbook.
``step`` moves a rule's state ``ok → firing → resolved`` with hysteresis: breaching
(clear) evaluations in a row before it fires (resolves), and a resolve threshold that a
firing rule must get past, so a measure hovering at the threshold does not flap.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from openline.domain.analytics import AnalyticsFilter
from openline.domain.notifications import ALERT_FIRING, ALERT_RESOLVED
from openline.domain.tally import LATENCIES, Tally, pass_rate
from openline.domain.time import rfc3339, utcnow

OK, FIRING, RESOLVED = "ok", "firing", "resolved"
STATES = (OK, FIRING, RESOLVED)
THRESHOLD, OBJECTIVE = "threshold", "objective"

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
AGGREGATES = ("mean", "min", "max", "p50", "p95", "count")
MEASURES = (
    "failure_rate",
    "call_count",
    "end_reason_share",
    "latency",
    "metric",
    "event_count",
    "pass_rate",
)
MIN_WINDOW_S, MAX_WINDOW_S = 60, 31 * 86_400
DEFAULT_MIN_CALLS = 5
EXAMPLES = 5
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_WINDOW = re.compile(r"^(\d+)([smhd])$")


class RuleProblem(ValueError):
    """A rule that cannot be evaluated: ``field`` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


# -- windows ------------------------------------------------------------------------------


def parse_window(given: Any, field_name: str = "window") -> int:
    """``"15m"`` (or a number of seconds) as seconds, 1 minute to 31 days."""
    if isinstance(given, int) and not isinstance(given, bool):
        seconds = given
    elif isinstance(given, str) and (found := _WINDOW.match(given.strip())):
        seconds = int(found[1]) * _UNITS[found[2]]
    else:
        raise RuleProblem(field_name, f"{given!r} is not a duration such as 90s, 15m, 6h or 7d")
    if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
        raise RuleProblem(field_name, f"{given!r} is not between 1 minute and 31 days")
    return seconds


def window_text(seconds: int) -> str:
    """The shortest exact way to write a window: ``900`` → ``"15m"``."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


# -- measures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """What a threshold rule measures of a tally; ``value`` is None when there is nothing
    to measure (no calls, no such latency or metric)."""

    type: str
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str) -> Any:
        return dict(self.params).get(name)

    def value(self, tally: Tally) -> float | None:
        calls = tally.calls
        match self.type:
            case "call_count":
                return float(calls)
            case "failure_rate":
                return tally.failed / calls if calls else None
            case "end_reason_share":
                ended = sum(tally.end_reasons[reason] for reason in self.param("end_reasons"))
                return ended / calls if calls else None
            case "latency":
                latency = tally.latency[self.param("latency")]
                return latency.quantile(QUANTILES[self.param("quantile")])
            case "metric":
                return _aggregate(tally, self.param("metric"), self.param("aggregate"))
            case "event_count":
                count = sum(tally.events.get(self.param("event"), {}).values())
                if self.param("per_call"):
                    return count / calls if calls else None
                return float(count)
            case "pass_rate":
                return pass_rate(tally.evaluations.get(self.param("metric"), [0, 0, 0, 0]))
        raise AssertionError(self.type)

    def public(self) -> dict[str, Any]:
        return {"type": self.type} | dict(self.params)

    def describe(self) -> str:
        match self.type:
            case "end_reason_share":
                return f"share of calls ended {'/'.join(self.param('end_reasons'))}"
            case "latency":
                return f"{self.param('latency')} latency {self.param('quantile')}"
            case "metric":
                return f"{self.param('metric')} {self.param('aggregate')}"
            case "event_count":
                per = " per call" if self.param("per_call") else ""
                return f"{self.param('event')} events{per}"
            case "pass_rate":
                return f"{self.param('metric')} pass rate"
        return self.type.replace("_", " ")


def _aggregate(tally: Tally, name: str, aggregate: str) -> float | None:
    metric = tally.metrics.get(name)
    if metric is None:
        return 0.0 if aggregate == "count" else None
    if aggregate == "count":
        return float(metric.count)
    numbers = metric.numbers
    if not numbers.count:
        return None
    if aggregate == "mean":
        return numbers.mean
    if aggregate in ("min", "max"):
        return getattr(numbers, aggregate)
    return numbers.quantile(QUANTILES[aggregate])


def parse_measure(given: Any) -> Measure:
    if not isinstance(given, dict) or not isinstance(given.get("type"), str):
        raise RuleProblem(
            "measure", 'must be an object with a "type", e.g. {"type": "failure_rate"}'
        )
    kind = given["type"]
    if kind not in MEASURES:
        raise RuleProblem("measure.type", f"unknown measure {kind!r}; one of {', '.join(MEASURES)}")
    params: dict[str, Any] = {}
    extra = set(given) - {"type"}
    if kind == "end_reason_share":
        reasons = given.get("end_reasons")
        if (
            not isinstance(reasons, list)
            or not reasons
            or not all(isinstance(r, str) and r for r in reasons)
        ):
            raise RuleProblem("measure.end_reasons", "a non-empty list of end reasons")
        params["end_reasons"] = sorted(set(reasons))
    elif kind == "latency":
        params["latency"] = _one_of(given, "latency", LATENCIES, None)
        params["quantile"] = _one_of(given, "quantile", tuple(QUANTILES), "p95")
    elif kind in ("metric", "pass_rate"):
        params["metric"] = _name(given, "metric")
        if kind == "metric":
            params["aggregate"] = _one_of(given, "aggregate", AGGREGATES, "mean")
    elif kind == "event_count":
        params["event"] = _name(given, "event")
        per_call = given.get("per_call", False)
        if not isinstance(per_call, bool):
            raise RuleProblem("measure.per_call", "true or false")
        params["per_call"] = per_call
    if unknown := extra - set(params):
        raise RuleProblem(f"measure.{sorted(unknown)[0]}", f"not a parameter of {kind}")
    return Measure(kind, tuple(params.items()))


def _one_of(given: dict, name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = given.get(name, default)
    if value not in allowed:
        shown = "missing" if value is None else f"{value!r} is unknown"
        raise RuleProblem(f"measure.{name}", f"{shown}; one of {', '.join(allowed)}")
    return value


def _name(given: dict, name: str) -> str:
    value = given.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise RuleProblem(f"measure.{name}", "a name of 1 to 200 characters")
    return value


# -- objectives ---------------------------------------------------------------------------

PERIOD_OF_THE_WORKBOOK_S = 30 * 86_400


@dataclass(frozen=True)
class BurnCondition:
    """Fire when the burn rate is at least ``factor`` over both windows (seconds)."""

    name: str
    factor: float
    long_s: int
    short_s: int


# The SRE workbook's two paging conditions for a 30-day objective (chapter 5, table 5-8).
_WORKBOOK = (("fast", 14.4, 3600, 300), ("slow", 6.0, 6 * 3600, 1800))


@dataclass(frozen=True)
class Objective:
    """``ratio`` of turns' ``latency`` at most ``target_s`` over ``period_s``."""

    latency: str
    target_s: float
    ratio: float
    period_s: int

    @property
    def budget(self) -> float:
        return 1 - self.ratio

    def conditions(self) -> list[BurnCondition]:
        """The workbook's windows, scaled from its 30-day period to this one."""
        scale = self.period_s / PERIOD_OF_THE_WORKBOOK_S
        return [
            BurnCondition(
                name, factor, max(1, round(long_s * scale)), max(1, round(short_s * scale))
            )
            for name, factor, long_s, short_s in _WORKBOOK
        ]

    def bad_share(self, tally: Tally) -> tuple[float | None, int]:
        """(share of turns slower than the target, turns), to within the sketch's 1 %."""
        latencies = tally.latency[self.latency]
        if not latencies.count:
            return None, 0
        fast = latencies.histogram([-math.inf, self.target_s])[0]
        return (latencies.count - fast) / latencies.count, latencies.count

    def burn_rate(self, tally: Tally) -> float | None:
        share, _ = self.bad_share(tally)
        return None if share is None else share / self.budget

    def budget_left(self, tally: Tally) -> float | None:
        """1 − bad turns ÷ the turns the budget allows over the period (below 0: missed)."""
        share, _ = self.bad_share(tally)
        return None if share is None else 1 - share / self.budget

    def public(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "target_s": self.target_s,
            "ratio": self.ratio,
            "period": window_text(self.period_s),
            "period_s": self.period_s,
        }


def parse_objective(given: Any) -> Objective:
    if not isinstance(given, dict):
        raise RuleProblem("objective", 'an object: {"latency", "target_s", "ratio", "period"}')
    latency = given.get("latency", "response")
    if latency not in LATENCIES:
        raise RuleProblem(
            "objective.latency", f"{latency!r} is unknown; one of {', '.join(LATENCIES)}"
        )
    target = _number(given.get("target_s"), "objective.target_s")
    if target <= 0:
        raise RuleProblem("objective.target_s", "must be above 0 seconds")
    ratio = _number(given.get("ratio", 0.95), "objective.ratio")
    if not 0 < ratio < 1:
        raise RuleProblem("objective.ratio", "a share between 0 and 1, e.g. 0.95")
    period = parse_window(given.get("period", "30d"), "objective.period")
    if unknown := set(given) - {"latency", "target_s", "ratio", "period", "period_s"}:
        raise RuleProblem(f"objective.{sorted(unknown)[0]}", "not a field of an objective")
    return Objective(latency, target, ratio, period)


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleProblem(field_name, "a number")
    return float(value)


# -- rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How a rule is evaluated; its name, targets and state are kept beside it."""

    kind: str
    scope: AnalyticsFilter
    window_s: int
    measure: Measure | None = None  # threshold rules
    comparison: str = ">"
    threshold: float = 0.0
    resolve_threshold: float = 0.0
    min_calls: int = DEFAULT_MIN_CALLS
    fire_after: int = 1
    resolve_after: int = 2
    objective: Objective | None = None  # objective rules

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison](value, self.threshold)

    def clear(self, value: float) -> bool:
        """Past the resolve threshold on the good side."""
        return not COMPARISONS[self.comparison](value, self.resolve_threshold)

    def describe(self) -> str:
        if self.objective is not None:
            o = self.objective
            return (
                f"{o.ratio:.4g} of turns' {o.latency} latency within {o.target_s:g}s "
                f"over {window_text(o.period_s)}"
            )
        assert self.measure is not None
        return (
            f"{self.measure.describe()} {self.comparison} {self.threshold:g} "
            f"over {window_text(self.window_s)}"
        )

    def spec(self) -> dict[str, Any]:
        """The stored (and shown) definition; ``parse_rule`` reads it back."""
        shown: dict[str, Any] = {
            "kind": self.kind,
            "scope": {
                "agent_id": self.scope.agent_id,
                "deployment_id": self.scope.deployment_id,
                "metadata": dict(self.scope.metadata),
            },
            "min_calls": self.min_calls,
            "fire_after": self.fire_after,
            "resolve_after": self.resolve_after,
        }
        if self.objective is not None:
            return shown | {"objective": self.objective.public()}
        assert self.measure is not None
        return shown | {
            "measure": self.measure.public(),
            "window": window_text(self.window_s),
            "comparison": self.comparison,
            "threshold": self.threshold,
            "resolve_threshold": self.resolve_threshold,
        }


_RULE_FIELDS = {
    "kind", "scope", "measure", "window", "comparison", "threshold", "resolve_threshold",
    "min_calls", "fire_after", "resolve_after", "objective",
}  # fmt: skip


def parse_rule(given: dict[str, Any]) -> Rule:
    """A rule from its definition (the API's fields, or ``Rule.spec``), or RuleProblem."""
    if unknown := set(given) - _RULE_FIELDS:
        raise RuleProblem(sorted(unknown)[0], "not a field of an alert rule")
    kind = given.get("kind", OBJECTIVE if "objective" in given else THRESHOLD)
    if kind not in (THRESHOLD, OBJECTIVE):
        raise RuleProblem("kind", f"{kind!r} is unknown; threshold or objective")
    rule = Rule(
        kind=kind,
        scope=_scope(given.get("scope") or {}),
        window_s=MIN_WINDOW_S,
        min_calls=_count(given, "min_calls", DEFAULT_MIN_CALLS, least=0),
        fire_after=_count(given, "fire_after", 1, least=1),
        resolve_after=_count(given, "resolve_after", 2, least=1),
    )
    if kind == OBJECTIVE:
        for name in ("measure", "window", "comparison", "threshold", "resolve_threshold"):
            if name in given:
                raise RuleProblem(name, "an objective rule has no " + name)
        objective = parse_objective(given.get("objective"))
        return replace(rule, objective=objective, window_s=_longest(objective))
    if "objective" in given:
        raise RuleProblem("objective", 'only a rule of kind "objective" has one')
    measure = parse_measure(given.get("measure"))
    comparison = given.get("comparison", ">")
    if comparison not in COMPARISONS:
        raise RuleProblem("comparison", f"{comparison!r} is unknown; one of > >= < <=")
    if "threshold" not in given:
        raise RuleProblem("threshold", "missing: the value the measure is compared with")
    threshold = _number(given["threshold"], "threshold")
    resolve = _number(given.get("resolve_threshold", threshold), "resolve_threshold")
    worse_than_threshold = resolve > threshold if comparison in (">", ">=") else resolve < threshold
    if worse_than_threshold:
        raise RuleProblem("resolve_threshold", "must be on the good side of threshold (or equal)")
    return replace(
        rule,
        measure=measure,
        window_s=parse_window(given.get("window", "15m")),
        comparison=comparison,
        threshold=threshold,
        resolve_threshold=resolve,
        min_calls=0 if measure.type == "call_count" else rule.min_calls,
    )


def _longest(objective: Objective) -> int:
    return max(condition.long_s for condition in objective.conditions())


def _scope(given: Any) -> AnalyticsFilter:
    if not isinstance(given, dict):
        raise RuleProblem("scope", "an object: {agent_id, deployment_id, metadata}")
    if unknown := set(given) - {"agent_id", "deployment_id", "metadata"}:
        raise RuleProblem(f"scope.{sorted(unknown)[0]}", "not a field of a scope")
    for name in ("agent_id", "deployment_id"):
        if given.get(name) is not None and not isinstance(given[name], str):
            raise RuleProblem(f"scope.{name}", "an id")
    metadata = given.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise RuleProblem("scope.metadata", "an object of text keys and text values")
    pairs = tuple(sorted(metadata.items()))
    return AnalyticsFilter(given.get("agent_id"), given.get("deployment_id"), pairs)


def _count(given: dict, name: str, default: int, least: int) -> int:
    value = given.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise RuleProblem(name, f"a whole number of at least {least}")
    return value


# -- evaluating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One evaluation of a rule: its value and whether it breaches or is clear (both
    False when there is nothing to tell: no value, or too few calls to fire)."""

    value: float | None
    calls: int
    breaching: bool
    clear: bool
    threshold: float
    detail: dict[str, Any] = field(default_factory=dict)


def read_threshold(rule: Rule, tally: Tally) -> Reading:
    assert rule.measure is not None
    value = rule.measure.value(tally)
    breaching = value is not None and tally.calls >= rule.min_calls and rule.breaches(value)
    clear = value is not None and rule.clear(value)
    return Reading(value, tally.calls, breaching, clear, rule.threshold)


def read_objective(rule: Rule, windows: dict[int, Tally]) -> Reading:
    """``windows``: the tally of each condition's windows (by their length in seconds)."""
    assert rule.objective is not None
    objective = rule.objective
    detail: dict[str, Any] = {"conditions": {}}
    firing: BurnCondition | None = None
    known = False
    for condition in objective.conditions():
        long, short = windows[condition.long_s], windows[condition.short_s]
        burns = objective.burn_rate(long), objective.burn_rate(short)
        detail["conditions"][condition.name] = {
            "factor": condition.factor,
            "long_window_s": condition.long_s,
            "short_window_s": condition.short_s,
            "long_burn_rate": _rounded(burns[0]),
            "short_burn_rate": _rounded(burns[1]),
        }
        known = known or burns[0] is not None
        holds = all(b is not None and b >= condition.factor for b in burns)
        if holds and short.calls >= rule.min_calls and firing is None:
            firing = condition
    shown = firing or objective.conditions()[0]
    detail["condition"] = shown.name
    value = objective.burn_rate(windows[shown.long_s])
    return Reading(
        value,
        windows[shown.short_s].calls,
        breaching=firing is not None,
        clear=known and firing is None,
        threshold=shown.factor,
        detail=detail,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Step:
    state: str
    streak: int  # evaluations in a row toward the next state

    @property
    def firing(self) -> bool:
        return self.state == FIRING


def step(rule: Rule, state: str, streak: int, reading: Reading) -> Step:
    """The state after one more reading: firing after ``fire_after`` breaching readings in
    a row, resolved after ``resolve_after`` clear ones; anything else breaks the row."""
    if state == FIRING:
        if not reading.clear:
            return Step(FIRING, 0)
        if streak + 1 >= rule.resolve_after:
            return Step(RESOLVED, 0)
        return Step(FIRING, streak + 1)
    if not reading.breaching:
        return Step(state, 0)
    if streak + 1 >= rule.fire_after:
        return Step(FIRING, 0)
    return Step(state, streak + 1)


def example_order(rule: Rule, per_call: list[tuple[str, Tally]]) -> list[str]:
    """Up to EXAMPLES of these calls (newest first) that show the problem, worst first."""
    if rule.objective is not None:
        slow = []
        for call_id, tally in per_call:
            share, _ = rule.objective.bad_share(tally)
            if share:
                slow.append((share, call_id))
        return [call_id for _, call_id in sorted(slow, key=lambda item: -item[0])][:EXAMPLES]
    assert rule.measure is not None
    if rule.measure.type == "call_count":
        # A call tells nothing of a count alone; the newest are examples of "too many".
        return [call_id for call_id, _ in per_call][:EXAMPLES] if rule.comparison[0] == ">" else []
    found = []
    for call_id, tally in per_call:
        value = rule.measure.value(tally)
        if value is not None and rule.breaches(value):
            found.append((value, call_id))
    found.sort(key=lambda item: -item[0] if rule.comparison[0] == ">" else item[0])
    return [call_id for _, call_id in found][:EXAMPLES]


# -- what users see -----------------------------------------------------------------------


def rule_json(row: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
    """A rule as the API shows it: its definition, targets and state (docs/alerts.md).
    ``row``: the stored rule (times as datetimes); ``targets``: its endpoints shown."""
    spec = row["spec"]
    rule = parse_rule(spec)
    threshold_fields: dict[str, Any] = dict.fromkeys(
        ("measure", "window", "window_s", "comparison", "threshold", "resolve_threshold")
    )
    if rule.kind == THRESHOLD:
        threshold_fields = {
            key: spec[key]
            for key in ("measure", "window", "comparison", "threshold", "resolve_threshold")
        } | {"window_s": rule.window_s}
    detail = row["detail"] or {}
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": rule.kind,
        "scope": spec["scope"],
        "description": rule.describe(),
        **threshold_fields,
        "min_calls": rule.min_calls,
        "fire_after": rule.fire_after,
        "resolve_after": rule.resolve_after,
        "objective": spec.get("objective"),
        "targets": targets,
        "enabled": row["enabled"],
        "state": row["state"],
        "state_since": rfc3339(row["state_since"]),
        "fired_at": rfc3339(row["fired_at"]),
        "value": row["value"],
        "calls": row["calls"],
        "evaluated_at": rfc3339(row["evaluated_at"]),
        "budget_left": detail.get("budget_left"),
        "detail": detail,
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def transition_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "rule_id": row["rule_id"],
        "from_state": row["from_state"],
        "to_state": row["to_state"],
        "at": rfc3339(row["at"]),
        "value": row["value"],
        "threshold": row["threshold"],
        "calls": row["calls"],
        "window_s": row["window_s"],
        "example_call_ids": row["example_call_ids"],
        "detail": row["detail"],
    }


def test_transition(rule: dict[str, Any], transition_id: str) -> dict[str, Any]:
    """A sample transition to firing of ``rule`` (shown), with its last reading, for
    ``POST /agents/alerts/{id}/test``."""
    threshold = rule["threshold"]
    if threshold is None:  # an objective: the fast burn condition's factor
        threshold = _WORKBOOK[0][1]
    return {
        "id": transition_id,
        "rule_id": rule["id"],
        "from_state": rule["state"],
        "to_state": FIRING,
        "at": rfc3339(utcnow()),
        "value": rule["value"],
        "threshold": threshold,
        "calls": rule["calls"] or 0,
        "window_s": rule["window_s"] or _longest(parse_objective(rule["objective"])),
        "example_call_ids": [],
        "detail": rule["detail"] or None,
    }


def alert_event(
    webhook_id: str,
    rule: dict[str, Any],
    transition: dict[str, Any],
    console_url: str,
    test: bool = False,
) -> dict[str, Any]:
    """``alert_firing`` / ``alert_resolved``: ``rule`` and ``transition`` as the API shows
    them (``rule_json``, ``transition_json``)."""
    firing = transition["to_state"] == FIRING
    detail = transition["detail"] or {}
    measure = rule["measure"]
    if rule["kind"] == OBJECTIVE:
        measure = {"type": "burn_rate", "condition": detail.get("condition")}
    alert = {
        "rule_id": rule["id"],
        "rule_name": rule["name"],
        "transition_id": transition["id"],
        "state": transition["to_state"],
        "kind": rule["kind"],
        "scope": rule["scope"],
        "measure": measure,
        "description": rule["description"],
        "value": transition["value"],
        "comparison": rule["comparison"] or ">=",
        "threshold": transition["threshold"],
        "window": window_text(transition["window_s"]),
        "window_s": transition["window_s"],
        "calls": transition["calls"],
        "started_at": transition["at"] if firing else rule["fired_at"],
        "resolved_at": None if firing else transition["at"],
        "example_call_ids": transition["example_call_ids"],
        "console_url": console_url,
        "test": test,
    }
    if rule["kind"] == OBJECTIVE:
        alert["detail"] = detail
    kind = ALERT_FIRING if firing else ALERT_RESOLVED
    return {"type": kind, "webhook_id": webhook_id, "timestamp": rfc3339(utcnow()), "alert": alert}
