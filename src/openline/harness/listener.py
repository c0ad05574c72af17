"""The caller's voice: audio in, turn edges out, each utterance transcribed.

Caller audio is placed on the call's timeline where it arrives, or right after the
previous chunk when it is only a little late (a stream read late, in a burst, is still
one stream), never overlapping it; it is resampled once to 16 kHz for turn detection,
recognition and the recording. Audio that runs ahead of the clock (a burst, a caller
sending faster than real time) loses its silence until the two agree.
An utterance ends where the caller's voice was last ``VOICED_DBFS`` loud before the
detector's end (a voice detector hears a voiced frame's quiet tail, and hangs on, as
speech), or at the detector's end when the caller never spoke that loud. Recognition
runs in a worker thread per utterance, fed while the caller is still speaking, so the
transcript is ready soon after the turn ends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from openline.harness import loop_lag
from openline.voice.audio import AudioFormat, Resampler, voiced_windows
from openline.voice.base import (
    ProviderError,
    Samples,
    SpeechToText,
    Transcription,
    TurnDetector,
)

T = TypeVar("T")

RATE = 16_000
PRE_ROLL_S = 0.5  # audio kept before a detected start, so the first syllable is not lost
FEED_EVERY_S = 0.25  # recognition is fed in batches this long (a thread hop each)
MAX_TURN_S = 60.0  # by default, a longer stretch of speech is cut into turns this long
# A stream's audio read this late (a network hiccup), or later while this process was held
# up (loop_lag), follows on from what came before it; audio later than that follows a gap
# (the caller stopped streaming).
LATE_S = 0.3
# Audio read in a burst runs ahead of the clock; beyond this, its silence is left off the
# timeline so the two agree again.
MAX_AHEAD_S = 0.04  # two 20 ms frames
LOUD_KEPT = 2048  # voiced windows remembered: more than the longest end-of-turn silence


@dataclass(frozen=True)
class Speech:
    """A finished caller utterance, transcribed."""

    text: str
    start: float  # call time the caller started speaking
    end: float  # call time the caller stopped
    decided: float  # call time the turn was called over (``end`` and the silence after)
    stt_ttfb: float  # from the end of the turn to its transcript
    vad_buffer_ms: float  # silence waited for before calling the turn over


@dataclass(frozen=True)
class ListenerEvents:
    """Callbacks the listener drives (the voice call provides them)."""

    record: Callable[[float, Samples], None]
    speech_started: Callable[[float], Awaitable[None]]
    heard: Callable[[Speech], Awaitable[None]]
    failed: Callable[[str], Awaitable[None]]


class Listener:
    def __init__(
        self,
        fmt: AudioFormat,
        detector: TurnDetector,
        stt: SpeechToText,
        clock: Callable[[], float],
        events: ListenerEvents,
        language: str | None = None,
        max_turn_s: float = MAX_TURN_S,
        held_up: Callable[[float], float] = loop_lag.held_up,
    ) -> None:
        self.language = language
        self._held_up = held_up  # seconds of the last N this process could not read
        self._max_turn_s = max_turn_s
        self._stt = stt
        self._detector = detector
        self._clock = clock
        self._events = events
        self._to_16k = Resampler(fmt.sample_rate, RATE)
        self._cursor = 0.0  # call time where the next caller sample goes
        self._fed = 0  # 16 kHz samples seen so far
        self._anchors: deque[tuple[int, float]] = deque(maxlen=512)  # (sample, call time)
        self._voiced_ends: deque[int] = deque(maxlen=LOUD_KEPT)  # where voiced windows end
        self._recent: deque[Samples] = deque()  # the last PRE_ROLL_S, for a starting turn
        self._recent_len = 0
        self._utterance: _Recognition | None = None
        self._workers: set[asyncio.Task] = set()
        self._taking = asyncio.Lock()  # streamed audio and filled-in silence, one at a time
        self._filler: asyncio.Task | None = None

    @property
    def speaking(self) -> bool:
        return self._utterance is not None

    def start(self) -> None:
        self._filler = asyncio.create_task(self._fill_silence(), name="listener-silence")

    async def hear(self, samples: Samples) -> None:
        audio = self._to_16k.process(samples)
        if len(audio):
            async with self._taking:
                await self._take(audio)

    async def _fill_silence(self) -> None:
        """A caller who stops streaming mid-utterance (push-to-talk, a paused capture) has
        fallen silent: once a turn's worth of silence is missing (and more than a stream
        read late lags), the gap is heard as silence, so the turn ends as if it had been
        streamed."""
        gap = max(self._detector.end_of_turn_ms / 1000, LATE_S)
        while True:
            await asyncio.sleep(gap / 2)
            missing = self._clock() - self._cursor
            if self._utterance is not None and missing - self._held_up(missing) >= gap:
                async with self._taking:
                    await self._take(np.zeros(int(missing * RATE), np.int16), fills_gap=True)

    async def _take(self, audio: Samples, fills_gap: bool = False) -> None:
        now = self._clock()
        loud, window = voiced_windows(audio, RATE)
        late = now - self._cursor
        # late because this process was held up: it waited in the socket, said on time
        on_time = late <= LATE_S or late - self._held_up(late) <= LATE_S
        at = self._cursor if fills_gap or on_time else now
        if len(loud) or self._cursor - now <= MAX_AHEAD_S:
            self._cursor = at + len(audio) / RATE
            self._events.record(at, audio)
        # else: silence read in a burst, late: left off the timeline, which so catches up
        self._anchors.append((self._fed, at))
        self._voiced_ends.extend((self._fed + window * (loud + 1)).tolist())
        self._fed += len(audio)
        self._remember(audio)
        began = False
        for edge in self._detector.feed(audio):
            if edge.kind == "start" and self._utterance is None:
                began = await self._begin(edge.sample)
            elif edge.kind == "end" and self._utterance is not None:
                self._end(edge.sample)
        if self._utterance is not None and not began:  # a new one got this chunk as pre-roll
            self._utterance.add(audio)
        if self._utterance is not None and self._cursor - self._utterance.start > self._max_turn_s:
            # someone talking on and on (or a noise the detector takes for speech): the
            # turn so far goes to the agent, and what follows is a turn of its own
            self._end(self._fed)
            await self._begin(self._fed)

    def check_language(self, language: str) -> None:
        """Raise ProviderError when the recogniser cannot take ``language`` (blocking)."""
        self._stt.open(language).finish()

    async def close(self) -> None:
        """The call is over: an utterance still open is transcribed as it stands."""
        if self._filler is not None:
            self._filler.cancel()
        if self._utterance is not None:
            self._end(self._fed)
        if self._workers:
            await asyncio.wait(self._workers, timeout=10)
        for worker in self._workers:
            worker.cancel()

    # -- turns ----------------------------------------------------------------------

    async def _begin(self, sample: int) -> bool:
        try:
            transcription = await self._off_loop(self._stt.open, self.language)
        except ProviderError as error:
            await self._events.failed(f"speech-to-text: {error}")
            return False
        recognition = _Recognition(transcription, sample, self._time_of(sample))
        recognition.add(self._pre_roll(sample))
        self._utterance = recognition
        worker = asyncio.create_task(self._recognise(recognition))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        await self._events.speech_started(recognition.start)
        return True

    def _end(self, sample: int) -> None:
        recognition, self._utterance = self._utterance, None
        assert recognition is not None  # only an open utterance ends
        # the end of the sample before: where an end falls between chunks, it is the
        # earlier chunk's (the next one may have come after a gap)
        voice_ended = self._time_of(self._voice_end(recognition.first_sample, sample) - 1)
        recognition.finish(voice_ended + 1 / RATE, self._clock(), self._detector.end_of_turn_ms)

    async def _recognise(self, recognition: _Recognition) -> None:
        try:
            while True:
                batch, last = await recognition.next_batch()
                if len(batch):
                    await self._off_loop(recognition.transcription.feed, batch)
                if last:
                    break
            text = (await self._off_loop(recognition.transcription.finish)).strip()
        except ProviderError as error:
            await self._events.failed(f"speech-to-text: {error}")
            return
        await self._events.heard(
            Speech(
                text,
                round(recognition.start, 3),
                round(recognition.end, 3),
                round(recognition.decided, 3),
                round(self._clock() - recognition.decided, 3),
                float(recognition.vad_buffer_ms),
            )
        )

    async def _off_loop(self, work: Callable[..., T], *args: object) -> T:
        """``work`` in a worker thread when the recogniser blocks; else right here."""
        if self._stt.blocking:
            return await asyncio.to_thread(work, *args)
        return work(*args)

    # -- the timeline ---------------------------------------------------------------------

    def _time_of(self, sample: int) -> float:
        """Call time of a 16 kHz sample, from the chunk that carried it."""
        for first, at in reversed(self._anchors):
            if first <= sample:
                return at + (sample - first) / RATE
        first, at = self._anchors[0]
        return at - (first - sample) / RATE

    def _voice_end(self, first: int, sample: int) -> int:
        """Where the last voiced window between ``first`` and ``sample`` ends; ``sample``
        when none does."""
        for end in reversed(self._voiced_ends):
            if end <= sample:
                return end if end > first else sample
        return sample

    def _remember(self, audio: Samples) -> None:
        self._recent.append(audio)
        self._recent_len += len(audio)
        while self._recent_len - len(self._recent[0]) >= PRE_ROLL_S * RATE:
            self._recent_len -= len(self._recent.popleft())

    def _pre_roll(self, sample: int) -> Samples:
        """The remembered audio from ``sample`` on (the detector confirms starts late)."""
        recent = np.concatenate(self._recent) if self._recent else np.zeros(0, np.int16)
        keep = min(len(recent), self._fed - sample)
        return recent[len(recent) - keep :]


class _Recognition:
    """One utterance's audio on its way to the recogniser."""

    def __init__(self, transcription: Transcription, first_sample: int, start: float) -> None:
        self.transcription = transcription
        self.first_sample = first_sample
        self.start = start
        self.end = start
        self.decided = start
        self.vad_buffer_ms = 0
        self._pending: list[Samples] = []
        self._pending_len = 0
        self._finished = False
        self._ready = asyncio.Event()

    def add(self, audio: Samples) -> None:
        self._pending.append(audio)
        self._pending_len += len(audio)
        if self._pending_len >= FEED_EVERY_S * RATE:
            self._ready.set()

    def finish(self, end: float, decided: float, vad_buffer_ms: int) -> None:
        self.end = end
        self.decided = decided
        self.vad_buffer_ms = vad_buffer_ms
        self._finished = True
        self._ready.set()

    async def next_batch(self) -> tuple[Samples, bool]:
        await self._ready.wait()
        self._ready.clear()
        batch = np.concatenate(self._pending) if self._pending else np.zeros(0, np.int16)
        self._pending, self._pending_len = [], 0
        return batch, self._finished
