"""The ledger's turn rules on a clock the test moves (no sockets, no database)."""

from __future__ import annotations

from openline.domain.calls import Fact, TurnEndReason
from openline.harness.ledger import CallLedger


class Facts:
    def __init__(self) -> None:
        self.added: list[Fact] = []

    def add(self, fact: Fact) -> None:
        self.added.append(fact)

    def change(self, fact: Fact) -> None:
        pass


def ledger_at(times: list[float]) -> CallLedger:
    """A ledger whose clock reads ``times`` in turn (the first is the call's start)."""
    clock = iter(times)
    return CallLedger("call_x", Facts(), payload_cap=10_000, clock=lambda: next(clock))


def test_a_turn_cut_off_before_a_word_played_is_still_a_turn():
    ledger = CallLedger("call_x", Facts(), payload_cap=10_000)
    ledger.interrupt_assistant_turn(1.5, unspoken=["Let me check ", "that for you."])
    (turn,) = ledger.facts
    assert (turn.text, turn.generated_text) == ("", "Let me check that for you.")
    assert (turn.timestamp, turn.end_timestamp) == (1.5, 1.5)
    assert turn.end_reason is TurnEndReason.INTERRUPTED


def test_nothing_generated_nothing_recorded():
    ledger = CallLedger("call_x", Facts(), payload_cap=10_000)
    ledger.interrupt_assistant_turn(1.5)
    assert ledger.facts == []


def test_a_chunk_heard_whole_before_the_cut_is_kept_whole():
    ledger = ledger_at([0.0, 1.0])
    ledger.agent_message("All of this played. ")
    ledger.interrupt_assistant_turn(2.0, heard_of_last_chunk=None, unspoken=["Not this."])
    (turn,) = ledger.facts
    assert turn.text == "All of this played. "
    assert turn.generated_text == "All of this played. Not this."


def test_tool_calls_after_the_call_ended_join_the_last_turn():
    ledger = ledger_at([0.0, 1.0, 2.0, 2.1, 2.2])
    ledger.agent_message("Goodbye!")
    ledger.close_assistant_turn(TurnEndReason.CALL_ENDED)
    ledger.call_over()
    ledger.tool_call("end_call", {"reason": "done"})
    ledger.tool_call("end_call", {"reason": "done"}, "success")
    turn, tool = ledger.facts
    assert tool.turn_seq == turn.seq and tool.result == "success"
    assert turn.end_timestamp == 1.0
