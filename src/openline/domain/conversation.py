"""How a conversation went, from its turns' times: who talked how long, who cut in on
whom, where both talked at once, the longest silence, and how long the caller waited
for the agent's first words.

Times are the record's: a voice turn spans what the caller heard (the agent) or said
(the caller); a text turn is the instant it was sent, so text calls talk for 0 s and
never overlap. All values are seconds, rounded to the millisecond the record keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openline.domain.calls import Role, Turn, TurnEndReason


def conversation_stats(turns: Iterable[Turn]) -> dict[str, Any]:
    spans = sorted(
        (turn for turn in turns if turn.end_timestamp is not None), key=lambda t: t.timestamp
    )
    caller = [(t.timestamp, _end(t)) for t in spans if t.role is Role.USER]
    agent = [(t.timestamp, _end(t)) for t in spans if t.role is Role.ASSISTANT]
    overlaps = [
        min(a_end, c_end) - max(a_start, c_start)
        for a_start, a_end in agent
        for c_start, c_end in caller
        if min(a_end, c_end) > max(a_start, c_start)
    ]
    cut_by_caller = sum(
        1 for t in spans if t.role is Role.ASSISTANT and t.end_reason is TurnEndReason.INTERRUPTED
    )
    # The agent cut in: it began while the caller was still speaking.
    cut_by_agent = sum(
        1 for a_start, _ in agent if any(c_start < a_start < c_end for c_start, c_end in caller)
    )
    return {
        "caller_talk_s": _seconds(sum(end - start for start, end in caller)),
        "agent_talk_s": _seconds(sum(end - start for start, end in agent)),
        "interruptions": {"by_caller": cut_by_caller, "by_agent": cut_by_agent},
        "overlaps": len(overlaps),
        "overlap_s": _seconds(sum(overlaps)),
        "longest_silence_s": _seconds(_longest_gap(sorted(caller + agent))),
        "time_to_first_agent_audio_s": _seconds(agent[0][0]) if agent else None,
    }


def _end(turn: Turn) -> float:
    assert turn.end_timestamp is not None
    return max(turn.timestamp, turn.end_timestamp)


def _longest_gap(intervals: list[tuple[float, float]]) -> float:
    """The longest stretch between the first speech and the last with nobody speaking."""
    longest, reach = 0.0, None
    for start, end in intervals:
        if reach is not None and start > reach:
            longest = max(longest, start - reach)
        reach = end if reach is None else max(reach, end)
    return longest


def _seconds(value: float) -> float:
    return round(value, 3)
