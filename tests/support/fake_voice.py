"""Fake voice providers for virtual-time tests: speech whose length and timing a test
knows exactly, with no audio model in the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np

from openline.voice.base import ProviderError, Samples

WORD_S = 0.1  # each word of a fake synthesis lasts this long
LOUDNESS = 1000  # the constant sample value of fake speech (silence is 0)


class FakeTTS:
    """One ``WORD_S`` chunk of constant audio per word, the first after ``first_audio_s``;
    a message containing ``fail_on`` breaks off with a ProviderError after ``fail_after``
    words."""

    def __init__(
        self,
        sample_rate: int = 16_000,
        first_audio_s: float = 0.0,
        fail_on: str | None = None,
        fail_after: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.first_audio_s = first_audio_s
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
        for index, _ in enumerate(text.split()):
            if self.fail_on is not None and self.fail_on in text and index == self.fail_after:
                raise ProviderError("fake synthesis failed")
            yield np.full(round(WORD_S * self.sample_rate), LOUDNESS, np.int16)


def duration(text: str) -> float:
    """How long ``text`` lasts when FakeTTS speaks it."""
    return len(text.split()) * WORD_S
