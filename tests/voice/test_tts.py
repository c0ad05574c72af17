"""Text-to-speech: eSpeak NG from its PyPI wheel, and the tone generator."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import espeakng_loader
import numpy as np
import pytest

from openline.voice.audio import resample
from openline.voice.base import ProviderError
from openline.voice.espeak_library import Engine, shared_engine
from openline.voice.stt import PocketSphinxSTT
from openline.voice.tts import EspeakTTS, ToneTTS
from openline.voice.vad import EnergyTurnDetector, WebRtcTurnDetector
from tests.voice.speech import loud_span

LONG = " ".join(["This sentence is long enough to make espeak write many blocks of audio."] * 20)
ORDER = "what is the status of my order"
SENTENCES = (
    ORDER,
    "can you tell me when the store opens tomorrow",
    "please cancel my subscription and send me a confirmation email",
)


@pytest.fixture(scope="module")
def espeak() -> EspeakTTS:
    return EspeakTTS()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def assert_same_speech(chunks: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """The same text in the same voice and speed. Not the same samples: eSpeak NG's pitch
    flutter runs on from one synthesis to the next, moving its lengths by a few tens of
    samples, far less than one 100 ms piece (2,205) or another voice or speed would."""
    assert abs(sum(map(len, chunks)) - sum(map(len, expected))) < 0.01 * sum(map(len, expected))


async def collect(tts, text: str, voice: str | None = None, language: str | None = None):
    return [chunk async for chunk in tts.synthesize(text, voice, language)]


def run_python(code: str, *args: str, **environment: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (so a fresh engine), from the repository's root."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, **environment},
        timeout=60,
    )


async def test_espeak_streams_audio_as_it_is_written(espeak):
    chunks = await collect(espeak, LONG)
    assert len(chunks) > 10  # not one buffer at the end
    assert all(chunk.dtype == np.int16 for chunk in chunks)
    seconds = sum(map(len, chunks)) / espeak.sample_rate
    assert 60 < seconds < 150  # ~1,500 characters of English
    assert len(chunks[0]) < 0.01 * sum(map(len, chunks))


async def test_text_is_spoken_as_written(espeak):
    chunks = await collect(espeak, "-v --help is what the caller said")
    first, last = loud_span(np.concatenate(chunks))
    assert (last - first) / espeak.sample_rate > 1.0  # the words were spoken


async def test_nothing_to_say(espeak):
    assert await collect(espeak, "  ") == []


async def test_the_speech_is_heard(espeak):
    """What it says is speech a recogniser understands, not just sound. PocketSphinx
    hears about 60 % of the words of clear synthesized speech (docs/voice-providers.md);
    noise or garbled audio would give next to none."""
    stt, said, heard = PocketSphinxSTT(), 0, 0
    for sentence in SENTENCES:
        speech = np.concatenate(await collect(espeak, sentence))
        quiet = np.zeros(espeak.sample_rate * 3 // 10, np.int16)
        turn = resample(np.concatenate([quiet, speech, quiet, quiet]), espeak.sample_rate, 16_000)
        transcription = stt.open("en-US")
        for start in range(0, len(turn), 1600):  # as a call feeds it, 100 ms at a time
            transcription.feed(turn[start : start + 1600])
        heard += len(words(transcription.finish()) & words(sentence))
        said += len(words(sentence))
    assert heard >= 0.4 * said, (heard, said)


SPEAK_WITHOUT_DEBIAN = """
import asyncio, json, shutil, sys
import numpy as np
from openline.voice import providers

async def main():
    tts = providers.tts_provider("espeak-ng")
    audio = np.concatenate([chunk async for chunk in tts.synthesize(sys.argv[1])])
    np.save(sys.argv[2], audio)
    maps = open("/proc/self/maps").read().split()
    print(json.dumps({
        "binary": shutil.which("espeak-ng"),
        "rate": tts.sample_rate,
        "libraries": sorted({path for path in maps if "libespeak" in path}),
    }))

asyncio.run(main())
"""


def test_speaks_with_no_espeak_ng_installed(tmp_path):
    """Only what pip installed: no espeak-ng on PATH, no Debian library loaded."""
    speech = tmp_path / "speech.npy"
    text = "Your order shipped on Monday."
    done = run_python(SPEAK_WITHOUT_DEBIAN, text, str(speech), PATH=str(tmp_path))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    wheel = Path(espeakng_loader.get_library_path()).parent
    assert found["binary"] is None
    assert found["libraries"] and all(Path(p).parent == wheel for p in found["libraries"])
    assert found["rate"] == 22050
    audio = np.load(speech)
    assert audio.dtype == np.int16
    assert 1.2 < len(audio) / 22050 < 3.5  # five words
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    assert 20 * np.log10(rms / 32768) > -30  # clearly audible, not a faint hiss
    heard = resample(np.concatenate([audio, np.zeros(22050, np.int16)]), 22050, 16_000)
    assert [edge.kind for edge in WebRtcTurnDetector(600).feed(heard)] == ["start", "end"]


WITHOUT_THE_PACKAGE = """
import sys
sys.modules["espeakng_loader"] = None  # what `import` finds when it is not installed
from openline.voice import providers
from openline.voice.base import ProviderError
try:
    providers.tts_provider("espeak-ng")
except ProviderError as error:
    print(error)
"""


def test_a_missing_package_is_a_clear_error():
    done = run_python(WITHOUT_THE_PACKAGE)
    assert done.stdout.strip() == (
        "espeak-ng cannot run: the espeakng-loader package is not installed "
        "(pip install espeakng-loader)"
    ), done.stderr


def test_a_library_that_cannot_load_is_a_clear_error(tmp_path):
    with pytest.raises(ProviderError, match=r"^espeak-ng cannot run: .*cannot open shared"):
        Engine(str(tmp_path / "libespeak-ng.so"), espeakng_loader.get_data_path())


def test_a_refused_piece_stops_the_synthesis():
    pieces = []
    job = shared_engine().speak(LONG, "en-us", None, lambda piece: pieces.append(piece) or False)
    assert job.result(timeout=30) is False  # not run to the end
    assert len(pieces) == 1


async def test_speed(espeak):
    text = "one two three four five six"
    normal = sum(map(len, await collect(espeak, text)))
    slow = sum(map(len, await collect(EspeakTTS(words_per_minute=90), text)))
    assert slow > 1.3 * normal


async def test_calls_speaking_at_once_each_get_their_own_speech(espeak):
    """One engine for the process: each synthesis gets its own voice, speed and audio."""
    alone = [
        await collect(espeak, "Bonjour, comment allez-vous?", "fr-fr"),
        await collect(EspeakTTS(words_per_minute=120), ORDER, "en-us+f3"),
    ]
    together = await asyncio.gather(
        collect(espeak, "Bonjour, comment allez-vous?", "fr-fr"),
        collect(EspeakTTS(words_per_minute=120), ORDER, "en-us+f3"),
    )
    for expected, chunks in zip(alone, together, strict=True):
        assert_same_speech(chunks, expected)


@pytest.mark.parametrize(
    ("voice", "language"),
    [
        (None, None),
        (None, "en"),
        (None, "en-US"),
        (None, "fr-FR"),
        (None, "de-AT"),
        ("en-us", None),
        ("en-gb", "fr"),
        ("en-us+f3", None),
        ("gmw/en-US", None),
    ],
)
def test_voices_and_languages_espeak_has(espeak, voice, language):
    espeak.check_voice(voice, language)


@pytest.mark.parametrize(
    ("voice", "language", "message"),
    [
        ("nobody", None, "no voice 'nobody'"),
        ("en-us+nobody", None, "no voice 'en-us+nobody'"),
        (None, "xx-YY", "cannot speak language 'xx-YY'"),
    ],
)
async def test_voices_and_languages_espeak_lacks(espeak, voice, language, message):
    with pytest.raises(ProviderError, match=re.escape(message)):
        espeak.check_voice(voice, language)
    with pytest.raises(ProviderError, match=re.escape(message)):
        await collect(espeak, "hello", voice, language)


async def test_a_listener_that_stops_leaves_the_engine_as_it_was(espeak):
    expected = await collect(espeak, ORDER)
    stream = espeak.synthesize(LONG)
    await anext(stream)
    await stream.aclose()  # the engine stops at its next piece
    assert_same_speech(await collect(espeak, ORDER), expected)  # none of LONG's pieces


async def test_a_cancelled_synthesis_leaves_the_engine_as_it_was(espeak):
    expected = await collect(espeak, ORDER)
    first = asyncio.Event()

    async def speak() -> None:
        async for _ in espeak.synthesize(LONG):
            first.set()
            await asyncio.sleep(10)  # a slow listener (real-time playback)

    task = asyncio.create_task(speak())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The abandoned generator is closed by asyncio's async-generator finalizer in a task
    # of its own, on the next turn of the event loop: that stops the engine's job.
    cleanup = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.wait_for(asyncio.gather(*cleanup), 5)
    assert_same_speech(await collect(espeak, ORDER), expected)


async def test_tone_is_60_ms_per_character_in_100_ms_chunks():
    tts = ToneTTS()
    chunks = await collect(tts, "hello world")
    assert (tts.name, tts.sample_rate) == ("tone", 16000)
    assert [len(chunk) for chunk in chunks] == [1600] * 6 + [960]  # 11 × 60 ms
    audio = np.concatenate(chunks)
    assert 0 < np.abs(audio).max() <= 3277  # quiet
    np.testing.assert_array_equal(audio, np.concatenate(await collect(tts, "hello world")))
    edges = EnergyTurnDetector().feed(np.concatenate([audio, np.zeros(16000, np.int16)]))
    assert [edge.kind for edge in edges] == ["start", "end"]
    tts.check_voice("any", "xx")
