"""Readable terminal views of calls: the list table and one call with its timeline."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from openline.cli._live import line
from openline.cli._output import compact, duration, fields_table, list_table, when
from openline.domain.transcript_files import describe_event, describe_metric, describe_tool, items

STATUS_STYLES = {"started": "yellow", "completed": "green", "failed": "bold red"}


def status_text(call: dict) -> Text:
    status = call.get("status") or "?"
    return Text(status, style=STATUS_STYLES.get(status, ""))


def end_reason_text(call: dict) -> str:
    reason = call.get("end_reason") or "-"
    if call.get("agent_end_reason"):
        reason += f" ({call['agent_end_reason']})"
    return reason


def calls_table(calls: list[dict]) -> Table:
    columns = ("ID", "AGENT", "STATUS", "END REASON", "STARTED (UTC)", "DURATION")
    rows = [
        (
            call["id"],
            call.get("agent_name") or call.get("agent_id"),
            status_text(call),
            end_reason_text(call),
            when(call.get("start_time")),
            duration(call.get("start_time"), call.get("end_time")),
        )
        for call in calls
    ]
    return list_table(columns, rows)


def call_view(call: dict) -> Group:
    """A call's facts, then its transcript with tool calls, events and metrics in time order."""
    telephony = call.get("telephony_params") or {}
    rows: list[tuple[str, str | Text]] = [
        ("call", call["id"]),
        ("agent", f"{call.get('agent_name') or '?'} ({call.get('agent_id')})"),
        ("status", status_text(call)),
        ("end reason", end_reason_text(call)),
        ("started (UTC)", when(call.get("start_time"))),
        ("ended (UTC)", when(call.get("end_time"))),
        ("duration", duration(call.get("start_time"), call.get("end_time"))),
        ("from → to", f"{telephony.get('from', '-')} → {telephony.get('to', '-')}"),
    ]
    if call.get("error_message"):
        rows.append(("error", Text(call["error_message"], style="red")))
    if call.get("metadata"):
        rows.append(("metadata", compact(call["metadata"], None)))
    if call.get("summary"):
        rows.append(("summary", call["summary"]))
    if call.get("redacted_at"):
        rows.append(("redacted (UTC)", when(call["redacted_at"])))
    if call.get("trace_id"):  # to find the call in the trace backend
        rows.append(("trace id", call["trace_id"]))
    header = fields_table(rows)

    timeline: list[Text] = []
    for item in items(call):
        if item.kind in ("user", "assistant"):
            text = line(item.start, item.kind, item.text)
            if item.kind == "assistant":
                detail = [f"until {item.end:.3f}s"] if item.end is not None else []
                if item.turn_end_reason:
                    detail.append(item.turn_end_reason)
                if detail:
                    text.append(f"  ({', '.join(detail)})", style="dim")
            timeline.append(text)
        elif item.tool is not None:
            timeline.append(line(item.start, "tool", describe_tool(item.tool)))
        elif item.event is not None:
            timeline.append(line(item.start, "event", describe_event(item.event)))
        elif item.metric is not None:
            timeline.append(line(item.start, "metric", describe_metric(item.metric)))
    if not timeline:
        note = "redacted" if call.get("redacted_at") else "nothing recorded"
        timeline.append(Text(f"({note})", style="dim"))
    return Group(header, Text(""), Text("Transcript", style="bold underline"), *timeline)
