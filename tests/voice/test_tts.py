"""Text-to-speech: espeak-ng as a streamed subprocess, and the tone generator."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import wave
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from openline.voice.base import ProviderError
from openline.voice.tts import EspeakTTS, ToneTTS, _wav_start
from openline.voice.vad import EnergyTurnDetector
from tests.voice.speech import loud_span

LONG = " ".join(["This sentence is long enough to make espeak write many blocks of audio."] * 20)


@pytest.fixture(scope="module")
def espeak() -> EspeakTTS:
    return EspeakTTS()


async def collect(tts, text: str, voice: str | None = None, language: str | None = None):
    return [chunk async for chunk in tts.synthesize(text, voice, language)]


def espeak_children() -> list[str]:
    """This process's espeak-ng children, zombies included (state and pid)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
        except OSError:  # gone meanwhile
            continue
        if "(espeak-ng" in fields[0] and int(fields[1].split()[1]) == os.getpid():
            found.append(f"{fields[1].split()[0]} {stat.parent.name}")
    return found


async def test_espeak_streams_audio_as_it_is_written(espeak):
    chunks = await collect(espeak, LONG)
    assert len(chunks) > 10  # not one buffer at the end
    assert all(chunk.dtype == np.int16 for chunk in chunks)
    seconds = sum(map(len, chunks)) / espeak.sample_rate
    assert 60 < seconds < 150  # ~1,500 characters of English
    assert len(chunks[0]) < 0.01 * sum(map(len, chunks))


async def test_text_goes_through_stdin_not_argv(espeak):
    chunks = await collect(espeak, "-v --help is what the caller said")
    first, last = loud_span(np.concatenate(chunks))
    assert (last - first) / espeak.sample_rate > 1.0  # the words were spoken, not parsed


def test_wav_header_read_as_it_arrives():
    wav = subprocess.run(["espeak-ng", "--stdout", "hi"], capture_output=True, check=True).stdout
    start = _wav_start(wav)
    assert start == (22050, 44)
    assert all(_wav_start(wav[:n]) is None for n in range(start[1]))
    with pytest.raises(ProviderError, match="not write a WAV"):
        _wav_start(b"ID3" + wav[3:])


async def test_nothing_to_say(espeak):
    assert await collect(espeak, "  ") == []


async def test_the_audio_is_what_espeak_writes(espeak):
    text = "Your order shipped on Monday."
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us", text], capture_output=True, check=True
    ).stdout
    with wave.open(BytesIO(wav)) as reader:
        expected = np.frombuffer(reader.readframes(reader.getnframes()), np.int16)
    np.testing.assert_array_equal(np.concatenate(await collect(espeak, text)), expected)


async def test_speed(espeak):
    text = "one two three four five six"
    normal = sum(map(len, await collect(espeak, text)))
    slow = sum(map(len, await collect(EspeakTTS(words_per_minute=90), text)))
    assert slow > 1.3 * normal


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


def test_missing_binary():
    with pytest.raises(ProviderError, match="install Debian's espeak-ng"):
        EspeakTTS(binary="espeak-ng-not-installed")


async def test_a_listener_that_stops_leaves_no_process(espeak):
    stream = espeak.synthesize(LONG)
    await anext(stream)
    assert espeak_children()  # espeak-ng waits for the pipe to be read
    await stream.aclose()
    assert espeak_children() == []


async def test_a_cancelled_synthesis_leaves_no_process(espeak):
    first = asyncio.Event()

    async def speak() -> None:
        async for _ in espeak.synthesize(LONG):
            first.set()
            await asyncio.sleep(10)  # a slow listener (real-time playback)

    task = asyncio.create_task(speak())
    await asyncio.wait_for(first.wait(), 10)
    assert espeak_children()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The abandoned generator is closed by asyncio's async-generator finalizer in a task
    # of its own, on the next turn of the event loop: that kills and reaps espeak-ng.
    cleanup = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.wait_for(asyncio.gather(*cleanup), 5)
    assert espeak_children() == []


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
