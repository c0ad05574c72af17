"""Turn detection: 30 ms frames classified voiced or not, then hysteresis into turn edges.

A turn starts once ``start_ms`` of voiced frames fall within a short window (so a click
or a breath does not start one), and is reported from where that speech began; it ends
after ``end_of_turn_ms`` of unvoiced frames, reported at the end of the last voiced one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import webrtcvad

from openline.voice.base import Samples, SpeechEdge

RATE = 16_000
FRAME = 480  # 30 ms at 16 kHz, one of the frame sizes webrtcvad accepts
FRAME_MS = 30


class HysteresisTurnDetector:
    """The TurnDetector for any frame classifier (``classify(frame) -> voiced``)."""

    def __init__(
        self,
        classify: Callable[[Samples], bool],
        end_of_turn_ms: int = 600,
        start_ms: int = 150,
    ) -> None:
        self.end_of_turn_ms = end_of_turn_ms
        self._classify = classify
        self._start_frames = max(1, -(-start_ms // FRAME_MS))
        self._end_frames = max(1, -(-end_of_turn_ms // FRAME_MS))
        # voiced frames only count towards a start when this close together (2 × start_ms)
        self._window: deque[bool] = deque(maxlen=2 * self._start_frames)
        self._pending = np.zeros(0, np.int16)
        self._frames = 0  # frames classified so far; frame i covers samples i*FRAME…
        self._speaking = False
        self._silent_frames = 0
        self._last_voiced_end = 0

    def feed(self, samples: Samples) -> list[SpeechEdge]:
        audio = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        usable = len(audio) - len(audio) % FRAME
        self._pending = audio[usable:].copy()
        edges: list[SpeechEdge] = []
        for offset in range(0, usable, FRAME):
            edge = self._step(self._classify(audio[offset : offset + FRAME]))
            if edge is not None:
                edges.append(edge)
        return edges

    def _step(self, voiced: bool) -> SpeechEdge | None:
        index = self._frames
        self._frames += 1
        if voiced:
            self._last_voiced_end = (index + 1) * FRAME
        if not self._speaking:
            self._window.append(voiced)
            if sum(self._window) < self._start_frames:
                return None
            first_voiced = index - len(self._window) + 1 + self._window.index(True)
            self._window.clear()
            self._speaking, self._silent_frames = True, 0
            return SpeechEdge("start", first_voiced * FRAME)
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        if self._silent_frames < self._end_frames:
            return None
        self._speaking = False
        return SpeechEdge("end", self._last_voiced_end)


class WebRtcTurnDetector(HysteresisTurnDetector):
    """Frames classified by WebRTC's voice activity detector (speech, not just sound)."""

    def __init__(
        self, end_of_turn_ms: int = 600, start_ms: int = 150, aggressiveness: int = 2
    ) -> None:
        vad = webrtcvad.Vad(aggressiveness)
        super().__init__(
            lambda frame: vad.is_speech(frame.tobytes(), RATE), end_of_turn_ms, start_ms
        )


class EnergyTurnDetector(HysteresisTurnDetector):
    """Frames classified by loudness alone: any sound above ``threshold_dbfs`` counts
    (tones included, which WebRTC's detector may not take for speech)."""

    def __init__(
        self, end_of_turn_ms: int = 600, start_ms: int = 150, threshold_dbfs: float = -40.0
    ) -> None:
        # compare mean squares, not RMS: no square root per frame
        floor = (32768.0 * 10 ** (threshold_dbfs / 20)) ** 2

        def loud(frame: Samples) -> bool:
            return float(np.mean(np.square(frame, dtype=np.float64))) >= floor

        super().__init__(loud, end_of_turn_ms, start_ms)
