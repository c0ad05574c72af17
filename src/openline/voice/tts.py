"""Offline text-to-speech: Debian's espeak-ng, and a tone generator for benchmarks."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import numpy as np

from openline.voice.audio import PcmBytes
from openline.voice.base import ProviderError, Samples

ESPEAK_RATE = 22_050  # espeak-ng's only output rate
_READ = 16_384
# A bare "en" would get espeak-ng's British voice; callers saying "en" mostly mean US.
_LANGUAGE_VOICES = {"en": "en-us"}


@dataclass(frozen=True)
class _Voices:
    names: frozenset[str]  # lower case: languages, voice files, "other languages"
    variants: frozenset[str]  # lower case, what may follow a "+"


def _list_voices(binary: str) -> _Voices:
    def table(*args: str) -> list[list[str]]:
        listing = subprocess.run([binary, *args], capture_output=True, text=True, check=True)
        return [line.split() for line in listing.stdout.splitlines()[1:] if line.strip()]

    # columns: Pty Language Age/Gender VoiceName File [Other Languages, as "(en 3)…"]
    names: set[str] = set()
    for row in table("--voices"):
        names.update((row[1].lower(), row[4].lower()))
        names.update(re.findall(r"\(([^ )]+)", " ".join(row[5:]).lower()))
    variants = {row[4].lower().removeprefix("!v/") for row in table("--voices=variant")}
    return _Voices(frozenset(names), frozenset(variants))


def _wav_start(head: bytes) -> tuple[int, int] | None:
    """(sample rate, offset of the first sample) once ``head`` holds the whole RIFF
    header, None while it does not. espeak-ng writes 16-bit mono PCM; anything else is
    refused. The data chunk's size is a placeholder when streaming and is ignored."""
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ProviderError("espeak-ng did not write a WAV stream")
    offset, rate = 12, 0
    while len(head) >= offset + 8:
        chunk, size = struct.unpack_from("<4sI", head, offset)
        body = offset + 8
        if chunk == b"data":
            if not rate:
                raise ProviderError("espeak-ng wrote audio without saying its format")
            return rate, body
        if len(head) < body + size:
            return None
        if chunk == b"fmt ":
            encoding, channels, rate = struct.unpack_from("<HHI", head, body)
            (bits,) = struct.unpack_from("<H", head, body + 14)
            if (encoding, channels, bits) != (1, 1, 16):
                raise ProviderError("espeak-ng wrote audio other than 16-bit mono PCM")
        offset = body + size + size % 2
    return None


class EspeakTTS:
    """espeak-ng (``apt-get install espeak-ng``), run once per utterance with the text on
    stdin; audio is yielded while espeak-ng is still writing it."""

    name = "espeak-ng"
    sample_rate = ESPEAK_RATE

    def __init__(self, binary: str = "espeak-ng", words_per_minute: int | None = None) -> None:
        path = shutil.which(binary)
        if path is None:
            raise ProviderError(
                f"{binary} is not installed: install Debian's espeak-ng package "
                "(apt-get install espeak-ng)"
            )
        self._binary = path
        self._speed = words_per_minute
        self._voices: _Voices | None = None
        self._lock = threading.Lock()

    def check_voice(self, voice: str | None, language: str | None) -> None:
        self._voice_option(voice, language)

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]:
        if self._voices is None:  # the first call lists the voices: not on the event loop
            await asyncio.to_thread(self._known_voices)
        command = [self._binary, "--stdout", "--stdin", "-v", self._voice_option(voice, language)]
        if self._speed:
            command += ["-s", str(self._speed)]
        if not text.strip():
            return
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdin and process.stdout and process.stderr
            process.stdin.write(text.encode())  # --stdin reads it all before speaking
            await process.stdin.drain()
            process.stdin.close()
            header, pcm = b"", None  # header bytes until the WAV header is complete
            while chunk := await process.stdout.read(_READ):
                if pcm is None:
                    header += chunk
                    if (start := _wav_start(header)) is None:
                        continue
                    rate, offset = start
                    if rate != ESPEAK_RATE:
                        raise ProviderError(f"espeak-ng wrote {rate} Hz audio, not {ESPEAK_RATE}")
                    pcm, chunk = PcmBytes(), header[offset:]
                if len(samples := pcm.push(chunk)):
                    yield samples
            problem = (await process.stderr.read()).decode(errors="replace").strip()
            if await process.wait():
                raise ProviderError(f"espeak-ng failed: {problem or process.returncode}")
        finally:
            if process.returncode is None:  # the caller stopped listening, or was cancelled
                process.kill()
            await process.communicate()  # reaps it, and reads its pipes to the end: closed

    def _known_voices(self) -> _Voices:
        with self._lock:
            if self._voices is None:
                try:
                    self._voices = _list_voices(self._binary)
                except (OSError, subprocess.CalledProcessError) as error:
                    raise ProviderError(f"could not list espeak-ng's voices: {error}") from error
            return self._voices

    def _voice_option(self, voice: str | None, language: str | None) -> str:
        """What to pass as ``-v``: the voice as given, else one for the language."""
        voices = self._known_voices()
        if voice:
            base, plus, variant = voice.lower().partition("+")
            if base in voices.names and (not plus or variant in voices.variants):
                return voice
            raise ProviderError(
                f"espeak-ng has no voice {voice!r}: use a language or voice file from "
                "`espeak-ng --voices`, optionally with a variant from "
                "`espeak-ng --voices=variant` after a '+' (e.g. en-us+f3)"
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
