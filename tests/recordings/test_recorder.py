"""The call recorder: a stereo WAV on the call's timeline, playable after every flush."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np

from openline.harness.recorder import CallRecorder
from tests.support.recordings import RATE, tone


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    """The file's parameters and its frames as (n, 2) int16: [:, 0] left, [:, 1] right."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        frames = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, frames.reshape(-1, 2)


def energy(samples: np.ndarray) -> float:
    return float(np.mean(samples.astype(np.float64) ** 2)) if len(samples) else 0.0


def at(seconds: float) -> int:
    return round(seconds * RATE)


def test_caller_left_agent_right_at_their_times_silence_between(tmp_path):
    path = tmp_path / "call.wav"
    caller, agent = tone(0.5, 440), tone(0.5, 660)
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.5, caller)
        recorder.add("agent", 2.5, agent)  # past the first buffer: it grows
        duration = recorder.close(3.0)
    params, frames = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 16000)
    assert duration == 3.0 and params.nframes == at(3.0)
    left, right = frames[:, 0], frames[:, 1]
    assert np.array_equal(left[at(0.5) : at(1.0)], caller)
    assert np.array_equal(right[at(2.5) : at(3.0)], agent)
    assert energy(left[at(0.5) : at(1.0)]) > 1e6
    assert energy(right[at(2.5) : at(3.0)]) > 1e6
    # Nobody else anywhere: each side is silent outside its own speech.
    assert not left[: at(0.5)].any() and not left[at(1.0) :].any()
    assert not right[: at(2.5)].any()


def test_the_file_is_a_valid_wav_after_every_flush(tmp_path):
    path = tmp_path / "call.wav"
    chunk = tone(0.02)  # 20 ms, as a pipeline sends it
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        params, _ = read_wav(path)
        assert params.nframes == 0  # playable (empty) from the start
        for n in range(150):  # 3 s of caller audio
            recorder.add("caller", n * 0.02, chunk)
            if n % 25 == 24:
                now = (n + 1) * 0.02
                recorder.flush(now - 1.0)  # the session lags a second behind
                params, frames = read_wav(path)  # read by another handle, mid-call
                assert params.nframes == max(at(now - 1.0), 0) == len(frames)
                assert path.stat().st_size == 44 + 4 * params.nframes
                assert np.array_equal(frames[:, 0], np.tile(chunk, 150)[: params.nframes])
        recorder.close(3.0)
    params, frames = read_wav(path)
    assert params.nframes == at(3.0)
    assert np.array_equal(frames[:, 0], np.tile(chunk, 150))


def test_duration_is_the_call_duration_to_the_sample(tmp_path):
    path = tmp_path / "call.wav"
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        recorder.add("agent", 0.0, tone(5.0))  # audio past the end is cut off
        assert recorder.close(2.34567) == at(2.34567) / RATE
        assert recorder.close(9.0) == at(2.34567) / RATE  # closing twice changes nothing
    params, frames = read_wav(path)
    assert params.nframes == at(2.34567) == len(frames)

    # A flush that ran past the end the call settled on is cut back to it.
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.0, tone(3.0))
        recorder.flush(3.0)
        assert recorder.close(2.5) == 2.5
    params, frames = read_wav(path)
    assert params.nframes == at(2.5) == len(frames)
    assert path.stat().st_size == 44 + 4 * at(2.5)

    # A call nobody spoke in is silence of the call's length.
    with path.open("w+b") as file:
        assert CallRecorder(file, sample_rate=8000).close(1.5) == 1.5
    params, frames = read_wav(path)
    assert (params.framerate, params.nframes) == (8000, 12000) and not frames.any()


def test_late_audio_is_dropped_and_counted(tmp_path):
    path = tmp_path / "call.wav"
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        recorder.flush(1.0)
        recorder.add("caller", 0.9, tone(0.2))  # half of it is for time already written
        assert recorder.late_samples == at(0.1)
        recorder.add("agent", 0.2, tone(0.1))  # all of it
        assert recorder.late_samples == at(0.1) + at(0.1)
        recorder.close(2.0)
        recorder.add("caller", 2.5, tone(0.1))  # after the end
        recorder.flush(3.0)  # does nothing once closed
        assert recorder.late_samples == at(0.3)
    params, frames = read_wav(path)
    assert params.nframes == at(2.0)
    assert not frames[: at(1.0)].any()  # the late audio is nowhere
    assert np.array_equal(frames[at(1.0) : at(1.1), 0], tone(0.2)[at(0.1) :])
    assert not frames[:, 1].any()


def test_overlapping_audio_on_a_side_mixes_and_clips(tmp_path):
    path = tmp_path / "call.wav"
    with path.open("w+b") as file:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.0, np.full(100, 1000, dtype=np.int16))
        recorder.add("caller", 0.0, np.full(50, 2000, dtype=np.int16))
        recorder.add("agent", 0.0, np.full(100, 30000, dtype=np.int16))
        recorder.add("agent", 0.0, np.full(100, 30000, dtype=np.int16))
        recorder.add("agent", 0.01, np.full(100, -30000, dtype=np.int16))
        recorder.add("agent", 0.01, np.full(100, -30000, dtype=np.int16))
        recorder.close(0.02)
    _, frames = read_wav(path)
    assert list(frames[:100, 0]) == [3000] * 50 + [1000] * 50
    assert list(frames[:100, 1]) == [32767] * 100
    assert list(frames[160:260, 1]) == [-32768] * 100


def test_flushing_from_another_thread_while_audio_arrives(tmp_path):
    """The session's shape: add on one thread, flush a lag behind on another."""
    path = tmp_path / "call.wav"
    chunk = tone(0.02, 300)
    placed_until = 0.0
    done = threading.Event()
    with path.open("w+b") as file:
        recorder = CallRecorder(file)

        def flusher() -> None:
            while not done.is_set():
                recorder.flush(max(placed_until - 0.1, 0.0))

        thread = threading.Thread(target=flusher)
        thread.start()
        for n in range(1000):  # 20 s
            recorder.add("caller", n * 0.02, chunk)
            recorder.add("agent", n * 0.02, chunk)
            placed_until = (n + 1) * 0.02
        done.set()
        thread.join()
        recorder.close(20.0)
    _, frames = read_wav(path)
    assert recorder.late_samples == 0
    assert np.array_equal(frames[:, 0], np.tile(chunk, 1000))
    assert np.array_equal(frames[:, 1], np.tile(chunk, 1000))
