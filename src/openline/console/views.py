"""What the pages show, shaped from the store's facts: transcript entries, times, durations.

The Transcript tab can hold thousands of entries, so its entries are rendered here, in
one tight loop of escaped f-strings, rather than by the template engine; the page and
its live updates both use ``entries``, so an entry looks the same either way. Entries
come in the API's transcript order (``shapes.transcript_order``), and each one's details
are the fact's public JSON (``shapes.tail_json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any, NamedTuple

from openline.domain.calls import Fact, LogEvent, LogMetric, ToolCall, Turn, TurnEndReason
from openline.domain.log_levels import LEVELS
from openline.domain.shapes import tail_json, transcript_order
from openline.domain.time import as_utc
from openline.domain.transcript_files import describe_latency


class Entry(NamedTuple):
    """One rendered line of the Transcript tab: a turn (with its tool calls), a tool call
    made outside any turn, a log event or a metric."""

    t: float  # seconds from call start
    seq: int
    key: str  # the element id, stable across live updates: kind + seq
    html: str


def entries(facts: Iterable[Fact]) -> list[Entry]:
    """Rendered entries in the transcript's order (time, then creation)."""
    shown = []
    for fact, tools in transcript_order(facts):
        if isinstance(fact, Turn):
            shown.append(_turn(fact, tools))
        elif isinstance(fact, LogEvent):
            shown.append(_event(fact))
        elif isinstance(fact, LogMetric):
            shown.append(_metric(fact))
        else:
            shown.append(_loose_tool(fact))
    return shown


def _text(value: str) -> str:
    """``value`` escaped for element content (quotes need no escaping there)."""
    if "&" in value or "<" in value or ">" in value:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _at(t: float) -> str:
    """``offset``, inlined for the common case: under an hour."""
    return f"{int(t // 60)}:{t % 60:05.2f}" if 0 <= t < 3600 else offset(t)


def _turn(turn: Turn, tools: list[ToolCall]) -> Entry:
    seq, t = turn.seq, turn.timestamp
    role = turn.role.value
    cut = (
        ' <span class="tag">interrupted</span>'
        if turn.end_reason is TurnEndReason.INTERRUPTED
        else ""
    )
    waited = ""
    if turn.latency is not None:  # an answer: how long the caller waited for it, and where
        waited = (
            f' <span class="tag latency" title="latency '
            f'{escape(describe_latency(turn.latency, turn.latency_parts))}">'
            f"waited {turn.latency:.2f} s</span>"
        )
    blocks = "".join(f'<pre class="json">{_text(_json(tail_json(tool)))}</pre>' for tool in tools)
    unheard = ""
    if turn.generated_text is not None:  # the caller was cut off from some of it: all it generated
        unheard = (
            f'<p class="generated"><span class="tag">generated</span> '
            f"{_text(turn.generated_text)}</p>"
        )
    html = (
        f'<li class="entry role-{role}" id="turn-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">{role.capitalize()}</span>{waited}{cut}'
        f'<p class="text">{_text(turn.text)}</p>'
        f"{unheard}{''.join(_tool_line(tool) for tool in tools)}"
        f'<details><summary>Details</summary><pre class="json">{_text(_json(tail_json(turn)))}'
        f"</pre>{blocks}</details></div></li>"
    )
    return Entry(t, seq, f"turn-{seq}", html)


def _tool_line(tool: ToolCall, tag: str = "div") -> str:
    if tool.result is None:
        outcome = ' <span class="tag">waiting for result</span>'
    else:
        outcome = (
            '<span class="arrow" aria-label="returned">→</span>'
            f'<code class="result">{_text(tool.result)}</code>'
        )
    return (
        f'<{tag} class="tool"><span class="who">Tool call</span> <code class="name">'
        f'{_text(tool.name)}</code><code class="args">{_text(_json(tool.arguments))}</code>'
        f"{outcome}</{tag}>"
    )


def _loose_tool(tool: ToolCall) -> Entry:
    seq, t = tool.seq, tool.timestamp
    html = (
        f'<li class="entry entry-tool" id="tool-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">{_tool_line(tool, "span")}'
        f'<details><summary>Details</summary><pre class="json">{_text(_json(tail_json(tool)))}'
        "</pre></details></div></li>"
    )
    return Entry(t, seq, f"tool-{seq}", html)


def _event(event: LogEvent) -> Entry:
    seq, t, level, message = event.seq, event.timestamp, event.level, event.message
    if level:
        level = level if level in LEVELS else escape(level)
        level = f' <span class="level level-{level}">{level}</span>'
    if message:
        message = f' <span class="message">{_text(message)}</span>'
    html = (
        f'<li class="entry entry-event" id="event-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">Event</span> <code class="name">{_text(event.event)}</code>'
        f"{level or ''}{message or ''}"
        f'<details><summary>Metadata</summary><pre class="json">{_text(_json(event.metadata))}'
        "</pre></details></div></li>"
    )
    return Entry(t, seq, f"event-{seq}", html)


def _metric(metric: LogMetric) -> Entry:
    seq, t = metric.seq, metric.timestamp
    html = (
        f'<li class="entry entry-metric" id="metric-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">Metric</span> <code class="name">{_text(metric.name)}</code> = '
        f'<code class="value">{_text(compact(metric.value))}</code>'
        f'<details><summary>Details</summary><pre class="json">{_text(_json(tail_json(metric)))}'
        "</pre></details></div></li>"
    )
    return Entry(t, seq, f"metric-{seq}", html)


def compact(value: Any) -> str:
    """A value on one line: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def offset(seconds: float | None) -> str:
    """Seconds from call start as ``m:ss.ss`` (``h:mm:ss.ss`` past an hour)."""
    if seconds is None:
        return ""
    if seconds < 3600:
        minutes = int(seconds // 60) if seconds > 0 else 0
        return f"{minutes}:{max(0.0, seconds - 60 * minutes):05.2f}"
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)}:{int(rest // 60):02d}:{rest % 60:05.2f}"


def when(value: datetime | None) -> str:
    value = as_utc(value)
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    value = as_utc(value)
    return "" if value is None else value.isoformat().replace("+00:00", "Z")


def duration(start: datetime | None, end: datetime | None) -> str:
    start, end = as_utc(start), as_utc(end)
    if start is None or end is None:
        return ""
    exact = max(0.0, (end - start).total_seconds())
    if exact < 10:
        return f"{exact:.1f}s"
    seconds = int(exact)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
