"""What fleet analytics counts of calls: one call's tally from its facts, tallies merged
over many calls, and the public JSON of a tally (the ``T`` of docs/analytics.md).

A tally is made once per ended call and stored; the rollups of a minute, an hour and a
day are merges of the tallies below them. Everything in it merges exactly (counts,
sums, sketches), except that a metric keeps at most ``VALUES_KEPT`` distinct non-numeric
values per tally, folding the rarest into ``other``.

A call's evaluations (its final metric results, docs/evaluations.md) are counts per
metric name: passed, failed, errored, and completed without a verdict. Counts subtract as
exactly as they add, so ``evaluations_delta`` can move a rollup from a call's tally made
before its results to the one made after, without recomputing the rollup.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from openline.domain.calls import (
    CallStatus,
    Fact,
    LogEvent,
    LogMetric,
    Role,
    ToolCall,
    Turn,
    TurnEndReason,
)
from openline.domain.conversation import conversation_stats
from openline.domain.evaluations import ResultStatus
from openline.domain.sketch import Distribution

# An answer's response time, two of its parts as the turns' own fields, and the rest of
# its parts (domain.latency).
LATENCIES = ("response", "tts_ttfb", "stt_ttfb", "endpointing", "agent", "playout")
_PARTS_COUNTED = ("endpointing", "agent", "playout")
# The per-call conversation stats (domain.conversation) analytics keeps distributions of.
CONVERSATION = (
    "caller_talk_s",
    "agent_talk_s",
    "overlap_s",
    "longest_silence_s",
    "time_to_first_agent_audio_s",
)
VALUES_KEPT = 200
VALUES_SHOWN = 20
UNSET_LEVEL = "unset"  # an event logged without a level
# A metric's evaluation counts, in this order: passed, failed (completed with passed
# false), errored (status failed), and completed with passed null (no verdict).
PASSED, FAILED, ERRORED, NO_VERDICT = range(4)


def tool_failed(call: ToolCall) -> bool:
    """A tool call is an error when it never returned, or returned an error text (the
    SDKs, ours and cartesia-line, answer a failed tool with ``"Error: …"``)."""
    return call.result is None or call.result.lstrip().lower().startswith("error")


def verdict_of(status: str, passed: bool | None) -> int:
    """Where one final metric result counts: ``PASSED``, ``FAILED``, ``ERRORED`` or
    ``NO_VERDICT``."""
    if status != ResultStatus.COMPLETED:
        return ERRORED
    if passed is None:
        return NO_VERDICT
    return PASSED if passed else FAILED


def pass_rate(counts: list[int]) -> float | None:
    """Passed among the results with a verdict (errors and no-verdict results left out)."""
    judged = counts[PASSED] + counts[FAILED]
    return counts[PASSED] / judged if judged else None


def response_latencies(turns: list[Turn]) -> list[float]:
    """For each assistant turn that answers the caller: its ``latency`` (the caller's last
    voice → the agent's first voice heard, or a text call's first text); for a turn
    recorded before latencies were, the caller's end of turn → the agent's first output.
    A greeting answers nobody; an answer begun before the caller finished (barge-in by
    the agent) has no response time."""
    latencies = []
    caller_done: float | None = None
    for turn in sorted(turns, key=lambda turn: turn.seq):
        if turn.role is Role.USER:
            caller_done = turn.timestamp if turn.end_timestamp is None else turn.end_timestamp
        elif caller_done is not None:
            latency = response_time(turn, caller_done)
            if latency is not None:
                latencies.append(latency)
            caller_done = None
    return latencies


def response_time(answer: Turn, caller_done: float) -> float | None:
    """One answer's response time (:func:`response_latencies`), the caller done speaking
    at ``caller_done``."""
    if answer.latency is not None:
        return answer.latency
    return answer.timestamp - caller_done if answer.timestamp >= caller_done else None


class MetricTally:
    __slots__ = ("numbers", "other", "values")

    def __init__(self) -> None:
        self.numbers = Distribution()
        self.values: Counter[str] = Counter()
        self.other = 0  # non-numeric values folded away past VALUES_KEPT

    def add(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.numbers.add(float(value))
        else:
            self.values[_value_key(value)] += 1

    def merge(self, other: MetricTally) -> None:
        self.numbers.merge(other.numbers)
        self.values.update(other.values)
        self.other += other.other
        if len(self.values) > VALUES_KEPT:
            kept = dict(self.values.most_common(VALUES_KEPT))
            self.other += sum(self.values.values()) - sum(kept.values())
            self.values = Counter(kept)

    @property
    def count(self) -> int:
        return self.numbers.count + sum(self.values.values()) + self.other

    def to_json(self) -> dict[str, Any]:
        shape: dict[str, Any] = {"num": self.numbers.to_json()}
        if self.values:
            shape["v"] = dict(self.values)
        if self.other:
            shape["o"] = self.other
        return shape

    @classmethod
    def from_json(cls, shape: dict[str, Any]) -> MetricTally:
        tally = cls()
        tally.numbers = Distribution.from_json(shape["num"])
        tally.values = Counter(shape.get("v", {}))
        tally.other = shape.get("o", 0)
        return tally

    def public(self) -> dict[str, Any]:
        """Numbers as a distribution; other values (or a mix) as counts per value."""
        if not self.values and not self.other:
            return {"count": self.count} | _stats(self.numbers, mean=True, minmax=True)
        values = Counter(self.values)
        if self.numbers.count:  # a metric that is sometimes a number, sometimes not
            values["number"] += self.numbers.count
        shown = dict(values.most_common(VALUES_SHOWN))
        rest = sum(values.values()) - sum(shown.values()) + self.other
        if rest:
            shown["other"] = shown.get("other", 0) + rest
        return {"count": self.count, "values": shown}


class Tally:
    """Counts and distributions over a set of calls, mergeable."""

    __slots__ = (
        "calls",
        "completed",
        "conversation",
        "cut_ins",
        "duration",
        "end_reasons",
        "evaluations",
        "events",
        "failed",
        "interrupted",
        "latency",
        "metrics",
        "tools",
        "turns",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.completed = 0
        self.failed = 0
        self.end_reasons: Counter[str] = Counter()
        self.duration = Distribution()
        self.turns = 0
        self.interrupted = 0
        self.tools: dict[str, list[int]] = {}  # name → [calls, errors]
        self.latency = {name: Distribution() for name in LATENCIES}
        self.conversation = {name: Distribution() for name in CONVERSATION}
        self.cut_ins = [0, 0, 0]  # interruptions by the caller, by the agent; overlaps
        self.metrics: dict[str, MetricTally] = {}
        self.events: dict[str, Counter[str]] = {}  # name → level → count
        # metric name → [passed, failed, errored, no verdict] (``verdict_of``)
        self.evaluations: dict[str, list[int]] = {}

    @classmethod
    def of_call(
        cls, status: str, start_time: datetime, end_time: datetime | None,
        end_reason: str | None, facts: list[Fact],
        results: Iterable[tuple[str, str, bool | None]] = (),
    ) -> Tally:  # fmt: skip
        """One ended call's tally, from its row's columns, its facts and its final metric
        results (``(metric_name, status, passed)``)."""
        tally = cls()
        tally.calls = 1
        tally.completed = int(status == CallStatus.COMPLETED)
        tally.failed = int(status == CallStatus.FAILED)
        if end_reason:
            tally.end_reasons[end_reason] = 1
        if end_time is not None:
            tally.duration.add(max(0.0, (end_time - start_time).total_seconds()))
        turns = [fact for fact in facts if isinstance(fact, Turn)]
        tally.turns = len(turns)
        tally.interrupted = sum(turn.end_reason is TurnEndReason.INTERRUPTED for turn in turns)
        for latency in response_latencies(turns):
            tally.latency["response"].add(latency)
        for turn in turns:
            if turn.tts_ttfb is not None:
                tally.latency["tts_ttfb"].add(turn.tts_ttfb)
            if turn.stt_ttfb is not None:
                tally.latency["stt_ttfb"].add(turn.stt_ttfb)
            for part in _PARTS_COUNTED:
                seconds = (turn.latency_parts or {}).get(part)
                if seconds is not None:
                    tally.latency[part].add(seconds)
        stats = conversation_stats(turns)
        for name in CONVERSATION:
            if stats[name] is not None:
                tally.conversation[name].add(stats[name])
        cut = stats["interruptions"]
        tally.cut_ins = [cut["by_caller"], cut["by_agent"], stats["overlaps"]]
        for fact in facts:
            if isinstance(fact, ToolCall):
                counts = tally.tools.setdefault(fact.name, [0, 0])
                counts[0] += 1
                counts[1] += tool_failed(fact)
            elif isinstance(fact, LogMetric):
                tally.metrics.setdefault(fact.name, MetricTally()).add(fact.value)
            elif isinstance(fact, LogEvent):
                levels = tally.events.setdefault(fact.event, Counter())
                levels[fact.level or UNSET_LEVEL] += 1
        for name, result_status, passed in results:
            tally.evaluations.setdefault(name, [0, 0, 0, 0])[verdict_of(result_status, passed)] += 1
        return tally

    def merge(self, other: Tally) -> None:
        self.calls += other.calls
        self.completed += other.completed
        self.failed += other.failed
        self.end_reasons.update(other.end_reasons)
        self.duration.merge(other.duration)
        self.turns += other.turns
        self.interrupted += other.interrupted
        for name, (count, errors) in other.tools.items():
            mine = self.tools.setdefault(name, [0, 0])
            mine[0] += count
            mine[1] += errors
        for name, distribution in other.latency.items():
            self.latency[name].merge(distribution)
        for name, distribution in other.conversation.items():
            self.conversation[name].merge(distribution)
        self.cut_ins = [a + b for a, b in zip(self.cut_ins, other.cut_ins, strict=True)]
        for name, metric in other.metrics.items():  # into our own: never share a part
            self.metrics.setdefault(name, MetricTally()).merge(metric)
        for name, levels in other.events.items():
            self.events.setdefault(name, Counter()).update(levels)
        for name, counts in other.evaluations.items():
            mine = self.evaluations.setdefault(name, [0, 0, 0, 0])
            for at, count in enumerate(counts):
                mine[at] += count
            if not any(mine):  # a delta took the call's results out again
                del self.evaluations[name]

    def evaluations_delta(self, before: Tally) -> Tally:
        """A tally of no calls holding what the evaluations changed from ``before`` to this
        one (negative where they fell): merged into a rollup that holds ``before``, it
        gives the rollup holding this tally instead."""
        delta = Tally()
        for name in self.evaluations.keys() | before.evaluations.keys():
            now = self.evaluations.get(name, [0, 0, 0, 0])
            then = before.evaluations.get(name, [0, 0, 0, 0])
            change = [a - b for a, b in zip(now, then, strict=True)]
            if any(change):
                delta.evaluations[name] = change
        return delta

    @classmethod
    def merged(cls, tallies: Any) -> Tally:
        total = cls()
        for tally in tallies:
            total.merge(tally)
        return total

    def to_json(self) -> dict[str, Any]:
        """The stored form (compact, exact, mergeable); ``public`` is what users see."""
        return {
            "calls": [self.calls, self.completed, self.failed],
            "end_reasons": dict(self.end_reasons),
            "duration": self.duration.to_json(),
            "turns": [self.turns, self.interrupted],
            "tools": self.tools,
            "latency": {name: d.to_json() for name, d in self.latency.items() if d.count},
            "metrics": {name: metric.to_json() for name, metric in self.metrics.items()},
            "events": {name: dict(levels) for name, levels in self.events.items()},
            "conv": {
                "d": {name: d.to_json() for name, d in self.conversation.items() if d.count},
                "n": self.cut_ins,
            },
        } | ({"evals": self.evaluations} if self.evaluations else {})

    @classmethod
    def from_json(cls, stored: dict[str, Any] | str) -> Tally:
        shape: dict[str, Any] = json.loads(stored) if isinstance(stored, str) else stored
        tally = cls()
        tally.calls, tally.completed, tally.failed = shape["calls"]
        tally.end_reasons = Counter(shape["end_reasons"])
        tally.duration = Distribution.from_json(shape["duration"])
        tally.turns, tally.interrupted = shape["turns"]
        tally.tools = {name: list(counts) for name, counts in shape["tools"].items()}
        for name, distribution in shape["latency"].items():
            tally.latency[name] = Distribution.from_json(distribution)
        tally.metrics = {name: MetricTally.from_json(m) for name, m in shape["metrics"].items()}
        tally.events = {name: Counter(levels) for name, levels in shape["events"].items()}
        # a tally stored before evaluations were counted has none
        tally.evaluations = {name: list(c) for name, c in shape.get("evals", {}).items()}
        # nor, before conversation stats were, has it those
        conversation = shape.get("conv", {"d": {}, "n": [0, 0, 0]})
        for name, distribution in conversation["d"].items():
            tally.conversation[name] = Distribution.from_json(distribution)
        tally.cut_ins = list(conversation["n"])
        return tally

    def public(self) -> dict[str, Any]:
        duration = self.duration
        return {
            "calls": {
                "count": self.calls,
                "completed": self.completed,
                "failed": self.failed,
                "end_reasons": dict(self.end_reasons.most_common()),
            },
            "duration_s": {"sum": _round(duration.sum)} | _stats(duration, mean=True, qs=(50, 95)),
            "turns": {"count": self.turns, "interrupted": self.interrupted},
            "tool_calls": {
                name: {"count": count, "errors": errors}
                for name, (count, errors) in sorted(self.tools.items())
            },
            "latency_s": {
                name: {"count": d.count} | _stats(d, qs=(50, 90, 95, 99))
                for name, d in self.latency.items()
            },
            "metrics": {name: self.metrics[name].public() for name in sorted(self.metrics)},
            "events": {
                name: {"count": sum(levels.values()), "levels": dict(levels.most_common())}
                for name, levels in sorted(self.events.items())
            },
            "evaluations": {
                name: evaluation_json(counts) for name, counts in sorted(self.evaluations.items())
            },
            "conversation": {
                "interruptions": {"by_caller": self.cut_ins[0], "by_agent": self.cut_ins[1]},
                "overlaps": self.cut_ins[2],
            }
            | {
                name: {"count": d.count} | _stats(d, mean=True, qs=(50, 95))
                for name, d in self.conversation.items()
            },
        }


def evaluation_json(counts: list[int]) -> dict[str, Any]:
    """One metric's pass rate and the counts it is of; ``judged`` is every final result."""
    rate = pass_rate(counts)
    return {
        "judged": sum(counts),
        "passed": counts[PASSED],
        "failed": counts[FAILED],
        "errored": counts[ERRORED],
        "pass_rate": None if rate is None else round(rate, 6),
    }


def _stats(
    distribution: Distribution,
    mean: bool = False,
    minmax: bool = False,
    qs: tuple[int, ...] = (50, 95),
) -> dict[str, float | None]:
    stats: dict[str, float | None] = {}
    if mean:
        stats["mean"] = _round(distribution.mean)
    if minmax:
        empty = not distribution.count
        stats["min"] = None if empty else _round(distribution.min)
        stats["max"] = None if empty else _round(distribution.max)
    for q in qs:
        stats[f"p{q}"] = _round(distribution.quantile(q / 100))
    return stats


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _value_key(value: Any) -> str:
    """How a non-numeric metric value is counted: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value[:200]
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)[:200]
