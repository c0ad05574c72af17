"""Turn detection on real speech, tones and silence."""

from __future__ import annotations

import numpy as np
import pytest

from openline.voice.base import SpeechEdge
from openline.voice.vad import EnergyTurnDetector, WebRtcTurnDetector
from tests.voice.speech import RATE, loud_span, silence, spoken, tone

DETECTORS = [WebRtcTurnDetector, EnergyTurnDetector]
SENTENCE = "I would like to check the status of my order please"


def feed(detector, audio: np.ndarray, chunk: int = 333) -> list[SpeechEdge]:
    """Feed in chunks that never line up with the detector's 30 ms frames."""
    return [
        edge for i in range(0, len(audio), chunk) for edge in detector.feed(audio[i : i + chunk])
    ]


@pytest.mark.parametrize("make", DETECTORS)
def test_silence_and_quiet_noise_are_no_turn(make):
    noise = np.random.default_rng(3).normal(0, 30, 3 * RATE).astype(np.int16)  # about -60 dBFS
    detector = make()
    assert feed(detector, silence(3)) == []
    assert feed(detector, noise) == []


@pytest.mark.parametrize("make", DETECTORS)
def test_speech_is_one_turn_from_its_onset(make):
    speech = spoken(SENTENCE)
    onset, last = loud_span(speech)
    audio = np.concatenate([silence(1), speech, silence(1)])
    edges = feed(make(), audio)
    assert [edge.kind for edge in edges] == ["start", "end"]
    start, end = (edge.sample for edge in edges)
    assert abs(start - (RATE + onset)) <= 0.1 * RATE  # where the speech began, not later
    assert RATE + last - 0.1 * RATE <= end <= RATE + last + 0.15 * RATE


def test_end_comes_after_exactly_end_of_turn_ms_of_silence():
    detector = EnergyTurnDetector(end_of_turn_ms=600)
    assert feed(detector, tone(0.99)) == [SpeechEdge("start", 0)]  # 33 frames of 30 ms
    assert feed(detector, silence(0.6)[:-1]) == []
    assert detector.feed(silence(0.6)[-1:]) == [SpeechEdge("end", round(0.99 * RATE))]


def test_a_pause_shorter_than_end_of_turn_keeps_the_turn():
    detector = EnergyTurnDetector(end_of_turn_ms=600)
    audio = np.concatenate([tone(0.5), silence(0.4), tone(0.5), silence(1)])
    edges = feed(detector, audio)
    assert edges == [SpeechEdge("start", 0), SpeechEdge("end", 1.41 * RATE)]


def test_two_turns():
    audio = np.concatenate([silence(0.3), tone(0.6), silence(1), tone(0.6), silence(1)])
    edges = feed(EnergyTurnDetector(end_of_turn_ms=500), audio)
    assert [edge.kind for edge in edges] == ["start", "end", "start", "end"]
    assert [edge.sample / RATE for edge in edges] == pytest.approx([0.3, 0.9, 1.9, 2.5], abs=0.031)


def test_a_click_is_not_a_turn():
    audio = np.concatenate([silence(0.5), tone(0.06, amplitude=20000), silence(1)])
    assert feed(EnergyTurnDetector(start_ms=150), audio) == []


def test_energy_threshold():
    quiet = tone(1.0, amplitude=100)  # about -50 dBFS
    assert feed(EnergyTurnDetector(threshold_dbfs=-40), quiet) == []
    assert [e.kind for e in feed(EnergyTurnDetector(threshold_dbfs=-60), quiet)] == ["start"]


@pytest.mark.parametrize("make", DETECTORS)
def test_edges_do_not_depend_on_chunk_sizes(make):
    audio = np.concatenate([silence(0.7), spoken(SENTENCE), silence(1)])
    whole = make().feed(audio)
    assert len(whole) == 2
    assert feed(make(), audio, chunk=160) == whole
    assert feed(make(), audio, chunk=4801) == whole
