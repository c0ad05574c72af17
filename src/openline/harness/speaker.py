"""The agent's voice: its messages through text-to-speech, paced out in real time.

Each message becomes a *segment* on the call's audio timeline. Audio is sent a little
ahead of when it plays (``LEAD_S``) so the caller never starves, and little enough that a
barge-in wastes almost nothing; the caller is told to ``clear`` what it buffered. What
was heard is settled as the clock passes: a segment that began playing is reported, and
so is its first voiced audio once played, a segment that finished playing is
acknowledged, the rest can still be taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from openline.voice.audio import AudioFormat, Resampler, encode_payload, voice_onset
from openline.voice.base import ProviderError, Samples, TextToSpeech

LEAD_S = 0.2  # audio sent ahead of the play head
CHUNK_S = 0.1  # media_output frame length
RECORD_RATE = 16_000


@dataclass
class Utterance:
    """One agent ``message``, waiting to be (or being) spoken."""

    text: str
    interruptible: bool
    responding_to: str | None
    arrived_at: float  # call time the agent sent it


@dataclass
class Segment:
    """Where an utterance's audio sits on the call timeline."""

    utterance: Utterance
    start: float
    end: float
    tts_ttfb: float  # from starting its synthesis to its first audio
    synthesis: _Synthesis
    complete: bool = False  # all of its audio has been sent
    started: bool = False  # reported as heard
    voiced_at: float | None = None  # where its first voiced audio plays, once sent
    voice_heard: bool = False  # and that has been reported
    recording: deque[tuple[float, Samples]] = field(default_factory=deque)


@dataclass(frozen=True)
class Interruption:
    was_speaking: bool  # audio had begun playing (the agent must hear it stopped)
    heard: Segment | None  # the segment playing when the caller cut in
    heard_text: str  # the part of its text the caller heard
    unspoken: list[Utterance]  # messages that never played


class SpeakerEvents(Protocol):
    """What the speaker reports, in timeline order."""

    async def audio_out(self, payload: str) -> None: ...
    def record(self, at: float, samples: Samples) -> None: ...
    async def segment_started(self, segment: Segment) -> None: ...
    def voice_heard(self, at: float) -> None: ...
    async def segment_finished(self, segment: Segment) -> None: ...
    async def fell_silent(self, at: float) -> None: ...
    async def synthesis_failed(self, utterance: Utterance, error: ProviderError) -> None: ...


class Speaker:
    def __init__(
        self,
        tts: TextToSpeech,
        output: AudioFormat,
        clock: Callable[[], float],
        events: SpeakerEvents,
        voice: str | None = None,
        language: str | None = None,
    ) -> None:
        self.tts = tts
        self.voice = voice
        self.language = language
        self._output = output
        self._clock = clock
        self._events = events
        self._queue: deque[Utterance] = deque()
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()  # set after each look at what the clock passed
        self._segments: deque[Segment] = deque()
        self._synthesizing: Utterance | None = None
        self._play_end = 0.0
        self._speaking = False
        self._task: asyncio.Task | None = None

    @property
    def busy(self) -> bool:
        """Something is queued, being synthesized, or still playing."""
        return bool(self._queue or self._segments or self._synthesizing) or (
            self._play_end > self._clock()
        )

    @property
    def interruptible(self) -> bool:
        playing = self._segments[0].utterance if self._segments else None
        return playing is None or playing.interruptible

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="speaker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def say(self, utterance: Utterance) -> None:
        self._queue.append(utterance)
        self._wake.set()

    async def drained(self) -> None:
        """Wait until everything queued has been spoken (an agent hanging up says its piece)."""
        # Not busy comes true only in _settle (the last segment played out) or stop().
        while self.busy:
            self._settled.clear()
            await self._settled.wait()

    # -- interruption ---------------------------------------------------------------

    async def interrupt(self) -> Interruption:
        """Stop at once, and be ready to speak again."""
        cut = await self.stop()
        self.start()
        return cut

    async def stop(self) -> Interruption:
        """Stop at once: drop queued and unplayed audio, report what was heard. The caller
        reports the silence itself (``fell_silent`` is not sent): it knows why it fell."""
        cut_short = self._synthesizing  # read first: cancelling the synthesis clears it
        await self.close()
        now = self._clock()
        await self._settle(now)
        heard, heard_text, unspoken = None, "", []
        if cut_short and not any(seg.utterance is cut_short for seg in self._segments):
            unspoken.append(cut_short)
        unspoken += self._queue
        for segment in self._segments:
            if segment.start >= now:
                unspoken.append(segment.utterance)
                continue
            heard = segment
            heard_text = _heard_part(segment, now)
            self._record_until(segment, now)
        self._queue.clear()
        self._segments.clear()
        self._synthesizing = None
        self._play_end = now
        was_speaking, self._speaking = self._speaking, False
        self._settled.set()
        return Interruption(was_speaking, heard, heard_text, unspoken)

    # -- the speaking loop ------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._queue:
                await self._speak(self._queue.popleft())
                continue
            self._wake.clear()
            await self._settle(self._clock())
            if not self._segments:
                await self._wake.wait()
                continue
            wait = max(self._next_event_at() - self._clock(), 0.005)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _speak(self, utterance: Utterance) -> None:
        self._synthesizing = utterance
        began = self._clock()
        synthesis = _Synthesis(
            self.tts.synthesize(utterance.text, self.voice, self.language),
            Resampler(self.tts.sample_rate, self._output.sample_rate),
            Resampler(self.tts.sample_rate, RECORD_RATE),
        )
        try:
            audio = await synthesis.next()
            if audio is not None:
                now = self._clock()
                start = max(now, self._play_end)
                segment = Segment(utterance, start, start, now - began, synthesis)
                self._segments.append(segment)
                while audio is not None:
                    await self._send(segment, *audio)
                    audio = await synthesis.next()
                segment.complete = True
            if synthesis.error is not None:
                await self._events.synthesis_failed(utterance, synthesis.error)
        finally:
            synthesis.cancel()
            self._synthesizing = None

    async def _send(self, segment: Segment, frame: Samples, recorded: Samples) -> None:
        at = segment.end
        await self._wait_for_play_head(at - LEAD_S)
        await self._events.audio_out(encode_payload(frame, self._output))
        if segment.voiced_at is None:
            onset = voice_onset(frame, self._output.sample_rate)
            if onset is not None:
                segment.voiced_at = at + onset / self._output.sample_rate
        segment.recording.append((at, recorded))
        segment.end = self._play_end = at + len(frame) / self._output.sample_rate

    async def _wait_for_play_head(self, until: float) -> None:
        while True:
            now = self._clock()
            await self._settle(now)
            if now >= until:
                return
            await asyncio.sleep(min(until - now, CHUNK_S))

    # -- what the clock has passed --------------------------------------------------------

    async def _settle(self, now: float) -> None:
        for segment in list(self._segments):
            if segment.start > now:
                break
            if not segment.started:
                segment.started = self._speaking = True
                await self._events.segment_started(segment)
            voiced_at = segment.voiced_at
            if voiced_at is not None and voiced_at <= now and not segment.voice_heard:
                segment.voice_heard = True
                self._events.voice_heard(voiced_at)
            self._record_until(segment, now)
            if segment.complete and segment.end <= now:
                self._segments.popleft()
                await self._events.segment_finished(segment)
        if self._speaking and not self._segments and not self._queue and self._play_end <= now:
            self._speaking = False
            await self._events.fell_silent(self._play_end)
        self._settled.set()

    def _record_until(self, segment: Segment, now: float) -> None:
        """Hand the recorder the audio whose time has come (only heard audio is kept)."""
        while segment.recording:
            at, samples = segment.recording[0]
            if at >= now:
                return
            heard = min(len(samples), math.ceil((now - at) * RECORD_RATE))
            self._events.record(at, samples[:heard])
            if heard == len(samples):
                segment.recording.popleft()
            else:
                segment.recording[0] = (at + heard / RECORD_RATE, samples[heard:])

    def _next_event_at(self) -> float:
        segment = self._segments[0]
        if not segment.started:
            return segment.start
        if segment.voiced_at is not None and not segment.voice_heard:
            return segment.voiced_at
        return max(segment.end, self._clock() + 0.02)


def _heard_part(segment: Segment, now: float) -> str:
    """The words of a segment heard by ``now``, in proportion to its audio played."""
    if segment.end <= now and segment.complete:
        return segment.utterance.text
    words = segment.utterance.text.split(" ")
    length = max(segment.end - segment.start, segment.synthesis.duration, 1e-6)
    played = (now - segment.start) / length
    heard = math.floor(len(words) * min(played, 1.0))
    return " ".join(words[:heard])


class _Synthesis:
    """Reads a synthesis stream ahead of playback (TTS runs faster than real time), so
    the length of a message's audio is known before it has all played, and cuts it into
    ``CHUNK_S`` frames whatever sizes the provider delivers."""

    def __init__(self, stream: AsyncGenerator[Samples], to_output: Resampler, to_record: Resampler):
        self.duration = 0.0  # seconds of audio synthesized so far
        self.error: ProviderError | None = None
        self._to_output = to_output
        self._to_record = to_record
        self._frames: deque[tuple[Samples, Samples]] = deque()
        self._out = _FrameCutter(int(CHUNK_S * to_output.to_rate))
        self._recorded = np.zeros(0, np.int16)  # recording audio not yet given to a frame
        self._done = False
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._fill(stream))

    async def next(self) -> tuple[Samples, Samples] | None:
        """The next (output, recording) frame, or None at the end."""
        while not self._frames and not self._done:
            self._arrived.clear()
            await self._arrived.wait()
        return self._frames.popleft() if self._frames else None

    def cancel(self) -> None:
        self._task.cancel()

    async def _fill(self, stream: AsyncGenerator[Samples]) -> None:
        try:
            async with contextlib.aclosing(stream):  # a cut-off synthesis stops at once
                async for chunk in stream:
                    self._push(self._to_output.process(chunk), self._to_record.process(chunk))
            self._push(self._to_output.flush(), self._to_record.flush(), last=True)
        except ProviderError as error:
            self.error = error
        finally:
            self._done = True
            self._arrived.set()

    def _push(self, out: Samples, recorded: Samples, last: bool = False) -> None:
        self._recorded = np.concatenate([self._recorded, recorded])
        frames = self._out.cut(out, last)
        for frame in frames:
            share = round(len(frame) * RECORD_RATE / self._to_output.to_rate)
            self._frames.append((frame, self._recorded[:share]))
            self._recorded = self._recorded[share:]
            self.duration += len(frame) / self._to_output.to_rate
        if last and frames:  # the two resamplers' delays differ by a few samples
            frame, recorded = self._frames[-1]
            self._frames[-1] = (frame, np.concatenate([recorded, self._recorded]))
        if frames:
            self._arrived.set()


class _FrameCutter:
    """Joins audio of any chunk sizes and cuts it into frames of ``size`` samples."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pending = np.zeros(0, np.int16)

    def cut(self, samples: Samples, last: bool = False) -> list[Samples]:
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(pending) // self._size * self._size
        frames = [pending[i : i + self._size] for i in range(0, whole, self._size)]
        self._pending = pending[whole:]
        if last and len(self._pending):
            frames.append(self._pending)
            self._pending = np.zeros(0, np.int16)
        return frames
