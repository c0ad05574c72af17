"""Offline text-to-speech: eSpeak NG as a library, and a tone generator for benchmarks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator

import numpy as np

from openline.voice.base import ProviderError, Samples
from openline.voice.espeak_library import SAMPLE_RATE, Engine, shared_engine

# A bare "en" would get espeak-ng's British voice; callers saying "en" mostly mean US.
_LANGUAGE_VOICES = {"en": "en-us"}


class EspeakTTS:
    """eSpeak NG as the espeakng-loader wheel ships it (``espeak_library``): nothing to
    install beyond openline's own dependencies. Audio is yielded while it is being made.
    Constructing one starts the process's engine: blocking, and ProviderError when
    eSpeak NG cannot run here."""

    name = "espeak-ng"
    sample_rate = SAMPLE_RATE

    def __init__(self, words_per_minute: int | None = None) -> None:
        self._engine: Engine = shared_engine()
        self._speed = words_per_minute

    def check_voice(self, voice: str | None, language: str | None) -> None:
        self._voice_option(voice, language)

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]:
        option = self._voice_option(voice, language)
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[Samples | None] = asyncio.Queue()
        stopped = threading.Event()

        def deliver(samples: Samples) -> bool:  # on the engine's thread
            if stopped.is_set():
                return False
            loop.call_soon_threadsafe(pieces.put_nowait, samples)
            return True

        job = self._engine.speak(text, option, self._speed, deliver)
        done = asyncio.wrap_future(job)  # completes after its pieces are queued: in order
        done.add_done_callback(lambda _: pieces.put_nowait(None))
        try:
            while (samples := await pieces.get()) is not None:
                yield samples
            done.result()  # the engine's error, if it had one
        finally:  # the caller stopped listening, or was cancelled: the engine stops too
            stopped.set()
            job.cancel()  # when still queued behind other calls' speech
            await asyncio.wait([done])

    def _voice_option(self, voice: str | None, language: str | None) -> str:
        """The voice to speak with: the voice as given, else one for the language."""
        voices = self._engine.voices
        if voice:
            base, plus, variant = voice.lower().partition("+")
            if base in voices.names and (not plus or variant in voices.variants):
                return voice
            raise ProviderError(
                f"espeak-ng has no voice {voice!r}: use a language (en-us, fr-fr, …) or a "
                "voice file (gmw/en-US), optionally with a variant after a '+' (en-us+f3)"
            )
        tag = (language or "en-US").lower().replace("_", "-")
        for candidate in (_LANGUAGE_VOICES.get(tag, tag), tag.split("-")[0]):
            if candidate in voices.names:
                return candidate
        raise ProviderError(f"espeak-ng cannot speak language {language!r}")


TONE_RATE = 16_000
_TONE_PER_CHARACTER_S = 0.06
_TONE_CHUNK = TONE_RATE // 10  # 100 ms
_TONE_HZ = 440.0
_TONE_AMPLITUDE = 0.1 * 32767  # quiet: -20 dBFS peak


class ToneTTS:
    """A sine tone, 60 ms per character: no synthesis cost, the same audio every time
    (to measure the rest of the pipeline, and for tests)."""

    name = "tone"
    sample_rate = TONE_RATE

    def check_voice(self, voice: str | None, language: str | None) -> None:
        """Any voice and language: the tone sounds the same."""

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]:
        total = round(len(text.strip()) * _TONE_PER_CHARACTER_S * TONE_RATE)
        for start in range(0, total, _TONE_CHUNK):
            index = np.arange(start, min(start + _TONE_CHUNK, total))
            wave = np.sin(2 * np.pi * _TONE_HZ / TONE_RATE * index) * _TONE_AMPLITUDE
            yield wave.astype(np.int16)
            await asyncio.sleep(0)  # a long text must not hold the event loop
