"""The call page's Timeline: what a call recorded as items on one time axis (seconds
from the call's start), in the compact JSON ``static/js/timeline.js`` draws.

Items: turns (with an answer's latency and its parts, as the turn's public JSON has
them), tool calls (from the call to its result), log events, metrics, log lines and
webhook deliveries (queued at ``created_at``, on the call's clock), grouped by kind, so
an item needs no field to say it. Each has the ``id`` it keeps across live updates, so
the page replaces an item that changed. Labels are cut short: the Transcript and Logs
tabs hold the whole text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from openline.console.views import compact
from openline.domain.calls import Fact, LogEvent, LogMetric, LogRecord, ToolCall, Turn
from openline.domain.shapes import turn_json
from openline.domain.time import as_utc, utcnow
from openline.store.delivery_queue import PENDING

LABEL_CHARS = 120
KINDS = ("turn", "tool", "event", "metric", "log", "webhook")


def timeline(
    call: dict, facts: Iterable[Fact], lines: Iterable[LogRecord], deliveries: Iterable[dict]
) -> dict[str, Any]:
    """The whole timeline of a call: its length so far and every item."""
    return {"duration": duration(call), "items": items(call, facts, lines, deliveries)}


def duration(call: dict) -> float:
    """Seconds from the call's start to its end (to now while it runs)."""
    start = as_utc(call["start_time"])
    end = as_utc(call.get("end_time")) or utcnow()
    return max(0.0, (end - start).total_seconds())


def items(
    call: dict, facts: Iterable[Fact], lines: Iterable[LogRecord], deliveries: Iterable[dict]
) -> dict[str, list[dict[str, Any]]]:
    """The items by kind (``turn``, ``tool``, ``event``, ``metric``, ``log``,
    ``webhook``), each with the ``id`` it keeps (a fact's ``seq``, a delivery's id)."""
    shown: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for fact in facts:
        if type(fact) in _SHAPES:
            kind, shape = _SHAPES[type(fact)]
            shown[kind].append(shape(fact))
    shown["log"] = [
        _item(line.seq, line.timestamp, line.message, level=line.level) for line in lines
    ]
    start = as_utc(call["start_time"])
    for delivery in deliveries:
        at = (as_utc(delivery["created_at"]) - start).total_seconds()
        status = delivery["status"]
        if delivery.get("last_status_code"):
            status += f" (HTTP {delivery['last_status_code']})"
        label = f"{delivery['event_type']}: {status}"
        shown["webhook"].append(_item(delivery["id"], max(0.0, at), label))
    return shown


def deliveries_digest(deliveries: Iterable[dict]) -> str:
    """A short fingerprint of what the deliveries' markers show: a live page that has it
    is sent them again only once one of them changed."""
    shown = [(d["id"], d["event_type"], d["status"], d.get("last_status_code")) for d in deliveries]
    return hashlib.blake2b(repr(shown).encode(), digest_size=8).hexdigest()


def deliveries_under_way(deliveries: Iterable[dict]) -> bool:
    """Whether a delivery may still change (sent, retried) without the call recording
    anything: a live page then asks again for its markers."""
    return any(d["status"] == PENDING for d in deliveries)


def _item(ident: int | str, t: float, label: str, **more: Any) -> dict[str, Any]:
    cut = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
    return {"id": ident, "t": t, "label": cut, **more}


def _turn(turn: Turn) -> dict[str, Any]:
    shaped = turn_json(turn)
    found = _item(turn.seq, turn.timestamp, turn.text, role=turn.role.value)
    found["until"] = turn.end_timestamp
    if shaped.get("latency") is not None:  # answers that kept the caller waiting
        found["latency"] = shaped["latency"]
        found["parts"] = shaped.get("latency_parts") or {}
    return found


def _tool(tool: ToolCall) -> dict[str, Any]:
    label = tool.name if tool.result is None else f"{tool.name} → {tool.result}"
    return _item(tool.seq, tool.timestamp, label, until=tool.result_timestamp)


def _event(event: LogEvent) -> dict[str, Any]:
    label = f"{event.event}: {event.message}" if event.message else event.event
    return _item(event.seq, event.timestamp, label, level=event.level)


def _metric(metric: LogMetric) -> dict[str, Any]:
    label = f"{metric.name} = {compact(metric.value)}"
    return _item(metric.seq, metric.timestamp, label)


_SHAPES: dict[type[Fact], tuple[str, Callable[[Any], dict[str, Any]]]] = {
    Turn: ("turn", _turn),
    ToolCall: ("tool", _tool),
    LogEvent: ("event", _event),
    LogMetric: ("metric", _metric),
}
