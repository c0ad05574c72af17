"""Showing a call's facts as the live tail delivers them (``calls tail``, ``chat --events``).

The tail (``GET /agents/calls/{id}/stream``) sends each fact, in its public JSON (a turn
as in a transcript, with ``start_timestamp``; every other kind with ``timestamp``), when it
is recorded and again whenever it changes (an assistant turn grows chunk by chunk, then
closes; a tool call gets its result). A fact is identified by ``(kind, seq)``; a later
copy replaces an earlier one. :class:`FactPrinter` turns that stream into lines, printing
only what is new.

What is printed depends only on what was recorded, never on how the copies were batched: a
tool call is always two lines, ``tool`` when it was called and ``result`` when it returned,
whether the tail delivered its result with the call or in a later copy. (Holding the call
until its result would hide a slow or hung tool — what one watches a call live to see.)

Within one batch of the tail, facts arrive in creation order, not the order their lines
happened (a turn opened by a tool call comes before that call, its text after it), so
:class:`TimeOrder` holds a batch's lines until the tail's ``caught_up`` and prints them
sorted by call time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from rich.text import Text

from openline.cli._output import compact, offset

LABEL_WIDTH = 9
STYLES = {
    "user": "bold green",
    "assistant": "bold cyan",
    "tool": "magenta",
    "result": "magenta",
    "event": "yellow",
    "metric": "blue",
    "log": "dim",
    "signal": "dim",
}
# What `chat` already shows from the call's own socket events.
CLIENT_VISIBLE_SIGNALS = frozenset({"dtmf", "custom", "transfer", "end_call"})


def line(at: float | None, label: str, text: str, style: str | None = None) -> Text:
    """``mm:ss.mmm  label     text``: one line of a call's timeline."""
    out = Text()
    out.append(offset(at) + "  ", style="dim")
    out.append(label.ljust(LABEL_WIDTH), style=style or STYLES.get(label, ""))
    out.append(" " + text)
    return out


class Shown(NamedTuple):
    """A line and where it goes in the timeline: by call time (ms), then by the change
    counter at which it happened (a fact's ``seq``, or for what a change adds, such as a
    turn's new text or a tool's result, the ``rev`` of that change), then by arrival."""

    at: float
    rev: int
    arrival: int
    text: Text


Timed = tuple[float | None, int, Text]  # a line's call time, change counter (see Shown), text


class FactPrinter:
    """Keeps the latest copy of each fact and says what to print about each new copy."""

    def __init__(self, skip_signals: frozenset[str] = frozenset()) -> None:
        self.skip_signals = skip_signals
        self.facts: dict[tuple[str, int], dict[str, Any]] = {}
        self._chunks_shown: dict[int, int] = {}
        self._arrivals = itertools.count()

    def apply(self, fact: dict[str, Any]) -> list[Shown]:
        """Record a copy of a fact; returns the lines it adds to what was shown."""
        kind = str(fact.get("kind", "?"))
        seq = int(fact.get("seq", -1))
        before = self.facts.get((kind, seq))
        if before is not None and int(before.get("rev", 0)) > int(fact.get("rev", 0)):
            return []  # an older copy arriving late
        self.facts[(kind, seq)] = fact
        show = getattr(self, "_" + kind, None)
        if show is None:  # a kind this CLI does not know yet
            at = fact.get("timestamp", fact.get("start_timestamp"))
            lines = [] if before else [(at, seq, line(at, kind, compact(fact)))]
        else:
            lines = show(fact, before)
        return [Shown(float(at or 0.0), rev, next(self._arrivals), text) for at, rev, text in lines]

    # -- one method per kind: (new copy, previous copy or None) -> [(time, change, line)] ---------

    def _turn(self, fact: dict, before: dict | None) -> list[Timed]:
        at, seq = fact.get("start_timestamp"), int(fact["seq"])
        if fact.get("role") == "user":
            return [] if before else [(at, seq, line(at, "user", fact.get("text", "")))]
        rev = int(fact.get("rev", seq))
        chunks = fact.get("text_chunks") or []
        shown = self._chunks_shown.get(seq, 0)
        self._chunks_shown[seq] = len(chunks)
        return [
            (
                chunk.get("start_timestamp"),
                rev,
                line(chunk.get("start_timestamp"), "assistant", chunk.get("text", "")),
            )
            for chunk in chunks[shown:]
        ]

    def _tool_call(self, fact: dict, before: dict | None) -> list[Timed]:
        at, seq, name = fact.get("timestamp"), int(fact["seq"]), fact.get("name")
        lines = []
        if before is None:
            lines.append((at, seq, line(at, "tool", f"{name} {compact(fact.get('arguments'))}")))
        result = fact.get("result")
        if result is not None and (before is None or before.get("result") is None):
            done = fact.get("result_timestamp") or at
            rev = int(fact.get("rev", seq))
            lines.append((done, rev, line(done, "result", f"{name} -> {compact(result)}")))
        return lines

    def _log_event(self, fact: dict, before: dict | None) -> list[Timed]:
        if before is not None:
            return []
        text = str(fact.get("event"))
        if fact.get("message"):
            text += f" [{fact.get('level') or 'info'}] {fact['message']}"
        if fact.get("metadata") is not None:
            text += f" {compact(fact['metadata'])}"
        at = fact.get("timestamp")
        return [(at, int(fact["seq"]), line(at, "event", text))]

    def _log_metric(self, fact: dict, before: dict | None) -> list[Timed]:
        if before is not None:
            return []
        at = fact.get("timestamp")
        value = json.dumps(fact.get("value"), ensure_ascii=False)
        return [(at, int(fact["seq"]), line(at, "metric", f"{fact.get('name')} = {value}"))]

    def _log(self, fact: dict, before: dict | None) -> list[Timed]:
        if before is not None:
            return []
        where = f"{fact['logger']}: " if fact.get("logger") else ""
        text = f"{str(fact.get('level') or 'info').upper()} {where}{fact.get('message', '')}"
        if fact.get("exc_text"):
            text += "\n" + str(fact["exc_text"])
        at = fact.get("timestamp")
        return [(at, int(fact["seq"]), line(at, "log", text))]

    def _signal(self, fact: dict, before: dict | None) -> list[Timed]:
        if before is not None or fact.get("type") in self.skip_signals:
            return []
        data = fact.get("data")
        text = str(fact.get("type")) + ("" if data is None else f" {compact(data)}")
        at = fact.get("timestamp")
        return [(at, int(fact["seq"]), line(at, "signal", text))]


class TimeOrder:
    """Collects the lines of one batch of the tail and prints them in call-time order when
    the tail says it has caught up (``caught_up``): nothing recorded earlier can follow."""

    def __init__(self, emit: Callable[[Text], None]) -> None:
        self._emit = emit
        self._pending: list[Shown] = []

    def add(self, lines: list[Shown]) -> None:
        self._pending.extend(lines)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for shown in sorted(pending, key=lambda item: (item.at, item.rev, item.arrival)):
            self._emit(shown.text)
