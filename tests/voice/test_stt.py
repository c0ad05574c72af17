"""Speech-to-text: PocketSphinx on real espeak-ng speech, and the pass-through."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from openline.voice.audio import resample
from openline.voice.base import ProviderError
from openline.voice.stt import PassthroughSTT, PocketSphinxSTT
from tests.voice.speech import RATE, silence, spoken

ORDER = "what is the status of my order"
STORE = "can you tell me when the store opens tomorrow"
CANCEL = "please cancel my subscription and send me a confirmation email"


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


def test_a_conversation_is_recognised():
    """The first utterance is decoded in one pass, normalised over all of itself; later
    ones while they are fed, from the cepstral mean the one before ended with."""
    stt = PocketSphinxSTT()
    for said in (ORDER, STORE, CANCEL):
        heard = transcribe(stt, utterance(said))
        assert len(words(heard) & words(said)) >= 3, (said, heard)


def test_utterances_at_once_each_get_a_decoder(sphinx):
    with ThreadPoolExecutor(2) as pool:
        heard = list(pool.map(lambda text: transcribe(sphinx, utterance(text)), (ORDER, STORE)))
    for said, text in zip((ORDER, STORE), heard, strict=True):
        assert len(words(text) & words(said)) >= 3, (said, text)


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


def test_what_one_call_learns_of_its_line_stays_in_that_call(sphinx):
    first_call = sphinx.for_call()
    assert len(words(transcribe(first_call, utterance(STORE))) & words(STORE)) >= 3
    assert first_call.cmn is not None  # its later utterances start from this line's mean
    second_call = sphinx.for_call()
    assert second_call.cmn is None  # a new line starts afresh, whatever came before
    assert len(words(transcribe(second_call, utterance(CANCEL))) & words(CANCEL)) >= 3
    assert first_call.cmn != second_call.cmn


def test_a_pooled_decoder_brings_nothing_of_its_last_call():
    """Recognition depends only on the call's own audio, not on which decoder of the pool
    ran it or what that decoder heard before (telephone-band audio, here)."""
    phone_line = resample(resample(utterance(ORDER), RATE, 8_000), 8_000, RATE)

    def conversation(stt: PocketSphinxSTT) -> list[str]:
        call = stt.for_call()  # one pass for the first utterance, then decoding as it is fed
        return [transcribe(call, utterance(said)) for said in (STORE, CANCEL)]

    on_fresh_decoders = conversation(PocketSphinxSTT())
    shared = PocketSphinxSTT(keep_decoders=1)
    earlier_call = shared.for_call()
    for _ in range(2):
        transcribe(earlier_call, phone_line)
    assert conversation(shared) == on_fresh_decoders


def test_digital_silence_does_not_blind_the_recogniser():
    """Utterances cut where the speech starts and ended by exact zeros (what a browser's
    noise suppression or a synthetic caller sends): PocketSphinx's features degenerate on
    digital silence; with its noise floor it recognises about three words in four here,
    without it half."""
    call = PocketSphinxSTT().for_call()
    said = [ORDER, STORE, CANCEL] * 2
    heard = [transcribe(call, np.concatenate([spoken(text), silence(0.6)])) for text in said]
    recognised = sum(len(words(h) & words(s)) for h, s in zip(heard, said, strict=True))
    assert recognised >= 0.65 * sum(len(words(s)) for s in said), heard
