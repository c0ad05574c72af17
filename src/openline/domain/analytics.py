"""The public reply of fleet analytics, and a comparison of two tallies (docs/analytics.md).

``report`` shapes ``GET /agents/analytics``; ``compare`` lines up two tallies' public
JSON (two deployments, say) and marks what got worse, for the CLI and the console: a
measure up by more than ``WORSE_BY`` (relative), or a pass rate down by more than
``PASS_RATE_WORSE_BY`` (absolute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from openline.domain.buckets import Grain
from openline.domain.tally import LATENCIES, Tally
from openline.domain.time import rfc3339

GroupBy = Literal["deployment_id", "agent_id"]
MAX_BUCKETS = 2000


TEST_RUN = "test_run"  # the metadata key `openline test` marks its calls with


def is_test_run(metadata: Any) -> bool:
    """A test run's call (its metadata has ``test_run``, with a value other than null,
    false or ""): left out of analytics unless asked for."""
    return isinstance(metadata, dict) and metadata.get(TEST_RUN) not in (None, False, "")


@dataclass(frozen=True)
class AnalyticsFilter:
    agent_id: str | None = None
    deployment_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # every key must have its value
    include_test_runs: bool = False

    @property
    def test_runs(self) -> bool:
        """Whether test runs' calls count: when asked, or when the metadata filter names
        ``test_run`` (it could match nothing else)."""
        return self.include_test_runs or any(key == TEST_RUN for key, _ in self.metadata)

    def public(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "deployment_id": self.deployment_id,
            "metadata": dict(self.metadata),
            "include_test_runs": self.test_runs,
        }


@dataclass
class Bucket:
    start: datetime
    end: datetime
    groups: dict[str | None, Tally] = field(default_factory=dict)  # None: not grouped


def default_grain(start: datetime, end: datetime) -> Grain:
    """A bucket that gives a readable series: minutes up to 3 hours, hours up to 10 days."""
    span = end - start
    if span <= timedelta(hours=3):
        return "minute"
    return "hour" if span <= timedelta(days=10) else "day"


def report(
    start: datetime,
    end: datetime,
    grain: Grain,
    where: AnalyticsFilter,
    group_by: GroupBy | None,
    series: list[Bucket],
) -> dict[str, Any]:
    groups: dict[str | None, Tally] = {}
    entries = []
    for bucket in series:
        for group, tally in bucket.groups.items():
            groups.setdefault(group, Tally()).merge(tally)
        merged = Tally.merged(bucket.groups.values())
        entries.append(
            {"start": rfc3339(bucket.start), "end": rfc3339(bucket.end)} | merged.public()
        )
    ranked = sorted(groups.items(), key=lambda item: (-item[1].calls, item[0] or ""))
    return {
        "start": rfc3339(start),
        "end": rfc3339(end),
        "bucket": grain,
        "group_by": group_by,
        "filters": where.public(),
        "totals": Tally.merged(groups.values()).public(),
        "series": entries,
        "groups": [{group_by: group} | tally.public() for group, tally in ranked]
        if group_by
        else [],
    }


# -- comparing two tallies --------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One measure of two tallies side by side; ``worse`` when the second is worse by
    more than the noise allowance (None: a measure without a better direction)."""

    section: str
    measure: str
    before: float | None
    after: float | None
    worse: bool | None


WORSE_BY = 0.10  # a relative change under 10 % is not called worse
# A pass rate is worse when it fell by more than 10 points (absolute, not relative: a
# rate is a share already, and a relative allowance would call 20 % → 17 % worse, a
# call's difference among a few dozen, yet let 95 % → 86 % pass).
PASS_RATE_WORSE_BY = WORSE_BY
_BAD_LEVELS = ("error", "critical")


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Two public tallies (``Tally.public()`` or the API's ``T``), measure by measure."""
    calls = _get(before, "calls", "count"), _get(after, "calls", "count")
    durations = _get(before, "duration_s", "p50"), _get(after, "duration_s", "p50")
    changes = [
        Change("calls", "count", *calls, None),
        _higher_is_worse("calls", "failure rate", _failure_rate(before), _failure_rate(after)),
        _higher_is_worse("turns", "interrupted share", _share(before), _share(after)),
        Change("duration_s", "p50", *durations, None),
    ]
    for name in LATENCIES:
        for q in ("p50", "p95", "p99"):
            changes.append(
                _higher_is_worse(
                    "latency_s",
                    f"{name} {q}",
                    _get(before, "latency_s", name, q),
                    _get(after, "latency_s", name, q),
                )
            )
    for name in sorted(set(before["tool_calls"]) | set(after["tool_calls"])):
        changes.append(
            _higher_is_worse(
                "tool_calls",
                f"{name} error rate",
                _tool_error_rate(before, name),
                _tool_error_rate(after, name),
            )
        )
    for name in sorted(set(before["metrics"]) | set(after["metrics"])):
        if _metric(before, name) is None and _metric(after, name) is None:
            continue  # a metric of values has no mean to compare
        changes.append(
            Change("metrics", f"{name} mean", _metric(before, name), _metric(after, name), None)
        )
    for name in sorted(set(before["events"]) | set(after["events"])):
        per_call = _per_call(before, name), _per_call(after, name)
        bad = _is_bad_event(before, name) or _is_bad_event(after, name)
        direction = True if bad else None
        changes.append(
            _higher_is_worse("events", f"{name} per call", *per_call, direction=direction)
        )
    evaluations = before.get("evaluations", {}), after.get("evaluations", {})
    for name in sorted(set(evaluations[0]) | set(evaluations[1])):
        rates = _pass_rate(evaluations[0], name), _pass_rate(evaluations[1], name)
        if rates == (None, None):
            continue  # only errors or results without a verdict: no rate to compare
        changes.append(_lower_is_worse("evaluations", f"{name} pass rate", *rates))
    return changes


def _lower_is_worse(
    section: str, measure: str, before: float | None, after: float | None
) -> Change:
    worse = None
    if before is not None and after is not None:
        worse = before - after > PASS_RATE_WORSE_BY + 1e-9
    return Change(section, measure, before, after, worse)


def _pass_rate(evaluations: dict[str, Any], name: str) -> float | None:
    return evaluations.get(name, {}).get("pass_rate")


def _higher_is_worse(
    section: str,
    measure: str,
    before: float | None,
    after: float | None,
    direction: bool | None = True,
) -> Change:
    worse: bool | None = None
    if direction is not None and before is not None and after is not None:
        worse = after > before * (1 + WORSE_BY) and after - before > 1e-9
    return Change(section, measure, before, after, worse)


def _get(tally: dict[str, Any], *path: str) -> float | None:
    value: Any = tally
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _failure_rate(tally: dict[str, Any]) -> float | None:
    calls = tally["calls"]
    return calls["failed"] / calls["count"] if calls["count"] else None


def _share(tally: dict[str, Any]) -> float | None:
    turns = tally["turns"]
    return turns["interrupted"] / turns["count"] if turns["count"] else None


def _tool_error_rate(tally: dict[str, Any], name: str) -> float | None:
    counts = tally["tool_calls"].get(name)
    return counts["errors"] / counts["count"] if counts and counts["count"] else None


def _metric(tally: dict[str, Any], name: str) -> float | None:
    return tally["metrics"].get(name, {}).get("mean")


def _per_call(tally: dict[str, Any], name: str) -> float | None:
    calls = tally["calls"]["count"]
    event = tally["events"].get(name)
    if not calls:
        return None
    return (event["count"] if event else 0) / calls


def _is_bad_event(tally: dict[str, Any], name: str) -> bool:
    levels = tally["events"].get(name, {}).get("levels", {})
    return any(level in levels for level in _BAD_LEVELS)
