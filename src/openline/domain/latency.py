"""Where the caller's wait for an answer went: an assistant turn's latency, measured on
the call's timeline from what the caller said to what the caller heard, and its parts.

In a voice call, ``latency`` runs from the caller's last voiced audio to the first voiced
agent audio played to the caller, and is made of, in this order:

- ``endpointing``: the silence the turn detector waited for before calling the turn over;
- ``stt``: the recogniser finishing the transcript (the agent is sent it then);
- ``agent``: the agent's own code, until the first text of its answer arrived;
- ``tts``: text-to-speech, until the first audio of that text (its time to first byte);
- ``playout``: the rest, until a voice was heard: audio still playing ahead of it, the
  synthesized audio's leading silence.

A line the caller typed has no ``endpointing`` or ``stt`` (null). In a text call the
latency is the caller's line → the agent's first text, all of it ``agent``. The parts
are seconds rounded to the millisecond, so they add up to ``latency`` within 3 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTS = ("endpointing", "stt", "agent", "tts", "playout")


@dataclass(frozen=True)
class CallerLine:
    """A caller's turn as its answer's latency counts from it (call times, seconds)."""

    end: float  # the last voiced audio, or the instant a typed line arrived
    decided: float | None  # the turn detector called the turn over (spoken lines)
    sent: float  # the agent was given the line


@dataclass(frozen=True)
class Latency:
    total: float
    parts: dict[str, float | None]


def answer_latency(
    line: CallerLine, text_at: float, heard_at: float, tts_ttfb: float | None
) -> Latency | None:
    """The latency of an answer whose first text arrived at ``text_at`` and was first
    heard at ``heard_at``: a voice call's first voiced audio (``tts_ttfb`` its synthesis
    took), a text call's first text (``tts_ttfb`` None). None when it answers no line:
    its text was sent before the agent had the line, or it was heard before the caller
    stopped (the agent talked over the caller)."""
    if text_at < line.sent or heard_at < line.end:
        return None
    decided = line.decided
    parts = {
        "endpointing": None if decided is None else decided - line.end,
        "stt": None if decided is None else line.sent - decided,
        "agent": text_at - line.sent,
        "tts": tts_ttfb,
        "playout": None if tts_ttfb is None else heard_at - text_at - tts_ttfb,
    }
    return Latency(
        _ms(heard_at - line.end),
        {name: None if value is None else _ms(value) for name, value in parts.items()},
    )


def _ms(seconds: float) -> float:
    return round(seconds, 3)
