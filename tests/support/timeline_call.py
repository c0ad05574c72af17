"""A finished voice call seeded straight into a platform's store, as the Timeline shows
it: a turn every ``every`` seconds (caller and agent in turn, each answer 0.8 s after
the caller stops, with its latency split), a tool call before every other answer, an
event and a metric per answer, a log line per turn, a webhook delivery a minute, and
the stereo recording (a tone on the side that speaks) written by the real recorder.
The console tests and ``bench/timeline.py`` use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from openline import ids
from openline.domain.calls import LogEvent, LogMetric, LogRecord, Role, ToolCall, Turn
from openline.domain.time import utcnow
from openline.harness.recorder import CallRecorder
from openline.store.blobs import recording_key
from tests.support.recordings import tone
from tests.support.seeded_calls import create_finished_call, insert_facts

LATENCY_PARTS = {"endpointing": 0.3, "stt": 0.1, "agent": 0.25, "tts": 0.1, "playout": 0.05}
LATENCY = 0.8
CALLER_LEVEL, AGENT_LEVEL = 12000, 6000


@dataclass
class SeededCall:
    call_id: str
    start_time: datetime
    duration: float
    facts: list = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)


def seed_call(
    platform, seconds: float, every: float = 5.0, recorded: bool = True, agent_name: str = "Seeded"
) -> SeededCall:
    agent = platform.agents.create(name=agent_name, self_hosted_deployment_url="http://x")
    start = utcnow() - timedelta(seconds=seconds + 60)
    seeded = SeededCall(ids.new_id(ids.CALL), start, seconds)
    call_id = seeded.call_id
    seeded.deliveries = [
        {
            "id": ids.new_id(ids.DELIVERY),
            "webhook_id": "agent_webhook_seeded",
            "call_id": call_id,
            "agent_id": agent["id"],
            "event_type": "call_started" if n == 0 else "call_turn",
            "position": n,
            "payload": {},
            "status": "delivered",
            "attempts": 1,
            "created_at": start + timedelta(seconds=at),
            "delivered_at": start + timedelta(seconds=at + 0.05),
            "last_status_code": 200,
        }
        for n, at in enumerate(_every(0.2, seconds, 60.0))
    ]
    create_finished_call(platform, agent, call_id, start, seconds, seeded.deliveries)
    seq = iter(range(1, 10**9))
    facts = seeded.facts
    speaking = every - LATENCY
    for n, at in enumerate(_every(0.0, seconds - every, every)):
        user = n % 2 == 0
        turn = Turn(
            call_id,
            next(seq),
            0,
            at,
            Role.USER if user else Role.ASSISTANT,
            f"Where is order A{n:04d}?" if user else f"Order A{n - 1:04d} has shipped.",
            end_timestamp=round(at + speaking, 3),
        )
        if not user:
            turn.latency, turn.latency_parts = LATENCY, dict(LATENCY_PARTS)
            turn.text_chunks = [{"text": turn.text, "start_timestamp": at}]
            facts.append(
                LogEvent(call_id, next(seq), 0, round(at + 0.2, 3), "answered", level="info")
            )
            facts.append(LogMetric(call_id, next(seq), 0, round(at + speaking, 3), "words", 4))
        facts.append(turn)
        if not user and n % 4 == 1:
            facts.append(
                ToolCall(
                    call_id,
                    next(seq),
                    0,
                    round(at - 0.5, 3),
                    name="lookup_order",
                    arguments={"order_id": f"A{n - 1:04d}"},
                    turn_seq=turn.seq,
                    result="shipped",
                    result_timestamp=round(at - 0.3, 3),
                )
            )
        facts.append(
            LogRecord(call_id, next(seq), 0, round(at + 0.05, 3), "info", f"turn {n}", "agent")
        )
    insert_facts(platform, facts)
    if recorded:
        _record(platform.blobs, seeded)
    return seeded


def _every(first: float, last: float, step: float) -> list[float]:
    return [round(first + n * step, 3) for n in range(int((last - first) // step) + 1)]


def _record(blobs, seeded: SeededCall) -> None:
    key = recording_key(seeded.call_id)
    with blobs.open_for_writing(key) as file:
        recorder = CallRecorder(file)
        for turn in seeded.facts:
            if type(turn) is Turn:
                user = turn.role is Role.USER
                length = turn.end_timestamp - turn.timestamp
                channel = "caller" if user else "agent"
                recorder.add(
                    channel,
                    turn.timestamp,
                    tone(length, 440 if user else 660, CALLER_LEVEL if user else AGENT_LEVEL),
                )
                recorder.flush(turn.timestamp)
        recorder.close(seeded.duration)
    blobs.commit(key)
