"""An answer's latency and its parts, from the record's times (domain.latency) and as
the ledger stamps them on turns. The voice pipeline's own timing is tested with real
audio in tests/voice_calls/test_latency.py."""

from __future__ import annotations

import csv
import io

import pytest

from openline.domain.calls import Role, Turn, TurnEndReason
from openline.domain.latency import PARTS, CallerLine, answer_latency
from openline.domain.transcript_files import render
from openline.harness.ledger import CallLedger
from tests.test_ledger import Facts, ledger_at


def test_a_spoken_answer_is_split_into_parts_that_add_up():
    line = CallerLine(end=2.0, decided=2.6, sent=2.95)
    latency = answer_latency(line, text_at=3.40, heard_at=3.93, tts_ttfb=0.18)
    assert latency is not None
    assert latency.total == 1.93
    assert latency.parts == {
        "endpointing": 0.6,
        "stt": 0.35,
        "agent": 0.45,
        "tts": 0.18,
        "playout": 0.35,
    }
    assert sum(latency.parts.values()) == pytest.approx(latency.total, abs=0.003)


def test_a_typed_line_has_no_endpointing_or_recognition():
    latency = answer_latency(CallerLine(5.0, None, 5.0), 5.2, 5.6, 0.1)
    assert latency is not None
    assert latency.parts == {
        "endpointing": None,
        "stt": None,
        "agent": 0.2,
        "tts": 0.1,
        "playout": 0.3,
    }
    assert latency.total == 0.6


def test_a_text_answer_is_all_the_agents():
    latency = answer_latency(CallerLine(5.0, None, 5.0), 5.25, 5.25, None)
    assert latency is not None
    assert latency.total == 0.25
    assert latency.parts == dict.fromkeys(PARTS) | {"agent": 0.25}


def test_what_was_sent_before_the_agent_had_the_line_answers_nothing():
    assert answer_latency(CallerLine(2.0, 2.6, 3.0), 2.9, 4.0, 0.1) is None


def test_talking_over_the_caller_is_no_latency():
    assert answer_latency(CallerLine(2.0, 2.6, 3.0), 3.1, 1.9, 0.1) is None


def assistant_turns(ledger: CallLedger) -> list[Turn]:
    return [f for f in ledger.facts if isinstance(f, Turn) and f.role is Role.ASSISTANT]


def test_a_text_call_answer_carries_its_latency_and_a_greeting_none():
    # clock reads: start, greeting, caller's line, the answer, response_end
    ledger = ledger_at([0.0, 0.1, 1.0, 1.42, 1.5])
    ledger.agent_message("Hello!")
    ledger.user_turn("What time is it?")
    ledger.agent_message("Noon.")
    ledger.response_end()
    greeting, answer = assistant_turns(ledger)
    assert (greeting.latency, greeting.latency_parts) == (None, None)
    assert answer.latency == 0.42
    assert answer.latency_parts == dict.fromkeys(PARTS) | {"agent": 0.42}


class Clock:
    """A call clock the test sets (the ledger reads it for the line's ``sent`` time)."""

    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


def test_a_voice_answer_counts_from_the_callers_last_voice_to_the_agents_first():
    clock = Clock()
    ledger = CallLedger("call_x", Facts(), payload_cap=10_000, clock=clock)
    clock.at = 2.9  # the transcript is ready and goes to the agent
    ledger.user_turn("Hi", start=1.0, end=2.0, stt_ttfb=0.3, vad_buffer_ms=600, decided=2.6)
    clock.at = 3.3  # the answer began playing; its text was sent at 3.1
    ledger.agent_message("Hello there.", at=3.3, sent_at=3.1)
    ledger.assistant_first_audio(0.15)
    ledger.assistant_voiced(3.42)
    ledger.assistant_heard_until(4.0)
    ledger.close_assistant_turn(TurnEndReason.TTS_COMPLETED)
    (answer,) = assistant_turns(ledger)
    assert answer.latency == 1.42
    assert answer.latency_parts == {
        "endpointing": 0.6,
        "stt": 0.3,
        "agent": 0.2,
        "tts": 0.15,
        "playout": 0.17,
    }


def test_an_answer_cut_off_before_any_voice_played_has_no_latency():
    ledger = CallLedger("call_x", Facts(), payload_cap=10_000, clock=lambda: 3.0)
    ledger.user_turn("Hi", start=1.0, end=2.0, stt_ttfb=0.3, vad_buffer_ms=600, decided=2.6)
    ledger.agent_message("Well…", at=5.5, sent_at=5.0)
    ledger.assistant_first_audio(0.2)
    ledger.interrupt_assistant_turn(5.6, heard_of_last_chunk="")
    (answer,) = assistant_turns(ledger)
    assert answer.end_reason is TurnEndReason.INTERRUPTED
    assert answer.latency is None


def test_only_the_first_answer_to_a_line_counts_from_it():
    ledger = ledger_at([0.0, 1.0, 1.2, 1.3, 1.9, 2.0])
    ledger.user_turn("Two questions.")
    ledger.agent_message("First answer.", responding_to="a")
    ledger.response_end("a")
    ledger.agent_message("And a second thought.", responding_to="b")
    ledger.response_end("b")
    first, second = assistant_turns(ledger)
    assert first.latency == 0.2
    assert second.latency is None


def test_a_csv_export_has_an_answers_latency_and_a_column_per_part():
    user, answer = csv.DictReader(io.StringIO(render(CALL, "csv")))
    assert user["latency"] == "" and user["latency_agent"] == ""
    assert answer["latency"] == "1.42"
    assert {part: float(answer[f"latency_{part}"]) for part in PARTS} == ANSWER_PARTS


ANSWER_PARTS = {"endpointing": 0.6, "stt": 0.3, "agent": 0.2, "tts": 0.15, "playout": 0.17}
CALL = {
    "id": "call_x",
    "transcript": [
        {"role": "user", "text": "Hi", "start_timestamp": 1.0, "end_timestamp": 2.0},
        {
            "role": "assistant",
            "text": "Hello.",
            "start_timestamp": 3.3,
            "end_timestamp": 4.0,
            "latency": 1.42,
            "latency_parts": ANSWER_PARTS,
        },
    ],
}


def test_a_readable_transcript_says_where_an_answers_wait_went():
    text = render(CALL | {"agent_name": "a", "status": "completed"}, "txt")
    assert (
        "    (latency 1.42 s: endpointing 0.60, stt 0.30, agent 0.20, tts 0.15, playout 0.17)"
        in text
    )
