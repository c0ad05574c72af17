"""The small interfaces every provider implements.

Audio inside openline is mono signed 16-bit PCM held in ``numpy.int16`` arrays; each
provider says which sample rate it works at and the pipeline resamples to it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Samples = np.ndarray  # 1-D numpy.int16


class ProviderError(RuntimeError):
    """A provider could not do its job (missing binary, refused request, bad voice…)."""


class Transcription(Protocol):
    """One utterance being recognised. When its recogniser is ``blocking``, the calls
    are run off the event loop."""

    def feed(self, samples: Samples) -> None: ...
    def finish(self) -> str: ...  # the final text ("" when nothing was recognised)


class SpeechToText(Protocol):
    name: str
    sample_rate: int
    blocking: bool  # open/feed/finish take real time (CPU, network): worth a worker thread

    def for_call(self) -> SpeechToText:
        """The recogniser one call uses: what it learns of a caller's voice or line
        (channel normalisation, say) stays within that call."""

    def open(self, language: str | None = None) -> Transcription: ...


class TextToSpeech(Protocol):
    name: str
    sample_rate: int

    def check_voice(self, voice: str | None, language: str | None) -> None:
        """Raise ProviderError when this provider cannot speak with that voice/language."""

    def synthesize(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> AsyncGenerator[Samples]: ...  # chunks at ``sample_rate``, as soon as they exist


@dataclass(frozen=True)
class SpeechEdge:
    """The caller started or stopped speaking at ``sample`` (16 kHz, from the first fed sample)."""

    kind: Literal["start", "end"]
    sample: int


class TurnDetector(Protocol):
    """Voice activity → turn edges, fed 16 kHz audio in chunks of any size."""

    end_of_turn_ms: int  # silence that ends a turn (reported as a turn's vad_buffer_ms)

    def feed(self, samples: Samples) -> list[SpeechEdge]: ...
