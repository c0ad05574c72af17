"""The Cartesia providers through Cartesia's own SDK, against a loopback fake of its
HTTP API (tests/voice/fake_cartesia.py): what they send, what they make of the answers,
and how refusals and broken streams come back as ProviderError."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from openline.voice import providers
from openline.voice.base import ProviderError
from openline.voice.cartesia import (
    DEFAULT_VOICE,
    RETRIES,
    SONIC_RATE,
    CartesiaSTT,
    CartesiaTTS,
)
from tests.voice.fake_cartesia import API_KEY, CHUNK_BYTES, VOICES, FakeCartesia, render, serve
from tests.voice.speech import spoken

SENTENCE = "Your order shipped this morning and should arrive on Thursday."
BRITISH = next(voice for voice, espeak in VOICES.items() if espeak == "en-gb")
UNKNOWN_VOICE = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def fake() -> Iterator[FakeCartesia]:
    with serve(FakeCartesia()) as running:
        yield running


async def collect(tts: CartesiaTTS, text: str, **options) -> list[np.ndarray]:
    return [chunk async for chunk in tts.synthesize(text, **options)]


# -- Sonic (text-to-speech) ---------------------------------------------------------------


async def test_sonic_streams_the_sentence_cartesia_rendered(fake):
    tts = CartesiaTTS(API_KEY, base_url=fake.url)
    chunks = await collect(tts, SENTENCE)

    (rendered,) = fake.rendered
    assert len(chunks) >= len(rendered) * 2 // CHUNK_BYTES  # as the pieces came, not at the end
    assert all(chunk.dtype == np.int16 for chunk in chunks)
    # every sample, including those split between two pieces of the stream
    assert np.array_equal(np.concatenate(chunks), rendered)
    assert len(rendered) / SONIC_RATE > 2.0  # a sentence, not a blip
    (request,) = fake.tts_requests
    assert request["model_id"] == "sonic-3"
    assert request["transcript"] == SENTENCE
    assert request["voice"] == {"mode": "id", "id": DEFAULT_VOICE}
    assert request["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": SONIC_RATE,
    }
    assert "language" not in request  # none given: Cartesia's default
    assert fake.refused == []


@pytest.mark.parametrize(("language", "sent"), [("en-US", "en"), ("pt_BR", "pt"), ("FR", "fr")])
async def test_sonic_sends_the_model_voice_and_language(fake, language, sent):
    tts = CartesiaTTS(API_KEY, model="sonic-2", base_url=fake.url)
    chunks = await collect(tts, SENTENCE, voice=BRITISH, language=language)

    (request,) = fake.tts_requests
    assert (request["model_id"], request["voice"]["id"], request["language"]) == (
        "sonic-2",
        BRITISH,
        sent,
    )
    # the voice asked for is the one heard (the fake's British voice is a different length)
    assert np.array_equal(np.concatenate(chunks), render(SENTENCE, "en-gb", SONIC_RATE))
    assert len(render(SENTENCE, "en-gb", SONIC_RATE)) != len(render(SENTENCE, "en-us", SONIC_RATE))


async def test_an_unknown_voice_is_refused_in_cartesias_words(fake):
    tts = CartesiaTTS(API_KEY, base_url=fake.url)
    with pytest.raises(ProviderError) as caught:
        await collect(tts, SENTENCE, voice=UNKNOWN_VOICE)
    message = str(caught.value)
    assert message.startswith("Cartesia Sonic: Voice not found")
    assert f"No voice with id {UNKNOWN_VOICE} exists" in message and "404" in message
    assert fake.refused == [("/tts/bytes", 404, "voice_not_found")]


async def test_a_voice_that_is_no_id_never_reaches_cartesia(fake):
    tts = CartesiaTTS(API_KEY, base_url=fake.url)
    with pytest.raises(ProviderError, match="Cartesia voices are ids"):
        await collect(tts, SENTENCE, voice="en-us")
    assert fake.tts_requests == [] and fake.refused == []


async def test_sonic_with_a_wrong_key(fake):
    tts = CartesiaTTS("sk_car_not_this_one", base_url=fake.url)
    with pytest.raises(ProviderError, match=r"Cartesia Sonic: Unauthorized: Invalid API key"):
        await collect(tts, SENTENCE)
    assert fake.refused == [("/tts/bytes", 401, "unauthorized")]  # not retried


async def test_a_stream_cut_off_midway_is_a_provider_error(fake):
    fake.break_after_chunks = 3
    tts = CartesiaTTS(API_KEY, base_url=fake.url)
    received: list[np.ndarray] = []
    with pytest.raises(ProviderError, match="Cartesia Sonic: "):
        async for chunk in tts.synthesize(SENTENCE):
            received.append(chunk)
    # what arrived before the cut was played; the error came where the stream broke
    assert sum(map(len, received)) == 3 * CHUNK_BYTES // 2


async def test_sonic_that_does_not_answer_is_given_up_on(fake):
    fake.stall_s = 2.0  # longer than the timeout: without one, the audio would come
    tts = CartesiaTTS(API_KEY, base_url=fake.url, timeout_s=0.3)
    with pytest.raises(ProviderError, match=r"Cartesia Sonic: .*timed out"):
        await collect(tts, SENTENCE)
    assert fake.asked == 1 + RETRIES and fake.tts_requests == []


async def test_without_base_url_the_sdk_reads_cartesia_base_url(fake, monkeypatch):
    monkeypatch.setenv("CARTESIA_BASE_URL", fake.url)
    chunks = await collect(CartesiaTTS(API_KEY), "Hello.")
    assert np.array_equal(np.concatenate(chunks), fake.rendered[0])


# -- Ink (speech-to-text) ---------------------------------------------------------------


def test_ink_transcribes_an_utterance_fed_in_pieces(fake):
    said = spoken("hello, I would like to know when you open")
    stt = CartesiaSTT(API_KEY, base_url=fake.url).for_call()
    utterance = stt.open("en-US")
    piece = np.empty(4000, np.int16)  # one buffer, reused as a capture loop would
    for at in range(0, len(said), len(piece)):
        part = said[at : at + len(piece)]
        piece[: len(part)] = part
        utterance.feed(piece[: len(part)])

    assert utterance.finish() == fake.transcript
    (request,) = fake.stt_requests
    assert request["duration"] == len(said) / 16_000  # all of it, once
    assert np.array_equal(request["audio"], said)  # in order, not the buffer's last contents
    assert (request["model"], request["language"]) == ("ink-whisper", "en")
    assert (request["filename"], request["content_type"]) == ("utterance.wav", "audio/wav")
    assert request["query"] == {}  # no raw-audio parameters: the WAV header says it all


def test_ink_hears_nothing_without_asking(fake):
    stt = CartesiaSTT(API_KEY, base_url=fake.url)
    assert stt.open("fr-FR").finish() == ""
    assert fake.stt_requests == [] and fake.refused == []


def test_ink_that_does_not_answer_is_given_up_on(fake):
    fake.stall_s = 2.0
    transcription = CartesiaSTT(API_KEY, base_url=fake.url, timeout_s=0.3).open("en")
    transcription.feed(spoken("hello"))
    with pytest.raises(ProviderError, match=r"Cartesia Ink: .*timed out"):
        transcription.finish()
    assert fake.asked == 1 + RETRIES and fake.stt_requests == []


def test_an_utterance_is_sent_once(fake):
    utterance = CartesiaSTT(API_KEY, base_url=fake.url).open(None)
    utterance.feed(spoken("hello"))
    assert utterance.finish() == fake.transcript
    assert utterance.finish() == ""  # nothing new fed since
    assert [r["language"] for r in fake.stt_requests] == ["en"]  # no language: English


@pytest.mark.parametrize(
    ("make", "language", "refusal", "words"),
    [
        (lambda url: CartesiaSTT("sk_car_wrong", base_url=url), "en", 401, "Invalid API key"),
        (lambda url: CartesiaSTT(API_KEY, model="ink-x", base_url=url), "en", 400, "'ink-x'"),
        (lambda url: CartesiaSTT(API_KEY, base_url=url), "tlh", 400, "'tlh' not supported"),
    ],
    ids=["wrong-key", "unknown-model", "unknown-language"],
)
def test_ink_refusals_are_provider_errors(fake, make, language, refusal, words):
    utterance = make(fake.url).open(language)
    utterance.feed(spoken("hello"))
    with pytest.raises(ProviderError) as caught:
        utterance.finish()
    assert str(caught.value).startswith("Cartesia Ink: ")
    assert words in str(caught.value) and f"HTTP {refusal}" in str(caught.value)
    assert [status for _, status, _ in fake.refused] == [refusal]


# -- the registry ---------------------------------------------------------------------


async def test_the_registry_builds_providers_for_the_address_given(fake):
    tts = providers.tts_provider("cartesia", API_KEY, fake.url)
    stt = providers.stt_provider("cartesia", API_KEY, fake.url)
    assert tts is providers.tts_provider("cartesia", API_KEY, fake.url)
    assert stt is providers.stt_provider("cartesia", API_KEY, fake.url)
    assert tts is not providers.tts_provider("cartesia", API_KEY, fake.url + "/elsewhere")
    assert (tts.name, tts.sample_rate, stt.name, stt.sample_rate) == (
        "cartesia",
        24_000,
        "cartesia",
        16_000,
    )

    chunks = await collect(tts, "Hello.")
    assert np.array_equal(np.concatenate(chunks), fake.rendered[0])
    utterance = stt.for_call().open("en")
    utterance.feed(spoken("hello"))
    assert utterance.finish() == fake.transcript
