"""Cartesia Sonic (text-to-speech) and Ink (speech-to-text), through Cartesia's own SDK
(``pip install cartesia``, 4.x). Only used when an API key is configured."""

from __future__ import annotations

import io
import uuid
import wave
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any

import httpx
import numpy as np

from openline.voice.audio import PcmBytes
from openline.voice.base import ProviderError, Samples

SONIC_RATE = 24_000
INK_RATE = 16_000
DEFAULT_VOICE = "694f9389-aac1-45b6-b726-9d9369183238"  # the voice of Cartesia's quickstart
# A caller is waiting: the SDK's defaults (60 s, two retries) would hold a turn for minutes.
TIMEOUT_S = 10.0
RETRIES = 1


def _sdk(api_key: str | None) -> ModuleType:
    if not api_key:
        raise ProviderError(
            "the cartesia provider needs a Cartesia API key (set OPENLINE_CARTESIA_API_KEY)"
        )
    try:
        import cartesia
    except ModuleNotFoundError as error:
        if error.name != "cartesia":  # installed, but broken
            raise ProviderError(f"Cartesia's Python SDK does not load: {error}") from error
        raise ProviderError(
            "the cartesia provider needs Cartesia's Python SDK: pip install cartesia"
        ) from None
    return cartesia


def _reason(error: Exception) -> str:
    """Cartesia's own words for a refusal (its JSON error's title and message), rather
    than the SDK's repr of the whole body."""
    body = getattr(error, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        title = body.get("title")
        said = f"{title}: {body['message']}" if title else body["message"]
        return f"{said} (HTTP {getattr(error, 'status_code', '?')})"
    return str(error)


def _primary(language: str) -> str:
    """Cartesia takes ISO 639-1 codes: "en-US" → "en"."""
    return language.replace("_", "-").split("-")[0].lower()


class CartesiaTTS:
    """Sonic through the bytes endpoint, streamed as raw 16-bit PCM at 24 kHz."""

    name = "cartesia"
    sample_rate = SONIC_RATE

    def __init__(
        self,
        api_key: str | None,
        model: str = "sonic-3",
        voice: str = DEFAULT_VOICE,
        base_url: str | None = None,  # None: $CARTESIA_BASE_URL, else Cartesia's
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        sdk = _sdk(api_key)
        self._client = sdk.AsyncCartesia(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=RETRIES
        )
        self._errors = sdk.CartesiaError
        self._model = model
        self._voice = voice

    def check_voice(self, voice: str | None, language: str | None) -> None:
        """Voices are ids; whether one exists, and speaks that language, only Cartesia
        knows (a refusal comes back from ``synthesize``)."""
        if voice is None:
            return
        try:
            uuid.UUID(voice)
        except ValueError:
            raise ProviderError(
                f"Cartesia voices are ids like {DEFAULT_VOICE}, not {voice!r} "
                "(see play.cartesia.ai/voices)"
            ) from None

    async def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]:
        self.check_voice(voice, language)
        options: dict[str, Any] = {"language": _primary(language)} if language else {}
        speaker = {"mode": "id", "id": voice or self._voice}  # the form every API version takes
        pcm = PcmBytes()
        try:
            async with self._client.tts.with_streaming_response.generate(
                model_id=self._model,
                transcript=text,
                voice=speaker,
                output_format={
                    "container": "raw",
                    "encoding": "pcm_s16le",
                    "sample_rate": SONIC_RATE,
                },
                **options,
            ) as response:
                async for data in response.iter_bytes():
                    if len(samples := pcm.push(data)):
                        yield samples
        # The SDK wraps errors up to the response headers; a stream cut off after them
        # surfaces as httpx's own error.
        except (self._errors, httpx.HTTPError) as error:
            raise ProviderError(f"Cartesia Sonic: {_reason(error)}") from error


class CartesiaSTT:
    """Ink through the batch transcription endpoint: an utterance is sent once finished."""

    name = "cartesia"
    sample_rate = INK_RATE
    blocking = True

    def __init__(
        self,
        api_key: str | None,
        model: str = "ink-whisper",
        base_url: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        sdk = _sdk(api_key)
        self._client = sdk.Cartesia(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=RETRIES
        )
        self._errors = sdk.CartesiaError
        self._model = model

    def for_call(self) -> CartesiaSTT:
        return self  # no state of its own between utterances

    def open(self, language: str | None = None) -> _InkUtterance:
        return _InkUtterance(self, _primary(language) if language else "en")

    def transcribe(self, samples: Samples, language: str) -> str:
        wav = io.BytesIO()
        with wave.open(wav, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(INK_RATE)
            writer.writeframes(np.asarray(samples, dtype="<i2").tobytes())
        try:
            result = self._client.stt.transcribe(
                file=("utterance.wav", wav.getvalue(), "audio/wav"),
                model=self._model,
                language=language,
            )
        except self._errors as error:
            raise ProviderError(f"Cartesia Ink: {_reason(error)}") from error
        return result.text


class _InkUtterance:
    def __init__(self, stt: CartesiaSTT, language: str) -> None:
        self._stt = stt
        self._language = language
        self._chunks: list[Samples] = []

    def feed(self, samples: Samples) -> None:
        self._chunks.append(np.array(samples, dtype=np.int16))  # the caller may reuse its buffer

    def finish(self) -> str:
        if not self._chunks:
            return ""
        audio, self._chunks = np.concatenate(self._chunks), []
        return self._stt.transcribe(audio, self._language)
