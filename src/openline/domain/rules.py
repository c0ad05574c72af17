"""Offline rule metrics: evaluations that need no LLM (docs/evaluations.md#rule-metrics).

A rule is openline's extension field on a metric. It is checked against the call as the
API shows it (``call_json`` with its transcript), so what a rule can see is exactly what
a user can read. Each rule answers pass or fail, with a reason naming what it found.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from openline.domain.calls import EndReason

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Verdict:
    """A judge's answer about one call: the value, whether it passes, and why."""

    value: Any
    passed: bool | None
    reason: str
    details: dict[str, Any]

    @property
    def result(self) -> str:
        """The raw result as a string, as Cartesia's ``result`` field carries it."""
        return result_text(self.value)


def result_text(value: Any) -> str:
    """A value as text: JSON's spelling of true and false, numbers without a needless .0."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventRule(_Rule):
    """The agent logged this event (with at least this metadata; nested objects, such as
    the ``metadata`` inside an SDK ``LogMessage``'s, match by their keys too)."""

    type: Literal["event"]
    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = {}

    def check(self, call: dict[str, Any]) -> Verdict:
        found = [
            e
            for e in _system(call, "log_event")
            if e["event"] == self.name and _contains(e.get("metadata") or {}, self.metadata)
        ]
        what = f"event {self.name!r}" + (f" with {self.metadata}" if self.metadata else "")
        return _found(what, len(found), {"count": len(found)})


class ToolRule(_Rule):
    """The agent called this tool (with at least these arguments)."""

    type: Literal["tool_called"]
    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = {}

    def check(self, call: dict[str, Any]) -> Verdict:
        found = [
            t
            for t in _tool_calls(call)
            if t["name"] == self.name and _contains(t.get("arguments") or {}, self.arguments)
        ]
        what = f"tool {self.name!r}" + (f" with {self.arguments}" if self.arguments else "")
        return _found(what, len(found), {"count": len(found)})


class MetricRule(_Rule):
    """The last value the agent logged for this metric compares to the threshold."""

    type: Literal["metric"]
    name: str = Field(min_length=1, max_length=200)
    op: Literal["<", "<=", "==", "!=", ">=", ">"]
    value: int | float = Field(allow_inf_nan=False)

    def check(self, call: dict[str, Any]) -> Verdict:
        values = [m["value"] for m in _system(call, "log_metric") if m["name"] == self.name]
        numbers = [v for v in values if _is_number(v)]
        if not numbers:
            why = "was never logged" if not values else "was logged, but never as a number"
            return Verdict(None, False, f"metric {self.name!r} {why}", {"values": values})
        last = float(numbers[-1])
        passed = _COMPARE[self.op](last, self.value)
        relation = self.op if passed else f"not {self.op}"
        reason = f"metric {self.name!r} was {last:g}, {relation} {self.value:g}"
        return Verdict(last, passed, reason, {"values": numbers})


class TranscriptRule(_Rule):
    """A turn of this role matches the regular expression (``absent``: none does)."""

    type: Literal["transcript"]
    role: Literal["user", "assistant"]
    pattern: str = Field(min_length=1, max_length=1000)
    ignore_case: bool = True
    absent: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from error
        return pattern

    def check(self, call: dict[str, Any]) -> Verdict:
        flags = re.IGNORECASE if self.ignore_case else 0
        pattern = re.compile(self.pattern, flags)
        turns = [t for t in call.get("transcript", []) if t["role"] == self.role]
        hits = [t["text"] for t in turns if pattern.search(t.get("text") or "")]
        matched = bool(hits)
        passed = matched != self.absent
        said = f"{self.role} turn{'s' if len(hits) != 1 else ''}"
        reason = (
            f"{len(hits)} {said} matched /{self.pattern}/"
            if matched
            else f"no {self.role} turn matched /{self.pattern}/"
        )
        return Verdict(matched, passed, reason, {"matches": hits[:10]})


class EndReasonRule(_Rule):
    """The call ended for one of these reasons."""

    type: Literal["end_reason"]
    any_of: list[EndReason] = Field(alias="in", min_length=1)

    def check(self, call: dict[str, Any]) -> Verdict:
        reason = call.get("end_reason")
        allowed = [r.value for r in self.any_of]
        passed = reason in allowed
        verb = "is" if passed else "is not"
        return Verdict(reason, passed, f"end reason {reason!r} {verb} in {allowed}", {})


Rule = Annotated[
    EventRule | ToolRule | MetricRule | TranscriptRule | EndReasonRule,
    Field(discriminator="type"),
]
RULE = TypeAdapter(Rule)


def parse_rule(data: Any) -> Rule:
    """A rule from its JSON; raises pydantic's ValidationError naming what is wrong."""
    return RULE.validate_python(data)


def rule_json(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json", by_alias=True, exclude_defaults=True) | {"type": rule.type}


def _found(what: str, count: int, details: dict[str, Any]) -> Verdict:
    if count:
        return Verdict(True, True, f"{what} found {count} time{'s' if count > 1 else ''}", details)
    return Verdict(False, False, f"{what} never found", details)


def _system(call: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
    for entry in call.get("transcript", []):
        if key in entry:
            yield entry[key]


def _tool_calls(call: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in call.get("transcript", []):
        yield from entry.get("tool_calls", [])
        if "tool_call" in entry:  # made outside any turn
            yield entry["tool_call"]


def _contains(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Every wanted key is in ``actual`` with its value; a wanted object is matched by its
    own keys, the same way."""
    return all(key in actual and _matches(actual[key], value) for key, value in wanted.items())


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and _contains(actual, wanted)
    return actual == wanted


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
