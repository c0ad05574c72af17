"""A call's conversation stats, from its turns' times (``domain.conversation``)."""

from __future__ import annotations

from openline.domain.calls import Role, Turn, TurnEndReason
from openline.domain.conversation import conversation_stats


def turn(seq: int, role: Role, start: float, end: float, reason=None) -> Turn:
    return Turn("call_s", seq, 0, start, role, "…", end_timestamp=end, end_reason=reason)


def test_talk_time_cut_ins_overlaps_and_silence():
    turns = [
        turn(1, Role.ASSISTANT, 0.8, 2.0),  # greeting: the caller waited 0.8 s
        turn(2, Role.USER, 3.5, 5.0),  # 1.5 s of silence before the caller spoke
        turn(3, Role.ASSISTANT, 5.6, 9.0, TurnEndReason.INTERRUPTED),  # cut off by...
        turn(4, Role.USER, 8.2, 9.5),  # ...the caller, 0.8 s into both talking
        turn(5, Role.ASSISTANT, 9.3, 11.0),  # the agent cut in 0.2 s before the caller was done
    ]
    assert conversation_stats(turns) == {
        "caller_talk_s": 2.8,
        "agent_talk_s": 6.3,
        "interruptions": {"by_caller": 1, "by_agent": 1},
        "overlaps": 2,
        "overlap_s": 1.0,
        "longest_silence_s": 1.5,
        "time_to_first_agent_audio_s": 0.8,
    }


def test_a_text_call_talks_in_instants_and_a_silent_call_has_no_first_audio():
    typed = [turn(1, Role.ASSISTANT, 0.01, 0.01), turn(2, Role.USER, 4.0, 4.0)]
    stats = conversation_stats(typed)
    assert stats["caller_talk_s"] == stats["agent_talk_s"] == stats["overlap_s"] == 0.0
    assert stats["longest_silence_s"] == 3.99 and stats["overlaps"] == 0
    nobody = conversation_stats([])
    assert nobody["time_to_first_agent_audio_s"] is None and nobody["longest_silence_s"] == 0.0
