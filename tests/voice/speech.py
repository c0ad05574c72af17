"""Speech for the voice tests: real espeak-ng output, resampled to 16 kHz."""

from __future__ import annotations

import functools
import subprocess
import wave
from io import BytesIO

import numpy as np

from openline.voice.audio import resample

RATE = 16_000


@functools.cache
def spoken(text: str, voice: str = "en-us") -> np.ndarray:
    """``text`` said by espeak-ng (run directly, not through the provider under test)."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, text], capture_output=True, check=True
    ).stdout
    with wave.open(BytesIO(wav)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        return resample(samples, reader.getframerate(), RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.int16)


def tone(seconds: float, amplitude: float = 3000.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def loud_span(samples: np.ndarray, threshold: int = 300) -> tuple[int, int]:
    """First and last sample louder than ``threshold``."""
    loud = np.nonzero(np.abs(samples.astype(np.int32)) > threshold)[0]
    return int(loud[0]), int(loud[-1])
