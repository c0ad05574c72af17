"""Checking a scenario's expectations against what was recorded.

Pure functions: in, the call as ``GET /agents/calls/{id}`` shows it (with its transcript)
and the call's evaluation results (``GET /agents/metrics/results?call_id=…``; None when
they were not final in time); out, a failure message per unmet expectation. What an
offline rule metric also checks (a tool called, an event, a metric's bounds, the end
reason) is checked by that rule (``openline.domain.rules``), so a scenario and a metric
never disagree about one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from openline.domain.calls import EndReason
from openline.domain.rules import EndReasonRule, EventRule, MetricRule, ToolRule
from openline.scenarios.spec import (
    AssistantMatches,
    AssistantSays,
    EndReasonIn,
    EventEmitted,
    MaxLatency,
    MetricPasses,
    MetricValue,
    Scenario,
    ToolCalled,
)

Call = dict[str, Any]
Results = list[dict[str, Any]] | None
QUOTE_CHARS = 120
_THIRD_PERSON = {"contain": "contains", "match": "matches"}


def check(scenario: Scenario, call: Call, results: Results) -> list[str]:
    """What the call shows that the scenario did not expect; empty: it passed. A call that
    failed (the agent crashed, refused, went away) fails the scenario, unless it expects
    ``end_reason: error``."""
    failures = []
    if call.get("status") == "failed" and not _expects_error(scenario):
        failures.append(f"the call failed: {call.get('error_message') or 'no reason given'}")
    for expectation in scenario.expect:
        for problem in _CHECKS[type(expectation)](expectation, scenario, call, results):
            failures.append(f"{expectation.KIND}: {problem}")
    return failures


# -- what the agent said -------------------------------------------------------------------------


def replies(call: Call) -> list[str]:
    """What the agent said before the caller's first line (0), and after each line N."""
    said = [""]
    for entry in call.get("transcript", []):
        if entry["role"] == "user":
            said.append("")
        elif entry["role"] == "assistant" and entry.get("text"):
            said[-1] = f"{said[-1]} {entry['text']}".strip()
    return said


def latencies(call: Call) -> list[float | None]:
    """For each caller line, the seconds until the agent's first text after it (None: the
    agent said nothing before the next line, or the call's end)."""
    found: list[float | None] = []
    asked_at: float | None = None
    for entry in call.get("transcript", []):
        if entry["role"] == "user":
            found.append(None)
            asked_at = entry["end_timestamp"]
        elif entry["role"] == "assistant" and entry.get("text") and asked_at is not None:
            chunks = entry.get("text_chunks") or [{"start_timestamp": entry["start_timestamp"]}]
            found[-1] = max(0.0, chunks[0]["start_timestamp"] - asked_at)
            asked_at = None
    return found


def _read(e: AssistantSays | AssistantMatches, scenario: Scenario, call: Call) -> list[str]:
    """The assistant text an expectation reads: one reply, or every assistant turn."""
    if e.turn is None:
        return [
            entry["text"] for entry in call.get("transcript", []) if entry["role"] == "assistant"
        ]
    said = replies(call)
    return [said[e.turn] if e.turn < len(said) else ""]


def _failed(
    e: AssistantSays | AssistantMatches, scenario: Scenario, texts: list[str], verb: str, what: str
) -> str:
    """No text read does ``verb`` (contain, match) ``what``: where, and what was said."""
    if e.turn is None:
        where = f"no assistant turn {_THIRD_PERSON[verb]}"
    elif e.turn == 0:
        where = f"the greeting does not {verb}"
    else:
        line = _quote(scenario.caller[e.turn - 1].text)
        where = f"the reply to line {e.turn} ({line}) does not {verb}"
    shown = [_quote(text) for text in texts if text]
    said = f"the agent said {', '.join(shown[:5])}" if shown else "the agent said nothing"
    return f"{where} {what}; {said}"


def _says(e: AssistantSays, scenario: Scenario, call: Call, _: Results) -> list[str]:
    texts = _read(e, scenario, call)
    if any(e.text.lower() in text.lower() for text in texts):
        return []
    return [_failed(e, scenario, texts, "contain", _quote(e.text))]


def _matches(e: AssistantMatches, scenario: Scenario, call: Call, _: Results) -> list[str]:
    texts = _read(e, scenario, call)
    pattern = re.compile(e.pattern, re.IGNORECASE)
    if any(pattern.search(text) for text in texts):
        return []
    return [_failed(e, scenario, texts, "match", f"/{e.pattern}/")]


def _latency(e: MaxLatency, scenario: Scenario, call: Call, _: Results) -> list[str]:
    problems = []
    for number, seconds in enumerate(latencies(call), start=1):
        line = _quote(scenario.caller[number - 1].text) if number <= len(scenario.caller) else ""
        if seconds is None:
            problems.append(f"line {number} ({line}) got no reply")
        elif seconds > e.seconds:
            problems.append(
                f"the reply to line {number} ({line}) took {seconds:.2f}s, over {e.seconds:g}s"
            )
    return problems


# -- what the agent did: the rules' checks -------------------------------------------------------


def _tool(e: ToolCalled, _s: Scenario, call: Call, _: Results) -> list[str]:
    verdict = ToolRule(type="tool_called", name=e.name, arguments=e.arguments).check(call)
    if verdict.passed:
        return []
    called = [f"{tool['name']} {tool.get('arguments') or {}}" for tool in _tool_calls(call)]
    return [
        verdict.reason + (f"; called: {', '.join(called)}" if called else "; no tool was called")
    ]


def _event(e: EventEmitted, _s: Scenario, call: Call, _: Results) -> list[str]:
    verdict = EventRule(type="event", name=e.name, metadata=e.metadata).check(call)
    if verdict.passed:
        return []
    seen = sorted({entry["log_event"]["event"] for entry in _system(call, "log_event")})
    return [verdict.reason + (f"; events: {', '.join(seen)}" if seen else "; no event was logged")]


def _metric(e: MetricValue, _s: Scenario, call: Call, _: Results) -> list[str]:
    values = [
        m["log_metric"]["value"]
        for m in _system(call, "log_metric")
        if m["log_metric"]["name"] == e.name
    ]
    if not values:
        return [f"metric {e.name!r} was never logged"]
    problems = []
    if e.wants_equal and not _same(values[-1], e.equals):
        problems.append(f"metric {e.name!r} was {values[-1]!r}, not {e.equals!r}")
    for op, bound in ((">=", e.min), ("<=", e.max)):
        if bound is not None:
            verdict = MetricRule(type="metric", name=e.name, op=op, value=bound).check(call)
            if not verdict.passed:
                problems.append(verdict.reason)
    return problems


def _end_reason(e: EndReasonIn, _s: Scenario, call: Call, _: Results) -> list[str]:
    verdict = EndReasonRule.model_validate({"type": "end_reason", "in": e.any_of}).check(call)
    return [] if verdict.passed else [verdict.reason]


# -- what the evaluations found -------------------------------------------------------------------


def _passes(e: MetricPasses, _s: Scenario, _c: Call, results: Results) -> list[str]:
    if results is None:
        return [f"the evaluation of {e.name!r} was not final in time (see --timeout)"]
    found = [result for result in results if result.get("metricName") == e.name]
    if not found:
        return [f"no result for metric {e.name!r}: is it attached to the agent?"]
    result = found[0]
    reason = result.get("reason") or "no reason given"
    if result.get("status") == "failed":
        return [f"metric {e.name!r} could not be judged: {reason}"]
    if result.get("passed") is True:
        return []
    if result.get("passed") is None:
        return [f"metric {e.name!r} is not pass or fail (its value: {result.get('value')!r})"]
    return [f"metric {e.name!r} did not pass: {reason}"]


# -- helpers ---------------------------------------------------------------------------------------


def _expects_error(scenario: Scenario) -> bool:
    return any(isinstance(e, EndReasonIn) and EndReason.ERROR in e.any_of for e in scenario.expect)


def _tool_calls(call: Call) -> list[dict[str, Any]]:
    """Every tool call, in a turn or made outside any."""
    found = []
    for entry in call.get("transcript", []):
        found += entry.get("tool_calls", [])
        if "tool_call" in entry:
            found.append(entry["tool_call"])
    return found


def _system(call: Call, key: str) -> list[dict[str, Any]]:
    return [entry for entry in call.get("transcript", []) if key in entry]


def _same(actual: Any, wanted: Any) -> bool:
    """Equal as JSON values: true is not 1."""
    return actual == wanted and isinstance(actual, bool) == isinstance(wanted, bool)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")


_CHECKS: dict[type, Callable[[Any, Scenario, Call, Results], list[str]]] = {
    AssistantSays: _says,
    AssistantMatches: _matches,
    ToolCalled: _tool,
    EventEmitted: _event,
    MetricValue: _metric,
    MetricPasses: _passes,
    EndReasonIn: _end_reason,
    MaxLatency: _latency,
}
