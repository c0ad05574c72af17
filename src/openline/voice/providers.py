"""Providers by name: the names settings, agents and the CLI use."""

from __future__ import annotations

import functools

from openline.voice.base import ProviderError, SpeechToText, TextToSpeech, TurnDetector
from openline.voice.cartesia import CartesiaSTT, CartesiaTTS
from openline.voice.stt import PassthroughSTT, PocketSphinxSTT
from openline.voice.tts import EspeakTTS, ToneTTS
from openline.voice.vad import EnergyTurnDetector, WebRtcTurnDetector

STT_PROVIDERS = ("pocketsphinx", "passthrough", "cartesia")
TTS_PROVIDERS = ("espeak-ng", "tone", "cartesia")
VAD_PROVIDERS = ("webrtc", "energy")
# The defaults are settings (config.py); tests/voice/test_providers.py checks they are here.


def _unknown(kind: str, name: str, choices: tuple[str, ...]) -> ProviderError:
    return ProviderError(f"unknown {kind} provider {name!r}; choose one of: {', '.join(choices)}")


def stt_provider(
    name: str, cartesia_api_key: str | None = None, cartesia_base_url: str | None = None
) -> SpeechToText:
    """The shared instance (providers are stateless between utterances, or pool their state)."""
    if name not in STT_PROVIDERS:
        raise _unknown("speech-to-text", name, STT_PROVIDERS)
    if name != "cartesia":  # one shared instance whatever Cartesia settings come along
        cartesia_api_key = cartesia_base_url = None
    return _stt(name, cartesia_api_key, cartesia_base_url)


def tts_provider(
    name: str, cartesia_api_key: str | None = None, cartesia_base_url: str | None = None
) -> TextToSpeech:
    """The shared instance (each synthesis is independent of the others)."""
    if name not in TTS_PROVIDERS:
        raise _unknown("text-to-speech", name, TTS_PROVIDERS)
    if name != "cartesia":  # one shared instance whatever Cartesia settings come along
        cartesia_api_key = cartesia_base_url = None
    return _tts(name, cartesia_api_key, cartesia_base_url)


def turn_detector(name: str, end_of_turn_ms: int) -> TurnDetector:
    """A new detector: each one follows a single audio stream."""
    if name == "webrtc":
        return WebRtcTurnDetector(end_of_turn_ms)
    if name == "energy":
        return EnergyTurnDetector(end_of_turn_ms)
    raise _unknown("voice activity", name, VAD_PROVIDERS)


# Failed constructions raise, so they are not cached: a fixed setting is seen next time.
@functools.cache
def _stt(name: str, api_key: str | None, base_url: str | None) -> SpeechToText:
    if name == "cartesia":
        return CartesiaSTT(api_key, base_url=base_url)
    return PocketSphinxSTT() if name == "pocketsphinx" else PassthroughSTT()


@functools.cache
def _tts(name: str, api_key: str | None, base_url: str | None) -> TextToSpeech:
    if name == "cartesia":
        return CartesiaTTS(api_key, base_url=base_url)
    return EspeakTTS() if name == "espeak-ng" else ToneTTS()
