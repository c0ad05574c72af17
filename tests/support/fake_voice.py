"""Fake voice providers for virtual-time tests: speech whose length and timing a test
knows exactly, with no audio model in the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np

from openline.voice.base import ProviderError, Samples, SpeechEdge

WORD_S = 0.1  # each word of a fake synthesis lasts this long
LOUDNESS = 1000  # the constant sample value of fake speech (silence is 0)


class FakeTTS:
    """One ``WORD_S`` chunk of constant audio per word, the first after ``first_audio_s``
    and ``leading_silence_s`` of silence; a message containing ``fail_on`` breaks off with
    a ProviderError after ``fail_after`` words."""

    def __init__(
        self,
        sample_rate: int = 16_000,
        first_audio_s: float = 0.0,
        fail_on: str | None = None,
        fail_after: int = 0,
        leading_silence_s: float = 0.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.first_audio_s = first_audio_s
        self.leading_silence_s = leading_silence_s
        self.fail_on = fail_on
        self.fail_after = fail_after
        self.spoken: list[tuple[str, str | None, str | None]] = []  # (text, voice, language)

    def check_voice(self, voice: str | None, language: str | None) -> None:
        pass

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]:
        self.spoken.append((text, voice, language))
        await asyncio.sleep(self.first_audio_s)
        if self.leading_silence_s:
            yield np.zeros(round(self.leading_silence_s * self.sample_rate), np.int16)
        for index, _ in enumerate(text.split()):
            if self.fail_on is not None and self.fail_on in text and index == self.fail_after:
                raise ProviderError("fake synthesis failed")
            yield np.full(round(WORD_S * self.sample_rate), LOUDNESS, np.int16)


def duration(text: str) -> float:
    """How long ``text`` lasts when FakeTTS speaks it."""
    return len(text.split()) * WORD_S


class FakeSTT:
    """Hears the scripted ``transcripts`` in order, one per utterance, whatever the audio."""

    name = "fake"
    sample_rate = 16_000
    blocking = False

    def __init__(self, *transcripts: str) -> None:
        self.transcripts = list(transcripts)
        self.fed: list[int] = []  # samples each finished utterance was fed

    def for_call(self) -> FakeSTT:
        return self

    def open(self, language: str | None = None) -> _FakeTranscription:
        return _FakeTranscription(self)


class _FakeTranscription:
    def __init__(self, stt: FakeSTT) -> None:
        self._stt = stt
        self._samples = 0

    def feed(self, samples: Samples) -> None:
        self._samples += len(samples)

    def finish(self) -> str:
        self._stt.fed.append(self._samples)
        return self._stt.transcripts.pop(0) if self._stt.transcripts else ""


class FakeDetector:
    """Any sample louder than ``LOUDNESS / 2`` is speech; ``end_of_turn_ms`` of quiet ends it."""

    def __init__(self, end_of_turn_ms: int = 300) -> None:
        self.end_of_turn_ms = end_of_turn_ms
        self._fed = 0
        self._speaking = False
        self._quiet_since = 0  # first sample of the current stretch of quiet

    def feed(self, samples: Samples) -> list[SpeechEdge]:
        edges = []
        loud = np.flatnonzero(np.abs(samples) > LOUDNESS // 2)
        if len(loud):
            if not self._speaking:
                self._speaking = True
                edges.append(SpeechEdge("start", self._fed + int(loud[0])))
            self._quiet_since = self._fed + int(loud[-1]) + 1
        self._fed += len(samples)
        turn_over = self._quiet_since + self.end_of_turn_ms * 16
        if self._speaking and self._fed >= turn_over:
            self._speaking = False
            edges.append(SpeechEdge("end", self._quiet_since))
        return edges


def talking(seconds: float) -> Samples:
    """Caller speech for FakeDetector: ``seconds`` of loud 16 kHz audio."""
    return np.full(round(seconds * 16_000), LOUDNESS, np.int16)
