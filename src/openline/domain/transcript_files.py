"""Calls and their transcripts as files: JSON, JSON Lines, CSV, text, SubRip and WebVTT.

Every format keeps the turn-level timestamps (seconds from call start), the tool calls,
the log events and the metrics:

- ``json``: the call exactly as ``GET /agents/calls/{id}`` returns it.
- ``jsonl``: one transcript entry per line, as in the API, each with ``call_id``
  (an export writes one whole call per line instead).
- ``csv``: one row per turn, tool call, event and metric (columns: :data:`CSV_COLUMNS`);
  JSON values (tool arguments, event metadata, metric values) are JSON-encoded; a tool
  call made during a turn carries that turn's timestamps; an answer's row its latency
  and each part of it (``latency_agent``…, domain.latency).
- ``txt``: a readable transcript.
- ``srt``: one cue per user/assistant turn, from its start to its end; tool calls are
  extra lines of their turn's cue; events and metrics are cues of their own
  (``[event] …``, ``[metric] …``), since SubRip has no comments.
- ``vtt``: one cue per turn with a voice tag (``<v assistant>``); tool calls, events and
  metrics are ``NOTE`` blocks at their place in time, so players show only speech.

A cue shorter than :data:`MIN_CUE_S` (text calls record typed text as an instant) is
shown for :data:`MIN_CUE_S`: cue end = max(end_timestamp, start_timestamp + MIN_CUE_S).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from openline.domain.latency import PARTS

TRANSCRIPT_FORMATS = ("json", "jsonl", "csv", "txt", "srt", "vtt")
EXPORT_FORMATS = ("json", "jsonl", "csv")
MIN_CUE_S = 1.0

CSV_COLUMNS = (
    "call_id",
    "agent_id",
    "call_start_time",
    "call_status",
    "call_end_reason",
    "kind",
    "role",
    "start_timestamp",
    "end_timestamp",
    "text",
    "generated_text",
    "turn_end_reason",
    "latency",
    *(f"latency_{part}" for part in PARTS),
    "tool_call_id",
    "tool_name",
    "tool_arguments",
    "tool_result",
    "event",
    "event_metadata",
    "metric_name",
    "metric_value",
)


@dataclass
class Item:
    """One thing that happened in a call: a turn, a tool call, an event or a metric."""

    kind: str  # user | assistant | tool_call | log_event | log_metric
    start: float | None
    end: float | None
    text: str = ""
    generated_text: str | None = None  # all the agent sent, when the caller got less
    turn_end_reason: str | None = None
    latency: float | None = None
    latency_parts: dict[str, float | None] | None = None
    tool: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # a turn's tool calls
    in_turn: bool = False  # a tool call made during the turn just before it


def items(call: dict) -> Iterator[Item]:
    """The transcript flattened in time order; each turn is followed by its tool calls."""
    for entry in call.get("transcript") or []:
        start, end = entry.get("start_timestamp"), entry.get("end_timestamp")
        role = entry.get("role")
        if role in ("user", "assistant"):
            tools = entry.get("tool_calls") or []
            yield Item(
                role,
                start,
                end,
                text=entry.get("text") or "",
                generated_text=entry.get("generated_text"),
                turn_end_reason=entry.get("end_reason"),
                latency=entry.get("latency"),
                latency_parts=entry.get("latency_parts"),
                tools=tools,
            )
            for tool in tools:
                yield Item("tool_call", start, end, tool=tool, in_turn=True)
        elif "log_event" in entry:
            yield Item("log_event", start, end, event=entry["log_event"])
        elif "log_metric" in entry:
            yield Item("log_metric", start, end, metric=entry["log_metric"])
        elif "tool_call" in entry:
            yield Item("tool_call", start, end, tool=entry["tool_call"])


# -- one-line descriptions shared by the text formats ----------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def describe_tool(tool: dict) -> str:
    text = f"{tool.get('name')} {_json(tool.get('arguments'))}"
    result = tool.get("result")
    return text + (" -> (no result)" if result is None else f" -> {result}")


def describe_latency(latency: float, parts: dict[str, float | None] | None) -> str:
    """``1.42 s: endpointing 0.60, stt 0.30, …``, the parts that apply, in seconds."""
    known = [
        f"{name} {seconds:.2f}" for name, seconds in (parts or {}).items() if seconds is not None
    ]
    return f"{latency:.2f} s" + (f": {', '.join(known)}" if known else "")


def describe_event(event: dict) -> str:
    metadata = event.get("metadata")
    return f"{event.get('event')}" + ("" if metadata is None else f" {_json(metadata)}")


def describe_metric(metric: dict) -> str:
    return f"{metric.get('name')} = {_json(metric.get('value'))}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- single-call formats ---------------------------------------------------------------------


def render(call: dict, fmt: str) -> str:
    """A call's transcript in one of :data:`TRANSCRIPT_FORMATS`."""
    if fmt == "json":
        return json.dumps(call, indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":
        return "".join(
            _json({"call_id": call["id"]} | entry) + "\n" for entry in call.get("transcript") or []
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        write_csv_rows(writer, call)
        return buffer.getvalue()
    if fmt == "txt":
        return to_txt(call)
    if fmt == "srt":
        return to_srt(call)
    if fmt == "vtt":
        return to_vtt(call)
    raise ValueError(f"unknown format {fmt!r}")


def csv_writer(out: IO[str]) -> csv.DictWriter:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    return writer


def write_csv_rows(writer: csv.DictWriter, call: dict) -> int:
    base = {
        "call_id": call["id"],
        "agent_id": call.get("agent_id"),
        "call_start_time": call.get("start_time"),
        "call_status": call.get("status"),
        "call_end_reason": call.get("end_reason"),
    }
    count = 0
    for item in items(call):
        row = base | {"kind": item.kind, "start_timestamp": item.start, "end_timestamp": item.end}
        if item.kind in ("user", "assistant"):
            row |= {
                "role": item.kind,
                "text": item.text,
                "generated_text": item.generated_text,
                "turn_end_reason": item.turn_end_reason,
                "latency": item.latency,
            }
            for part, seconds in (item.latency_parts or {}).items():
                row[f"latency_{part}"] = seconds
        elif item.tool is not None:
            row |= {
                "role": "assistant",
                "tool_call_id": item.tool.get("id"),
                "tool_name": item.tool.get("name"),
                "tool_arguments": _json(item.tool.get("arguments")),
                "tool_result": item.tool.get("result"),
            }
        elif item.event is not None:
            row |= {
                "role": "system",
                "event": item.event.get("event"),
                "event_metadata": _json(item.event.get("metadata")),
            }
        elif item.metric is not None:
            row |= {
                "role": "system",
                "metric_name": item.metric.get("name"),
                "metric_value": _json(item.metric.get("value")),
            }
        writer.writerow(row)
        count += 1
    return count


def _clock(seconds: float | None) -> str:
    seconds = seconds or 0.0
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{minutes:02d}:{secs:02d}.{millis:03d}"


def to_txt(call: dict) -> str:
    lines = [
        f"Call {call['id']} with {call.get('agent_name') or '?'} ({call.get('agent_id')})",
        f"Started {call.get('start_time')}, ended {call.get('end_time') or '-'}: "
        f"{call.get('status')}"
        + (f", {call['end_reason']}" if call.get("end_reason") else "")
        + (f" ({call['agent_end_reason']})" if call.get("agent_end_reason") else ""),
    ]
    if call.get("error_message"):
        lines.append(f"Error: {call['error_message']}")
    lines.append("")
    for item in items(call):
        if item.kind in ("user", "assistant"):
            span = _clock(item.start)
            if item.end is not None and item.end != item.start:
                span += f" - {_clock(item.end)}"
            text = item.text.replace("\n", "\n    ")
            lines.append(f"[{span}] {item.kind}: {text}")
            if item.generated_text is not None:
                generated = item.generated_text.replace("\n", "\n    ")
                lines.append(f"    (generated: {generated})")
            if item.latency is not None:
                lines.append(f"    (latency {describe_latency(item.latency, item.latency_parts)})")
        elif item.tool is not None:
            lines.append(f"    tool {describe_tool(item.tool)}")
        elif item.event is not None:
            lines.append(f"[{_clock(item.start)}] event {describe_event(item.event)}")
        elif item.metric is not None:
            lines.append(f"[{_clock(item.start)}] metric {describe_metric(item.metric)}")
    return "\n".join(lines) + "\n"


def cue_span(start: float | None, end: float | None) -> tuple[float, float]:
    begin = start or 0.0
    return begin, max(end if end is not None else begin, begin + MIN_CUE_S)


def _cue_time(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(text: str) -> str:
    """Cue text cannot hold a blank line (it would end the cue)."""
    return "\n".join(line for line in text.splitlines() if line.strip()) or "…"


def to_srt(call: dict) -> str:
    cues: list[str] = []
    for item in items(call):
        if item.kind in ("user", "assistant"):
            body = f"{item.kind.capitalize()}: {_cue_text(item.text)}"
            for tool in item.tools:
                body += f"\n[tool] {_one_line(describe_tool(tool))}"
        elif item.event is not None:
            body = f"[event] {_one_line(describe_event(item.event))}"
        elif item.metric is not None:
            body = f"[metric] {_one_line(describe_metric(item.metric))}"
        elif item.tool is not None and not item.in_turn:
            body = f"[tool] {_one_line(describe_tool(item.tool))}"
        else:
            continue  # a turn's tool call is already a line of the turn's cue
        begin, end = cue_span(item.start, item.end)
        cues.append(f"{len(cues) + 1}\n{_cue_time(begin, ',')} --> {_cue_time(end, ',')}\n{body}\n")
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _note(text: str) -> str:
    return "NOTE " + _one_line(text).replace("-->", "->") + "\n"


def to_vtt(call: dict) -> str:
    blocks = [
        "WEBVTT\n",
        _note(f"call {call['id']} agent {call.get('agent_id')} started {call.get('start_time')}"),
    ]
    for item in items(call):
        at = _cue_time(item.start or 0.0, ".")
        if item.kind in ("user", "assistant"):
            begin, end = cue_span(item.start, item.end)
            text = _vtt_escape(_cue_text(item.text))
            blocks.append(
                f"{_cue_time(begin, '.')} --> {_cue_time(end, '.')}\n<v {item.kind}>{text}\n"
            )
            if item.generated_text is not None:
                blocks.append(_note(f"{at} generated: {item.generated_text}"))
        elif item.tool is not None:
            blocks.append(_note(f"{at} tool {describe_tool(item.tool)}"))
        elif item.event is not None:
            blocks.append(_note(f"{at} event {describe_event(item.event)}"))
        elif item.metric is not None:
            blocks.append(_note(f"{at} metric {describe_metric(item.metric)}"))
    return "\n".join(blocks)


# -- many calls, streamed ---------------------------------------------------------------------


class ExportWriter:
    """Writes calls one by one in one of :data:`EXPORT_FORMATS`, never holding them all."""

    def __init__(self, out: IO[str], fmt: str) -> None:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        self._out = out
        self._fmt = fmt
        self._count = 0
        self._csv: csv.DictWriter | None = None
        if fmt == "json":
            out.write("[")
        elif fmt == "csv":
            self._csv = csv_writer(out)

    def add(self, call: dict) -> None:
        if self._fmt == "json":
            out = json.dumps(call, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            self._out.write(("," if self._count else "") + "\n  " + out)
        elif self._fmt == "jsonl":
            self._out.write(_json(call) + "\n")
        else:
            assert self._csv is not None
            write_csv_rows(self._csv, call)
        self._count += 1
        self._out.flush()

    def close(self) -> None:
        if self._fmt == "json":
            self._out.write("\n]\n" if self._count else "]\n")
        self._out.flush()
