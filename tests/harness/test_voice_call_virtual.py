"""A voice call on a virtual clock with fake STT, TTS and turn detection: what the agent
and the caller are told, and the turns recorded, when the caller answers, cuts in, goes
quiet, types, or the call ends mid-sentence. Real-time end-to-end voice calls with real
providers stay in tests/voice_calls."""

from __future__ import annotations

import asyncio
import json
import wave
from collections import deque
from typing import Any

import numpy as np
import pytest

from openline.domain.calls import Role, Signal, Turn
from openline.harness.ledger import CallLedger
from openline.harness.speaker import LEAD_S
from openline.harness.voice_call import VoiceCall, VoiceSetup
from openline.protocol import agent as wire
from openline.voice.audio import audio_format, encode_payload
from tests.support.fake_voice import FakeDetector, FakeSTT, FakeTTS, duration, talking
from tests.support.virtual_time import run_virtual
from tests.support.waiting import eventually

FRAME_S = 0.02
LONG = " ".join(f"word{i}" for i in range(40))  # 4 s of fake speech
FORMAT = audio_format("pcm_16000")


def approx(expected: float):
    """A time on the virtual clock (each pass of the loop takes it a microsecond further)."""
    return pytest.approx(expected, abs=1e-3)


def now() -> float:
    return asyncio.get_running_loop().time()


class Facts:
    def __init__(self) -> None:
        self.all: list = []

    def add(self, fact) -> None:
        self.all.append(fact)

    def change(self, fact) -> None:
        pass


class Line:
    """The session's side of the call: what the agent and the caller are sent, and when."""

    def __init__(self) -> None:
        self.to_agent: list[tuple[float, dict[str, Any]]] = []
        self.to_client: list[tuple[float, dict[str, Any]]] = []
        self.errors: list[tuple[str, dict]] = []
        self.rejected: list[str] = []

    async def send_agent(self, message: wire.Outbound) -> None:
        self.to_agent.append((now(), json.loads(wire.emit(message))))

    async def send_client(self, event: dict[str, Any]) -> None:
        self.to_client.append((now(), event))

    async def client_error(self, message: str, **extra: Any) -> None:
        self.errors.append((message, extra))

    async def reject_agent_message(self, problem: str, frame: str) -> None:
        self.rejected.append(problem)

    def touch(self) -> None:
        pass

    def agent_saw(self) -> list[tuple]:
        """What the agent was told, as (type, value or content)."""
        return [(m["type"], m.get("value", m.get("content"))) for _, m in self.to_agent]

    def client_times(self, kind: str) -> list[float]:
        return [at for at, event in self.to_client if event["event"] == kind]

    def audio_sent_before(self, until: float) -> float:
        """Seconds of agent audio the caller was sent before ``until``."""
        payloads = [
            e["media"]["payload"]
            for at, e in self.to_client
            if e["event"] == "media_output" and at < until
        ]
        return sum(len(p) * 3 / 4 for p in payloads) / 2 / FORMAT.sample_rate


class Microphone:
    """The caller's side: 20 ms frames as time passes, silence when nobody talks (unless
    ``streaming`` is off: then only speech, like push-to-talk). ``stall`` holds the frames
    back for a while, then sends them all at once (a server that read its socket late)."""

    def __init__(self, call: VoiceCall) -> None:
        self._call = call
        self._to_send: deque[np.ndarray] = deque()
        self.streaming = True
        self._held: list[np.ndarray] = []
        self._held_until = 0.0
        self._task = asyncio.create_task(self._run())

    def stall(self, seconds: float) -> None:
        self._held_until = now() + seconds

    def say(self, samples: np.ndarray) -> None:
        self._to_send.append(samples)

    async def _run(self) -> None:
        frame = round(FRAME_S * FORMAT.sample_rate)
        pending = np.zeros(0, np.int16)
        while True:
            if len(pending) < frame and self._to_send:
                pending = np.concatenate([pending, self._to_send.popleft()])
            if len(pending) or self.streaming:
                chunk = np.pad(pending[:frame], (0, max(0, frame - len(pending))))
                pending = pending[frame:]
                self._held.append(chunk)
                if now() >= self._held_until:
                    for held in self._held:
                        await self._call.media({"media": {"payload": encode_payload(held, FORMAT)}})
                    self._held = []
            await asyncio.sleep(FRAME_S)

    def stop(self) -> None:
        self._task.cancel()


class Call:
    def __init__(self, stt: FakeSTT, tts: FakeTTS, recording=None) -> None:
        self.facts = Facts()
        self.ledger = CallLedger("call_v", self.facts, payload_cap=10_000, clock=now)
        self.line = Line()
        setup = VoiceSetup(FORMAT, stt, tts, FakeDetector(end_of_turn_ms=300))
        self.held: list[tuple[float, float]] = []  # when the process "could not run"
        self.voice = VoiceCall(setup, self.ledger, self.line, "s1", recording, self.held_up)

    def held_up(self, within_s: float) -> float:
        """loop_lag.held_up for this call: the stalls a test says the process had."""
        until = now()
        since = until - within_s
        return sum(max(0.0, min(end, until) - max(start, since)) for start, end in self.held)

    async def start(self) -> None:
        await self.voice.start()
        self.mic = Microphone(self.voice)

    async def say(self, text: str, interruptible: bool = True, responding_to: str | None = None):
        """The agent sends a whole answer."""
        await self.voice.agent_message(text, interruptible, responding_to)
        await self.voice.response_end(responding_to, None)

    def turns(self) -> list[Turn]:
        return [fact for fact in self.facts.all if isinstance(fact, Turn)]

    def user_turns(self) -> list[Turn]:
        return [turn for turn in self.turns() if turn.role is Role.USER]

    def signals(self, kind: str) -> list[Signal]:
        return [f for f in self.facts.all if isinstance(f, Signal) and f.type == kind]

    async def end(self) -> float | None:
        self.mic.stop()
        return await self.voice.close(self.ledger.now())


def run_call(script, stt: FakeSTT | None = None, tts: FakeTTS | None = None, recording=None):
    """Run ``script(call)`` on a virtual clock; returns the call once it has ended."""

    async def main() -> Call:
        call = Call(stt or FakeSTT(), tts or FakeTTS(), recording)
        await call.start()
        await script(call)
        await call.end()
        return call

    return run_virtual(main)


def test_a_spoken_answer_is_a_user_turn_on_the_audio_timeline_and_the_agent_is_told():
    async def script(call: Call) -> None:
        await call.say("hello there caller")
        await asyncio.sleep(1.0)
        call.mic.say(talking(1.2))
        await eventually(call.user_turns)
        await call.say("you said something", responding_to="u1")
        await asyncio.sleep(1.0)

    call = run_call(script, FakeSTT("can you hear me"))
    greeting, user, reply = call.turns()
    assert (greeting.text, greeting.end_reason) == ("hello there caller", "tts_completed")
    assert (greeting.timestamp, greeting.end_timestamp) == (0.0, approx(0.3))
    assert user.text == "can you hear me"
    assert user.timestamp == pytest.approx(1.0, abs=FRAME_S)
    assert user.end_timestamp - user.timestamp == pytest.approx(1.2, abs=FRAME_S)
    assert user.vad_buffer_ms == 300
    assert reply.text == "you said something" and reply.end_reason == "tts_completed"
    assert reply.timestamp >= user.end_timestamp + 0.3  # answered after the turn ended
    assert reply.end_timestamp - reply.timestamp == approx(duration(reply.text))
    assert reply.tts_ttfb == 0.0
    assert call.line.agent_saw() == [
        ("agent_state", "speaking"),
        ("agent_speech", "hello there caller"),
        ("agent_state", "idle"),
        ("user_state", "speaking"),
        ("message", "can you hear me"),
        ("user_state", "idle"),
        ("agent_state", "speaking"),
        ("agent_speech", "you said something"),
        ("agent_state", "idle"),
    ]
    texts = [e["text"] for _, e in call.line.to_client if e["event"] == "agent_text"]
    assert texts == ["hello there caller", "you said something"]
    assert call.line.client_times("clear") == []


def test_a_caller_cutting_in_clears_playback_and_the_turn_keeps_what_was_heard():
    async def script(call: Call) -> None:
        await call.say(LONG)
        await asyncio.sleep(2.0)
        call.mic.say(talking(0.8))
        await eventually(call.user_turns)
        await call.say("you said stop")
        await asyncio.sleep(1.0)

    call = run_call(script, FakeSTT("stop talking please"))
    greeting, user, reply = call.turns()
    (cut_at,) = call.line.client_times("clear")
    assert cut_at == pytest.approx(2.0, abs=2 * FRAME_S)
    assert greeting.end_reason == "interrupted"
    heard = greeting.text.split()
    assert LONG.startswith(greeting.text) and 19 <= len(heard) <= 21  # half of it played
    assert greeting.generated_text == LONG  # what the agent said is not lost
    assert greeting.end_timestamp == pytest.approx(cut_at, abs=0.01)
    assert greeting.end_timestamp <= user.timestamp + 0.1
    assert user.text == "stop talking please"
    assert reply.end_reason == "tts_completed" and reply.generated_text is None
    # the caller was sent little more than what played before the cut
    assert call.line.audio_sent_before(cut_at) <= cut_at + LEAD_S + 0.1
    assert call.line.audio_sent_before(99) > cut_at + LEAD_S  # the reply is spoken
    # the agent learns the caller speaks, then what of it was heard, then that it stopped
    told = call.line.agent_saw()
    assert told[1:4] == [
        ("user_state", "speaking"),
        ("agent_speech", greeting.text),
        ("agent_state", "idle"),
    ]


def test_a_message_that_may_not_be_cut_plays_on_while_the_caller_speaks():
    async def script(call: Call) -> None:
        await call.say("please hold while I finish this sentence", interruptible=False)
        await asyncio.sleep(0.2)
        call.mic.say(talking(0.3))
        await eventually(call.user_turns)
        await asyncio.sleep(0.5)

    call = run_call(script, FakeSTT("hello"))
    greeting, _user = call.turns()
    assert greeting.end_reason == "tts_completed" and greeting.generated_text is None
    assert greeting.end_timestamp == approx(duration(greeting.text))
    assert call.line.client_times("clear") == []


def test_hanging_up_mid_sentence_keeps_only_what_was_heard():
    async def script(call: Call) -> None:
        await call.voice.agent_message(LONG, True, None)
        await asyncio.sleep(1.55)

    call = run_call(script)
    (greeting,) = call.turns()
    assert greeting.end_reason == "call_ended"
    assert greeting.text == " ".join(LONG.split()[:15])
    assert greeting.generated_text == LONG
    assert greeting.end_timestamp == approx(1.55)


def test_messages_the_call_ended_before_are_noted_as_unspoken():
    async def script(call: Call) -> None:
        await call.voice.agent_message(LONG, True, None)
        await call.voice.agent_message("and one more thing", True, None)
        await asyncio.sleep(0.5)

    call = run_call(script)
    (unspoken,) = call.signals("unspoken")
    assert unspoken.data == {"texts": ["and one more thing"], "reason": "call ended"}
    (greeting,) = call.turns()
    assert greeting.generated_text == LONG + "and one more thing"


def test_a_caller_who_stops_streaming_mid_turn_is_heard_as_silent():
    async def script(call: Call) -> None:
        call.mic.streaming = False  # from now on: the words, and no silence after them
        await asyncio.sleep(0.5)
        call.mic.say(talking(1.61))  # its last frame ends in (padded) quiet
        await eventually(call.user_turns, within=5)

    call = run_call(script, FakeSTT("are you there"))
    (user,) = call.user_turns()
    assert user.text == "are you there"
    assert user.end_timestamp - user.timestamp == pytest.approx(1.61, abs=FRAME_S)


def test_a_typed_line_cuts_the_agent_off_and_keeps_the_message_it_was_shown():
    async def script(call: Call) -> None:
        await call.say(LONG)
        await asyncio.sleep(1.0)
        await call.voice.user_text("stop")
        await asyncio.sleep(0.1)

    call = run_call(script)
    greeting, user = call.turns()
    assert greeting.end_reason == "interrupted"
    assert greeting.text == LONG  # a typing caller was shown the whole message
    assert (user.text, user.timestamp) == ("stop", approx(1.0))
    assert call.line.client_times("clear") == [approx(1.0)]
    assert ("message", "stop") in call.line.agent_saw()


def test_speech_nobody_could_recognise_is_noted_and_makes_no_turn():
    async def script(call: Call) -> None:
        call.mic.say(talking(0.5))
        await eventually(lambda: call.signals("no_speech_recognised"))

    call = run_call(script, FakeSTT(""))
    assert call.user_turns() == []
    (signal,) = call.signals("no_speech_recognised")
    assert signal.data["end"] - signal.data["start"] == pytest.approx(0.5, abs=FRAME_S)


def test_an_agent_hanging_up_still_says_what_it_queued():
    async def main() -> tuple[float, Call]:
        call = Call(FakeSTT(), FakeTTS())
        await call.start()
        await call.say("goodbye and thanks for calling")
        await call.voice.hang_up()
        done_at = now()
        await call.end()
        return done_at, call

    done_at, call = run_virtual(main)
    assert done_at == pytest.approx(duration("goodbye and thanks for calling"), abs=0.06)
    (goodbye,) = call.turns()
    assert goodbye.end_reason == "tts_completed"


def test_a_failed_synthesis_is_an_error_for_the_caller_and_the_call_goes_on():
    async def script(call: Call) -> None:
        await call.say("this one is broken")
        await asyncio.sleep(0.5)
        await call.say("this one works")
        await asyncio.sleep(0.5)

    call = run_call(script, tts=FakeTTS(fail_on="broken", fail_after=1))
    assert call.line.errors == [
        ("text-to-speech: fake synthesis failed", {"code": "voice_pipeline"})
    ]
    assert [turn.text for turn in call.turns()] == ["this one is broken", "this one works"]


def test_bad_caller_audio_is_refused_and_the_call_goes_on():
    async def script(call: Call) -> None:
        await call.voice.media({"media": {}})
        await call.voice.media({"media": {"payload": "not base64!"}})

    call = run_call(script)
    assert call.line.errors[0] == ("media_input needs media.payload (base64 audio)", {})
    assert call.line.errors[1][1] == {"code": "invalid_audio"}


def test_the_recording_holds_both_voices_where_they_were_on_the_timeline(tmp_path):
    path = tmp_path / "call.wav"

    async def script(call: Call) -> None:
        await call.say("hello there caller")  # 0.0 to 0.3
        await asyncio.sleep(1.0)
        call.mic.say(talking(1.0))  # 1.0 to 2.0
        await asyncio.sleep(1.5)

    call = run_call(script, FakeSTT("hi"), recording=path.open("w+b"))
    assert call.user_turns()
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16_000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    caller, agent = frames[0::2], frames[1::2]
    assert len(caller) / 16_000 == pytest.approx(2.5, abs=0.05)

    def loud(channel: np.ndarray, start: float, end: float) -> bool:
        return bool(np.all(channel[int(start * 16_000) : int(end * 16_000)] > 0))

    def silent(channel: np.ndarray, start: float, end: float) -> bool:
        return bool(np.all(channel[int(start * 16_000) : int(end * 16_000)] == 0))

    assert loud(agent, 0.0, 0.3) and silent(caller, 0.0, 0.95)
    assert silent(agent, 0.3, 2.5)
    assert loud(caller, 1.05, 1.95)


def test_an_answers_latency_is_split_where_the_time_went_and_is_the_silence_recorded(
    tmp_path,
):
    """Known delays on every leg: the detector waits 0.3 s, the agent thinks 0.4 s, text-to-
    speech takes 0.15 s and opens with 0.2 s of silence (recognition here is instant)."""
    path = tmp_path / "call.wav"
    answered_at = []

    async def script(call: Call) -> None:
        await asyncio.sleep(0.5)
        call.mic.say(talking(1.0))  # 0.5 to 1.5
        await eventually(call.user_turns)
        await asyncio.sleep(0.4)
        answered_at.append(now())
        await call.say("the answer", responding_to="u1")
        await asyncio.sleep(1.5)

    tts = FakeTTS(first_audio_s=0.15, leading_silence_s=0.2)
    call = run_call(script, FakeSTT("hi"), tts, recording=path.open("w+b"))
    _, reply = call.turns()
    (told_at,) = [at for at, message in call.line.to_agent if message["type"] == "message"]
    parts = reply.latency_parts
    assert answered_at[0] - told_at == pytest.approx(0.4, abs=FRAME_S)  # the test's polling
    assert parts == {
        "endpointing": pytest.approx(0.3, abs=FRAME_S),
        "stt": approx(0.0),
        "agent": approx(answered_at[0] - told_at),
        "tts": approx(0.15),
        "playout": approx(0.2),
    }
    assert reply.latency == pytest.approx(sum(parts.values()), abs=0.003)

    with wave.open(str(path)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    caller, agent = frames[0::2], frames[1::2]
    caller_stopped = np.flatnonzero(caller)[-1] + 1
    agent_began = np.flatnonzero(agent)[0]
    assert reply.latency == pytest.approx((agent_began - caller_stopped) / 16_000, abs=0.005)


def test_caller_audio_read_late_in_a_burst_stays_where_it_was_said(tmp_path):
    """A stalled read (here 0.25 s, mid-sentence) delays the audio, not the words."""
    path = tmp_path / "call.wav"

    async def script(call: Call) -> None:
        await asyncio.sleep(0.5)
        call.mic.say(talking(1.0))  # 0.5 to 1.5
        await asyncio.sleep(0.3)
        call.mic.stall(0.25)
        await eventually(call.user_turns)
        await asyncio.sleep(0.5)

    call = run_call(script, FakeSTT("hi"), recording=path.open("w+b"))
    (user,) = call.user_turns()
    assert (user.timestamp, user.end_timestamp) == (
        pytest.approx(0.5, abs=FRAME_S),
        pytest.approx(1.5, abs=FRAME_S),
    )
    with wave.open(str(path)) as wav:
        caller = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)[0::2]
    loud = np.flatnonzero(caller) / 16_000
    assert (loud[0], loud[-1]) == (
        pytest.approx(0.5, abs=FRAME_S),
        pytest.approx(1.5, abs=FRAME_S),
    )


def test_audio_read_late_because_the_process_was_held_up_stays_where_it_was_said():
    """A 0.6 s stall of the process itself (longer than audio may be late and still
    follow on): what waited in the socket was said on time, so it follows on."""

    async def script(call: Call) -> None:
        await asyncio.sleep(0.5)
        call.mic.say(talking(1.0))  # 0.5 to 1.5
        await asyncio.sleep(0.3)
        call.held.append((now(), now() + 0.6))
        call.mic.stall(0.6)
        await eventually(call.user_turns)
        await asyncio.sleep(0.5)

    (user,) = run_call(script, FakeSTT("hi")).user_turns()
    assert (user.timestamp, user.end_timestamp) == (
        pytest.approx(0.5, abs=FRAME_S),
        pytest.approx(1.5, abs=FRAME_S),
    )


def test_audio_late_while_the_process_ran_follows_a_gap():
    """The same 0.6 s, the process running all along: the caller's stream paused, so
    the gap is silence the turn ends on, and what came after it is another turn."""

    async def script(call: Call) -> None:
        await asyncio.sleep(0.5)
        call.mic.say(talking(1.0))  # 0.5 to 1.5
        await asyncio.sleep(0.3)
        call.mic.stall(0.6)
        await eventually(lambda: len(call.user_turns()) == 2)

    first, second = run_call(script, FakeSTT("hi", "there")).user_turns()
    assert first.end_timestamp == pytest.approx(0.8, abs=2 * FRAME_S)
    assert second.timestamp >= first.end_timestamp + 0.3  # after the silence it ended on


def test_silence_sent_faster_than_real_time_is_left_off_the_timeline():
    """A caller sending ahead of the clock: its speech keeps its length, its silence is
    dropped until the timeline is back with the clock."""

    async def script(call: Call) -> None:
        call.mic.streaming = False
        await asyncio.sleep(0.5)
        ahead = np.concatenate([np.zeros(16_000, np.int16), talking(0.6)])
        for frame in np.split(ahead, len(ahead) // 320):  # 20 ms frames, all at once
            await call.voice.media({"media": {"payload": encode_payload(frame, FORMAT)}})
        await eventually(call.user_turns, within=5)

    call = run_call(script, FakeSTT("hi"))
    (user,) = call.user_turns()
    assert user.end_timestamp - user.timestamp == pytest.approx(0.6, abs=FRAME_S)
    assert user.timestamp < 0.5 + 0.1  # not a second on, where the silence would put it
