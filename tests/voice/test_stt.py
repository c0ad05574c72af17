"""Speech-to-text: PocketSphinx on real espeak-ng speech, and the pass-through."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from openline.voice.base import ProviderError
from openline.voice.stt import PassthroughSTT, PocketSphinxSTT
from tests.voice.speech import RATE, silence, spoken

ORDER = "what is the status of my order"
STORE = "can you tell me when the store opens tomorrow"


@pytest.fixture(scope="module")
def sphinx() -> PocketSphinxSTT:
    return PocketSphinxSTT()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def transcribe(stt, audio: np.ndarray, language: str | None = "en-US", chunk: int = 1600) -> str:
    transcription = stt.open(language)
    for i in range(0, len(audio), chunk):
        transcription.feed(audio[i : i + chunk])
    return transcription.finish()


def utterance(text: str) -> np.ndarray:
    """What a turn detector hands over: a little audio before the words, silence after."""
    return np.concatenate([silence(0.3), spoken(text), silence(0.6)])


def test_pocketsphinx_recognises_speech(sphinx):
    text = transcribe(sphinx, utterance(ORDER))
    assert len(words(text) & words(ORDER)) >= 3, text


def test_decoders_are_reused_and_may_run_at_once(sphinx):
    """Utterances on several threads at once each get their own decoder; the results do not
    depend on which decoder, or on what it recognised before."""
    alone = [transcribe(sphinx, utterance(text)) for text in (ORDER, STORE)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda text: transcribe(sphinx, utterance(text)), (ORDER, STORE)))
    assert together == alone
    assert len(words(alone[1]) & words(STORE)) >= 3, alone[1]


def test_nothing_fed_or_silence_is_no_text(sphinx):
    assert sphinx.open().finish() == ""
    assert transcribe(sphinx, silence(1.0)) == ""


@pytest.mark.parametrize("language", [None, "en", "en-US", "en_us", "EN-us"])
def test_us_english_is_accepted(sphinx, language):
    assert sphinx.open(language).finish() == ""


@pytest.mark.parametrize("language", ["fr", "en-GB", "de-DE"])
def test_other_languages_are_refused_clearly(sphinx, language):
    with pytest.raises(ProviderError) as caught:
        sphinx.open(language)
    assert repr(language) in str(caught.value)
    assert "US English" in str(caught.value)


def test_passthrough_says_how_much_speech_it_got():
    stt = PassthroughSTT()
    assert (stt.name, stt.sample_rate) == ("passthrough", RATE)
    assert transcribe(stt, silence(1.24), language="fr") == "[speech 1.24 s]"
    assert stt.open().finish() == ""
