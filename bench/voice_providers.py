"""Voice providers: real-time factor (processing seconds / audio seconds) of each
speech-to-text, turn-detection and text-to-speech provider openline ships offline,
against plain soxr resampling of the same audio, measured in the same run.

The audio is a handful of customer-service sentences said by espeak-ng (synthesized
before anything is timed), resampled to 16 kHz:

* speech-to-text: each sentence as one utterance the way the call pipeline hands it
  over (0.3 s of audio before the words, 0.6 s of silence after), fed in 100 ms pieces,
  then ``finish``; also the median time ``finish`` takes (the wait after a turn ends)
  and the share of the sentences' words recognised;
* turn detection: all sentences as one call stream, 1 s of silence between them, fed in
  20 ms chunks (what a client sends);
* text-to-speech: each sentence synthesized, every chunk consumed; the audio seconds
  are what the provider produced; also the median time to the first chunk;
* baseline: soxr's streaming resampler (``soxr.ResampleStream``, no openline code)
  converting the sentences from espeak-ng's 22,050 Hz to 16 kHz in 20 ms chunks.

Each measurement is repeated (``--repeat``) and the median run is reported; one
untimed warm-up run comes first: it loads PocketSphinx's model and gives it its first
utterance (held and decoded in one pass at ``finish``), so the timed runs measure
utterances decoded while they are fed; it also lists espeak-ng's voices.

    python bench/voice_providers.py            # 6 sentences, 5 runs (~40 s on 2 cores)
    python bench/voice_providers.py --quick    # 3 sentences, 2 runs (~10 s)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
import soxr

from openline.voice.audio import resample
from openline.voice.base import SpeechToText, TextToSpeech, TurnDetector
from openline.voice.stt import PassthroughSTT, PocketSphinxSTT
from openline.voice.tts import EspeakTTS, ToneTTS
from openline.voice.vad import EnergyTurnDetector, WebRtcTurnDetector

RATE = 16_000
SENTENCES = (
    "what is the status of my order",
    "can you tell me when the store opens tomorrow",
    "I would like to change the delivery address for my package",
    "please cancel my subscription and send me a confirmation email",
    "my account number is four five six seven eight",
    "thank you that is all I needed today",
)
CALL_CHUNK = RATE // 50  # 20 ms
FEED_CHUNK = RATE // 10  # 100 ms


@dataclass
class Corpus:
    texts: tuple[str, ...]
    native: list[np.ndarray]  # espeak-ng's own output, 22,050 Hz
    native_rate: int
    utterances: list[np.ndarray]  # 16 kHz, padded like a finished turn
    stream: np.ndarray  # 16 kHz, the sentences as one call

    @classmethod
    def spoken(cls, texts: tuple[str, ...]) -> Corpus:
        native, rate = [], 0
        for text in texts:
            wav = subprocess.run(
                ["espeak-ng", "--stdout", "-v", "en-us", text], capture_output=True, check=True
            ).stdout
            with wave.open(BytesIO(wav)) as reader:
                rate = reader.getframerate()
                native.append(np.frombuffer(reader.readframes(reader.getnframes()), np.int16))
        speech = [resample(samples, rate, RATE) for samples in native]
        before, after, gap = (np.zeros(int(s * RATE), np.int16) for s in (0.3, 0.6, 1.0))
        utterances = [np.concatenate([before, s, after]) for s in speech]
        stream = np.concatenate([part for s in speech for part in (gap, s)] + [gap])
        return cls(texts, native, rate, utterances, stream)


@dataclass
class Result:
    name: str
    kind: str
    audio_s: float
    runs_s: list[float] = field(default_factory=list)
    extra: str = ""

    @property
    def rtf(self) -> float:
        return statistics.median(self.runs_s) / self.audio_s


# --------------------------------------------------------------------------------------
# the measurements: each returns (seconds taken, audio seconds, extra facts)
# --------------------------------------------------------------------------------------


def run_baseline(corpus: Corpus) -> tuple[float, float, str]:
    audio = sum(len(s) for s in corpus.native) / corpus.native_rate
    step = corpus.native_rate // 50
    started = time.perf_counter()
    for samples in corpus.native:
        stream = soxr.ResampleStream(corpus.native_rate, RATE, 1, dtype="int16")
        for i in range(0, len(samples), step):
            stream.resample_chunk(samples[i : i + step])
        stream.resample_chunk(np.zeros(0, np.int16), last=True)
    return time.perf_counter() - started, audio, ""


def run_stt(stt: SpeechToText, corpus: Corpus) -> tuple[float, float, str]:
    finishes, heard = [], []
    started = time.perf_counter()
    for audio in corpus.utterances:
        transcription = stt.open("en-US")
        for i in range(0, len(audio), FEED_CHUNK):
            transcription.feed(audio[i : i + FEED_CHUNK])
        finishing = time.perf_counter()
        heard.append(transcription.finish())
        finishes.append(time.perf_counter() - finishing)
    taken = time.perf_counter() - started
    said = [set(re.findall(r"[a-z']+", text.lower())) for text in corpus.texts]
    got = [set(re.findall(r"[a-z']+", text.lower())) for text in heard]
    share = sum(len(s & g) for s, g in zip(said, got, strict=True)) / sum(map(len, said))
    extra = f"finish p50 {statistics.median(finishes) * 1000:.0f} ms; words {share:.0%}"
    return taken, sum(map(len, corpus.utterances)) / RATE, extra


def run_vad(make: Callable[[], TurnDetector], corpus: Corpus) -> tuple[float, float, str]:
    detector, edges = make(), 0
    started = time.perf_counter()
    for i in range(0, len(corpus.stream), CALL_CHUNK):
        edges += len(detector.feed(corpus.stream[i : i + CALL_CHUNK]))
    taken = time.perf_counter() - started
    return taken, len(corpus.stream) / RATE, f"{edges // 2} of {len(corpus.texts)} turns"


def run_tts(tts: TextToSpeech, corpus: Corpus) -> tuple[float, float, str]:
    async def speak() -> tuple[float, int, list[float]]:
        produced, first_chunks = 0, []
        started = time.perf_counter()
        for text in corpus.texts:
            asked, first = time.perf_counter(), True
            async for chunk in tts.synthesize(text):
                if first:
                    first_chunks.append(time.perf_counter() - asked)
                    first = False
                produced += len(chunk)
        return time.perf_counter() - started, produced, first_chunks

    taken, produced, first_chunks = asyncio.run(speak())
    extra = f"first chunk p50 {statistics.median(first_chunks) * 1000:.1f} ms"
    return taken, produced / tts.sample_rate, extra


# --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="openline voice providers benchmark")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help="how many (max 6)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per provider")
    parser.add_argument("--quick", action="store_true", help="3 sentences, 2 runs")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.repeat = 3, 2
    started = time.monotonic()
    corpus = Corpus.spoken(SENTENCES[: args.sentences])
    print(
        f"voice providers: {len(corpus.texts)} espeak-ng sentences "
        f"({sum(map(len, corpus.utterances)) / RATE:.1f} s as utterances, "
        f"{len(corpus.stream) / RATE:.1f} s as one call), median of {args.repeat} runs; "
        f"{os.cpu_count()} CPUs, load average {_load()}",
        flush=True,
    )
    sphinx = PocketSphinxSTT()
    plan: list[tuple[str, str, Callable[[], tuple[float, float, str]]]] = [
        ("soxr resample (baseline)", "resample", lambda: run_baseline(corpus)),
        ("pocketsphinx", "stt", lambda: run_stt(sphinx, corpus)),
        ("passthrough", "stt", lambda: run_stt(PassthroughSTT(), corpus)),
        ("webrtc", "vad", lambda: run_vad(WebRtcTurnDetector, corpus)),
        ("energy", "vad", lambda: run_vad(EnergyTurnDetector, corpus)),
        ("espeak-ng", "tts", lambda: run_tts(EspeakTTS(), corpus)),
        ("tone", "tts", lambda: run_tts(ToneTTS(), corpus)),
    ]
    results = []
    for name, kind, measure in plan:
        measure()  # warm-up
        result = Result(name, kind, 0.0)
        for _ in range(args.repeat):
            taken, result.audio_s, result.extra = measure()
            result.runs_s.append(taken)
        results.append(result)
        print(f"  {name}: done", flush=True)
    baseline = results[0].rtf
    header = (
        f"{'provider':<25} {'kind':<8} | {'audio s':>7} | {'processing s':>12} | "
        f"{'RTF':>9} | {'x baseline':>10} | notes"
    )
    print("\nreal-time factor = processing seconds / audio seconds (lower is faster; 1.0 is")
    print("as fast as speech); x baseline = RTF / RTF of plain soxr resampling, same run")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<25} {r.kind:<8} | {r.audio_s:>7.1f} | {statistics.median(r.runs_s):>12.4f} "
            f"| {_num(r.rtf):>9} | {_num(r.rtf / baseline) + 'x':>10} | {r.extra}"
        )
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average now {_load()}")


def _num(x: float) -> str:
    """Two significant digits, without exponents above 100."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.2g}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
