"""What the pages show, shaped from store rows: transcript entries, times, durations.

The Transcript tab can hold thousands of entries, so its entries are rendered here, in
one tight loop of escaped f-strings, rather than by the template engine; the page and
its live updates both use ``entries``, so an entry looks the same either way. JSON
columns arrive as their JSON text (see ``queries.Transcript``) and are shown as is.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any, NamedTuple

from openline.console.queries import Transcript
from openline.domain.time import as_utc

LEVELS = ("debug", "info", "warning", "error", "critical")


class Entry(NamedTuple):
    """One rendered line of the Transcript tab: a turn (with its tool calls), a tool call
    made outside any turn, a log event or a metric. Entries sort by time, then seq."""

    t: float  # seconds from call start
    seq: int
    key: str  # the element id, stable across live updates: kind + seq
    html: str


def entries(transcript: Transcript) -> list[Entry]:
    """Rendered entries in time order (then creation order), like the API's transcript."""
    tools_by_turn: dict[int, list] = {}
    loose_tools = []
    for tool in transcript.tools:
        if tool[6] is None:  # turn_seq
            loose_tools.append(tool)
        else:
            tools_by_turn.setdefault(tool[6], []).append(tool)
    shown = [_turn(turn, tools_by_turn.get(turn[0], ())) for turn in transcript.turns]
    shown += [_event(event) for event in transcript.events]
    shown += [_metric(metric) for metric in transcript.metrics]
    shown += [_loose_tool(tool) for tool in loose_tools]
    shown.sort()  # by time, then seq (unique)
    return shown


def _text(value: str) -> str:
    """``value`` escaped for element content (quotes need no escaping there)."""
    if "&" in value or "<" in value or ">" in value:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _at(t: float) -> str:
    """``offset``, inlined for the common case: under an hour."""
    return f"{int(t // 60)}:{t % 60:05.2f}" if 0 <= t < 3600 else offset(t)


def _turn(turn, tools) -> Entry:
    seq, _, t, role, text, end_t, end_reason, interruptible, chunks, *timings, generated = turn
    role = "user" if role == "user" else "assistant"
    cut = ' <span class="tag">interrupted</span>' if end_reason == "interrupted" else ""
    shaped: dict[str, Any] = {"seq": seq, "role": role, "start_timestamp": t}
    shaped["end_timestamp"] = end_t
    if end_reason is not None:
        shaped["end_reason"] = end_reason
    if interruptible is not None:
        shaped["interruptible"] = bool(interruptible)
    for name, value in zip(("tts_ttfb", "stt_ttfb", "vad_buffer_ms"), timings, strict=True):
        if value is not None:
            shaped[name] = value
    details = json.dumps(shaped, ensure_ascii=False)
    if chunks and chunks != "[]" and chunks != "null":
        details = f'{details[:-1]}, "text_chunks": {chunks}}}'
    blocks = "".join(f'<pre class="json">{_text(_tool_json(tool))}</pre>' for tool in tools)
    unheard = ""
    if generated is not None:  # the caller was cut off from some of it: all it generated
        unheard = f'<p class="generated"><span class="tag">generated</span> {_text(generated)}</p>'
    html = (
        f'<li class="entry role-{role}" id="turn-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">{role.capitalize()}</span>{cut}<p class="text">{_text(text)}</p>{unheard}'
        f"{''.join(_tool_line(tool) for tool in tools)}"
        f'<details><summary>Details</summary><pre class="json">{_text(details)}</pre>'
        f"{blocks}</details></div></li>"
    )
    return Entry(t, seq, f"turn-{seq}", html)


def _tool_line(tool, tag: str = "div") -> str:
    _, _, _, name, arguments, _, _, result, _ = tool
    if result is None:
        outcome = ' <span class="tag">waiting for result</span>'
    else:
        outcome = (
            '<span class="arrow" aria-label="returned">→</span>'
            f'<code class="result">{_text(result)}</code>'
        )
    return (
        f'<{tag} class="tool"><span class="who">Tool call</span> <code class="name">'
        f'{_text(name)}</code><code class="args">{_text(arguments or "null")}</code>'
        f"{outcome}</{tag}>"
    )


def _tool_json(tool) -> str:
    seq, _, t, name, arguments, tool_call_id, _, result, result_t = tool
    head = json.dumps(
        {
            "id": tool_call_id or f"tool_call_{seq}",
            "name": name,
            "timestamp": t,
            "result_timestamp": result_t,
            "result": result,
        },
        ensure_ascii=False,
    )
    return f'{head[:-1]}, "arguments": {arguments or "null"}}}'


def _loose_tool(tool) -> Entry:
    seq, t = tool[0], tool[2]
    html = (
        f'<li class="entry entry-tool" id="tool-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">{_tool_line(tool, "span")}'
        f'<details><summary>Details</summary><pre class="json">{_text(_tool_json(tool))}</pre>'
        "</details></div></li>"
    )
    return Entry(t, seq, f"tool-{seq}", html)


def _event(event) -> Entry:
    seq, _, t, name, metadata, level, message = event
    if level:
        level = level if level in LEVELS else escape(level)
        level = f' <span class="level level-{level}">{level}</span>'
    if message:
        message = f' <span class="message">{_text(message)}</span>'
    html = (
        f'<li class="entry entry-event" id="event-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">Event</span> <code class="name">{_text(name)}</code>'
        f"{level or ''}{message or ''}"
        f'<details><summary>Metadata</summary><pre class="json">{_text(metadata or "null")}'
        "</pre></details></div></li>"
    )
    return Entry(t, seq, f"event-{seq}", html)


def _metric(metric) -> Entry:
    seq, _, t, name, value = metric
    value = value or "null"
    details = f'{{"name": {json.dumps(name)}, "value": {value}}}'
    html = (
        f'<li class="entry entry-metric" id="metric-{seq}" data-t="{t!r}" data-seq="{seq}">'
        f'<time class="at">{_at(t)}</time><div class="body">'
        f'<span class="who">Metric</span> <code class="name">{_text(name)}</code> = '
        f'<code class="value">{_text(json_text(value))}</code>'
        f'<details><summary>Details</summary><pre class="json">{_text(details)}</pre>'
        "</details></div></li>"
    )
    return Entry(t, seq, f"metric-{seq}", html)


def json_text(stored: str | None) -> str:
    """A stored JSON value for reading: a string without its quotes, else its JSON."""
    if stored is None:
        return "null"
    if stored.startswith('"'):
        try:
            return json.loads(stored)
        except ValueError:
            return stored
    return stored


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
    if start is None or end is None:
        return ""
    exact = max(0.0, (as_utc(end) - as_utc(start)).total_seconds())
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


def levels_from(level: str | None) -> tuple[str, ...] | None:
    """The level and everything more severe (the API's ``level`` is a minimum)."""
    return LEVELS[LEVELS.index(level) :] if level in LEVELS else None
