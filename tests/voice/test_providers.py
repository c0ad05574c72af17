"""The provider registry, and what the Cartesia providers say before any network call."""

from __future__ import annotations

import sys

import pytest

from openline.config import Settings
from openline.voice import providers
from openline.voice.base import ProviderError
from openline.voice.cartesia import CartesiaSTT, CartesiaTTS
from openline.voice.vad import EnergyTurnDetector, WebRtcTurnDetector


def test_the_default_settings_name_registered_providers():
    defaults = Settings()
    assert defaults.stt_provider in providers.STT_PROVIDERS
    assert defaults.tts_provider in providers.TTS_PROVIDERS
    assert defaults.vad_provider in providers.VAD_PROVIDERS


@pytest.mark.parametrize("name", ["pocketsphinx", "passthrough"])
def test_stt_providers_are_shared_and_named(name):
    stt = providers.stt_provider(name)
    assert stt is providers.stt_provider(name, cartesia_api_key="sk_unused")
    assert stt is providers.stt_provider(name, "sk_unused", cartesia_base_url="http://127.0.0.1:9")
    assert (stt.name, stt.sample_rate) == (name, 16000)


@pytest.mark.parametrize(("name", "rate"), [("espeak-ng", 22050), ("tone", 16000)])
def test_tts_providers_are_shared_and_named(name, rate):
    tts = providers.tts_provider(name)
    assert tts is providers.tts_provider(name, "sk_unused", cartesia_base_url="http://127.0.0.1:9")
    assert (tts.name, tts.sample_rate) == (name, rate)


def test_each_call_gets_its_own_turn_detector():
    first, second = (providers.turn_detector("webrtc", 800) for _ in range(2))
    assert first is not second
    assert isinstance(first, WebRtcTurnDetector) and first.end_of_turn_ms == 800
    energy = providers.turn_detector("energy", 450)
    assert isinstance(energy, EnergyTurnDetector) and energy.end_of_turn_ms == 450


@pytest.mark.parametrize(
    ("lookup", "choices"),
    [
        (lambda: providers.stt_provider("whisper"), providers.STT_PROVIDERS),
        (lambda: providers.tts_provider("piper"), providers.TTS_PROVIDERS),
        (lambda: providers.turn_detector("silero", 600), providers.VAD_PROVIDERS),
    ],
)
def test_unknown_names_list_the_choices(lookup, choices):
    with pytest.raises(ProviderError) as caught:
        lookup()
    assert all(choice in str(caught.value) for choice in choices)


@pytest.mark.parametrize("make", [CartesiaTTS, CartesiaSTT])
@pytest.mark.parametrize("key", [None, ""])
def test_cartesia_needs_a_key(make, key):
    with pytest.raises(ProviderError, match="API key"):
        make(key)


def test_cartesia_without_a_key_through_the_registry():
    with pytest.raises(ProviderError, match="OPENLINE_CARTESIA_API_KEY"):
        providers.stt_provider("cartesia")
    with pytest.raises(ProviderError, match="OPENLINE_CARTESIA_API_KEY"):
        providers.tts_provider("cartesia", cartesia_api_key=None)


@pytest.mark.parametrize("name", ["stt", "tts"])
def test_cartesia_without_its_sdk(name, monkeypatch):
    # Whether or not the SDK is installed here: a None entry makes `import cartesia`
    # fail as a missing package does.
    monkeypatch.setitem(sys.modules, "cartesia", None)
    # Uncached constructors: an instance built earlier, SDK and all, must not answer.
    monkeypatch.setattr(providers, "_stt", providers._stt.__wrapped__)
    monkeypatch.setattr(providers, "_tts", providers._tts.__wrapped__)
    lookup = providers.stt_provider if name == "stt" else providers.tts_provider
    with pytest.raises(ProviderError, match=r"needs Cartesia's Python SDK: pip install cartesia$"):
        lookup("cartesia", cartesia_api_key="sk_test_offline")
