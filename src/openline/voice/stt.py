"""Offline speech-to-text: PocketSphinx (US English), and a pass-through for benchmarks."""

from __future__ import annotations

import os
import threading

import numpy as np
from pocketsphinx import Decoder

from openline.voice.base import ProviderError, Samples

RATE = 16_000
# Faint noise added to what PocketSphinx hears (RMS, in 16-bit steps: about -61 dBFS, a
# quiet microphone's own hiss). Digital silence, and the empty upper band of phone audio,
# give its log-spectrum features -inf-like values that wreck the cepstral mean: on
# espeak-ng test sentences it recognised 28 % of the words after digital silence, 73 %
# with the floor (62 → 76 % over real-ish noise, 13 → 22 % on 8 kHz audio; a louder floor
# starts to drown quiet speech). Seeded per utterance, so a decode is reproducible.
NOISE_FLOOR = 30.0
_ENGLISH = {"en", "en-us"}


class _DecoderPool:
    """Idle PocketSphinx decoders, reused: one takes ~0.25 s to load and holds one
    utterance at a time. Busy decoders are not counted; at most ``keep`` idle ones stay."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._idle: list[Decoder] = []
        self._lock = threading.Lock()

    def take(self, cmn: str | None) -> Decoder:
        with self._lock:
            decoder = self._idle.pop() if self._idle else None
        if decoder is None:
            try:
                # fwdflat: a second search pass at end_utt; it costs ~150 ms per utterance
                # and recognised no more words of our test speech
                decoder = Decoder(loglevel="FATAL", cmn="live", fwdflat=False)
            except (RuntimeError, ValueError) as error:
                raise ProviderError(f"pocketsphinx could not load its model: {error}") from error
        else:
            # A decoder's feature state (cepstral mean and its running sums) carries the
            # last line it heard into the next decode, even a one-pass one: start clean.
            decoder.reinit_feat()
        if cmn is not None:
            decoder.set_cmn(cmn)
        return decoder

    def give_back(self, decoder: Decoder) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(decoder)


class PocketSphinxSTT:
    """CMU PocketSphinx with the US English model its wheel ships.

    Utterances are decoded while they are fed, so ``finish`` only has the last piece
    left (tens of ms). That needs a cepstral mean (the average spectrum of the input,
    which recognition subtracts) to start from, and the model's default one is far from
    real input (about half as many words recognised), so the first utterance a
    recogniser hears is held and decoded in one pass on ``finish``, normalised over all
    of itself; every later one starts from the mean the previous one ended with. The mean
    belongs to one caller's line: each call gets its own recogniser (``for_call``),
    sharing only the pooled decoders.
    """

    name = "pocketsphinx"
    sample_rate = RATE
    blocking = True

    def __init__(self, keep_decoders: int | None = None, pool: _DecoderPool | None = None):
        self._pool = pool or _DecoderPool(keep_decoders or os.cpu_count() or 2)
        self.cmn: str | None = None  # learned from this recogniser's latest utterance

    def for_call(self) -> PocketSphinxSTT:
        return PocketSphinxSTT(pool=self._pool)

    def open(self, language: str | None = None) -> _SphinxUtterance:
        if language is not None and language.lower().replace("_", "-") not in _ENGLISH:
            raise ProviderError(
                f"pocketsphinx only has a US English model (en, en-US), not {language!r}"
            )
        return _SphinxUtterance(self, self._pool)


class _SphinxUtterance:
    def __init__(self, recogniser: PocketSphinxSTT, pool: _DecoderPool) -> None:
        self._recogniser = recogniser
        self._pool = pool
        self._decoder: Decoder | None = None  # taken at the first audio
        self._held: list[bytes] | None = [] if recogniser.cmn is None else None
        self._rng = np.random.default_rng(0)

    def feed(self, samples: Samples) -> None:
        noise = self._rng.normal(0, NOISE_FLOOR, len(samples))
        audio = np.clip(samples + noise, -32768, 32767).astype(np.int16).tobytes()
        if self._held is not None:
            self._held.append(audio)
            return
        try:
            if self._decoder is None:
                self._decoder = self._pool.take(self._recogniser.cmn)
                self._decoder.start_utt()
            self._decoder.process_raw(audio, False, False)
        except RuntimeError as error:
            raise self._failed(error) from error

    def finish(self) -> str:
        if self._held:
            self._decoder = self._pool.take(None)
            try:
                self._decoder.start_utt()
                # full_utt: the cepstral mean of this very utterance
                self._decoder.process_raw(b"".join(self._held), False, True)
            except RuntimeError as error:
                raise self._failed(error) from error
        self._held = None
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return ""
        try:
            decoder.end_utt()
            hypothesis = decoder.hyp()
            self._recogniser.cmn = decoder.get_cmn()
        except RuntimeError as error:
            raise self._failed(error) from error
        self._pool.give_back(decoder)
        return hypothesis.hypstr if hypothesis is not None else ""

    def _failed(self, error: RuntimeError) -> ProviderError:
        self._decoder = None  # dropped, not given back: its state is unknown
        return ProviderError(f"pocketsphinx failed: {error}")


class PassthroughSTT:
    """Recognises nothing: the text says how much audio came, at no recognition cost
    (to measure the rest of the pipeline)."""

    name = "passthrough"
    sample_rate = RATE
    blocking = False  # counting samples: a thread hop would cost more than the work

    def for_call(self) -> PassthroughSTT:
        return self

    def open(self, language: str | None = None) -> _CountingUtterance:
        return _CountingUtterance()


class _CountingUtterance:
    def __init__(self) -> None:
        self._samples = 0

    def feed(self, samples: Samples) -> None:
        self._samples += len(samples)

    def finish(self) -> str:
        return f"[speech {self._samples / RATE:.2f} s]" if self._samples else ""
