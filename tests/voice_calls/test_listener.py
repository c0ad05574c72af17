"""The listener on its own: endless speech is cut into turns; nothing is lost between."""

from __future__ import annotations

import itertools

import numpy as np

from openline.harness.listener import Listener, ListenerEvents, Speech
from openline.voice.audio import audio_format
from openline.voice.stt import PassthroughSTT
from openline.voice.vad import EnergyTurnDetector


async def test_speech_that_never_pauses_is_cut_into_turns():
    heard: list[Speech] = []
    starts: list[float] = []
    clock = {"now": 0.0}

    async def started(at: float) -> None:
        starts.append(at)

    async def on_heard(speech: Speech) -> None:
        heard.append(speech)

    async def failed(problem: str) -> None:
        raise AssertionError(problem)

    listener = Listener(
        audio_format("pcm_16000"),
        EnergyTurnDetector(),
        PassthroughSTT(),
        lambda: clock["now"],
        ListenerEvents(lambda at, samples: None, started, on_heard, failed),
        max_turn_s=1.0,
    )
    tone = (8000 * np.sin(np.arange(320) * 2 * np.pi * 200 / 16000)).astype(np.int16)
    for _ in range(175):  # 3.5 s of sound, in 20 ms chunks, arriving in real time
        await listener.hear(tone)
        clock["now"] += 0.02
    await listener.close()
    assert len(starts) == len(heard) == 4  # three whole turns and the rest at the end
    assert all(speech.text.startswith("[speech ") for speech in heard)
    for earlier, later in itertools.pairwise(heard):
        assert abs(later.start - earlier.end) < 0.05  # back to back: no audio dropped
    assert all(speech.end - speech.start <= 1.05 for speech in heard)
