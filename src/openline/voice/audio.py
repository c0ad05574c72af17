"""Wire formats of call audio, G.711 µ-law, and resampling between sample rates.

Call audio arrives and leaves as base64 text in JSON (the client protocol, docs/api.md).
Inside openline it is mono ``numpy.int16`` at whatever rate the next stage wants.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

import numpy as np
import soxr

from openline.protocol.client import INPUT_FORMATS
from openline.voice.base import Samples


class AudioError(ValueError):
    """Audio a client sent (or asked for) that openline cannot take; the message says why."""


@dataclass(frozen=True)
class AudioFormat:
    name: str
    encoding: Literal["mulaw", "pcm_s16le"]
    sample_rate: int


def _named(name: str) -> AudioFormat:
    """``mulaw_8000`` → µ-law at 8000 Hz, ``pcm_16000`` → 16-bit PCM at 16000 Hz."""
    codec, rate = name.rsplit("_", 1)
    return AudioFormat(name, "mulaw" if codec == "mulaw" else "pcm_s16le", int(rate))


FORMATS: dict[str, AudioFormat] = {name: _named(name) for name in INPUT_FORMATS}


def audio_format(name: str) -> AudioFormat:
    try:
        return FORMATS[name]
    except KeyError:
        accepted = ", ".join(FORMATS)
        raise AudioError(f"unknown audio format {name!r}; use one of: {accepted}") from None


# -- payloads -------------------------------------------------------------------------


def decode_payload(payload: str, fmt: AudioFormat) -> Samples:
    """One client audio message (base64 text) → samples at ``fmt.sample_rate``."""
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise AudioError(f"{fmt.name} audio payload is not valid base64") from None
    if fmt.encoding == "mulaw":
        return mulaw_decode(raw)
    if len(raw) % 2:
        raise AudioError(
            f"{fmt.name} audio payload is {len(raw):,} bytes; 16-bit PCM needs an even number"
        )
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)  # a writable, native copy


def encode_payload(samples: Samples, fmt: AudioFormat) -> str:
    """Samples already at ``fmt.sample_rate`` → base64 text for a client audio message."""
    if fmt.encoding == "mulaw":
        raw = mulaw_encode(samples)
    else:
        raw = np.asarray(samples, dtype="<i2").tobytes()
    return base64.b64encode(raw).decode("ascii")


class PcmBytes:
    """16-bit little-endian PCM arriving as bytes cut anywhere (a pipe, an HTTP body)
    → whole samples; a sample split between two pieces waits for its second byte."""

    def __init__(self) -> None:
        self._rest = b""

    def push(self, data: bytes) -> Samples:
        data = self._rest + data
        whole = len(data) - len(data) % 2
        self._rest = data[whole:]
        return np.frombuffer(data[:whole], dtype="<i2").astype(np.int16)


# -- G.711 µ-law ----------------------------------------------------------------------
# The ITU-T G.711 segment coding: add a bias, find the segment (exponent) from the
# highest set bit, keep four mantissa bits, invert every bit of the byte. Both
# directions are precomputed tables, so coding a chunk is one numpy indexing operation.

_BIAS = 0x84
_CLIP = 32635


def _encode_table() -> np.ndarray:
    linear = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(linear < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(linear), _CLIP) + _BIAS
    exponent = np.searchsorted([2, 4, 8, 16, 32, 64, 128], magnitude >> 7, side="right")
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    coded = ~(sign | exponent << 4 | mantissa) & 0xFF
    # indexed by the sample's bits read as uint16: 0..32767, then -32768..-1
    return np.roll(coded.astype(np.uint8), -32768)


def _decode_table() -> np.ndarray:
    coded = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (coded >> 4) & 0x07
    magnitude = ((((coded & 0x0F) << 3) + _BIAS) << exponent) - _BIAS
    return np.where(coded & 0x80, -magnitude, magnitude).astype(np.int16)


_MULAW_OF = _encode_table()
_LINEAR_OF = _decode_table()


def mulaw_encode(samples: Samples) -> bytes:
    return _MULAW_OF[np.asarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def mulaw_decode(data: bytes) -> Samples:
    return _LINEAR_OF[np.frombuffer(data, dtype=np.uint8)]


# -- loudness ---------------------------------------------------------------------------

VOICED_DBFS = -40.0  # as loud as this counts as voice, not silence or line noise
ONSET_WINDOW_S = 0.005
_VOICED_POWER = (32768.0 * 10 ** (VOICED_DBFS / 20)) ** 2  # mean square: no square roots


def voiced_windows(samples: Samples, rate: int) -> tuple[np.ndarray, int]:
    """Which ``ONSET_WINDOW_S`` windows of ``samples`` are at least ``VOICED_DBFS`` loud
    (their indices), and how many samples a window is (a last partial one is left out)."""
    window = max(1, round(rate * ONSET_WINDOW_S))
    whole = len(samples) // window * window
    windows = np.asarray(samples[:whole], dtype=np.float64).reshape(-1, window)
    return np.flatnonzero(np.mean(np.square(windows), axis=1) >= _VOICED_POWER), window


def voice_onset(samples: Samples, rate: int) -> int | None:
    """The first sample of the first voiced window of ``samples``; None when none is."""
    loud, window = voiced_windows(samples, rate)
    return int(loud[0]) * window if len(loud) else None


# -- resampling -----------------------------------------------------------------------


class Resampler:
    """Streaming rate conversion for one audio stream: chunks of any size in, the
    converted audio out as soon as soxr has it (it holds back a few ms of filter delay
    until ``flush``)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, "int16")
        )

    def process(self, samples: Samples) -> Samples:
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(np.ascontiguousarray(samples, dtype=np.int16))

    def flush(self) -> Samples:
        """The end of the stream: what soxr still held. Call once, at the end."""
        if self._stream is None:
            return np.zeros(0, np.int16)
        return self._stream.resample_chunk(np.zeros(0, np.int16), last=True)


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """One whole piece of audio to another rate."""
    if from_rate == to_rate:
        return samples
    return soxr.resample(np.ascontiguousarray(samples, dtype=np.int16), from_rate, to_rate)
