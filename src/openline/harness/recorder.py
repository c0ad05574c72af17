"""A call's recording: one stereo WAV on the call's timeline, caller left, agent right.

Audio arrives in small chunks from the event loop (``add``) and is only mixed into an
in-memory buffer there. A thread writes it out about once a second (``flush``), and
every flush leaves a complete, playable file on disk — header sizes included — so a
crash mid-call loses at most the last unflushed second.
"""

from __future__ import annotations

import struct
import threading
from typing import IO, Literal

import numpy as np

Channel = Literal["caller", "agent"]

_CHANNELS = {"caller": 0, "agent": 1}  # WAV frames are interleaved left, right
_FRAME_BYTES = 4  # two 16-bit samples
_HEADER_BYTES = 44
_RIFF_SIZE_AT = 4  # RIFF chunk size: everything after its first 8 bytes
_DATA_SIZE_AT = 40
_INITIAL_FRAMES = 1 << 15  # ~2 s at 16 kHz; the buffer doubles when audio runs ahead


class CallRecorder:
    """Writes a 16-bit stereo PCM WAV into ``file`` (seekable; the caller owns it and
    closes it after :meth:`close`). Times are seconds from call start."""

    def __init__(self, file: IO[bytes], sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.late_samples = 0  # samples dropped: they arrived for time already written
        self._file = file
        self._buffer = np.zeros((_INITIAL_FRAMES, 2), dtype=np.int16)
        self._buffered = 0  # frames of the buffer holding audio (the rest is silence)
        self._written = 0  # frames on disk; the buffer starts at this frame
        self._heard_until = [0, 0]  # per channel: the frame after its latest audio
        self._closed = False
        self._lock = threading.Lock()  # the buffer: add (event loop) vs flush (a thread)
        self._io_lock = threading.Lock()  # the file: flush vs close
        file.seek(0)
        file.write(_header(sample_rate, 0))
        file.flush()

    def add(self, channel: Channel, at: float, samples: np.ndarray) -> None:
        """Mix mono ``samples`` (int16, at the recorder's rate) into ``channel`` from ``at``."""
        column = _CHANNELS[channel]
        start = round(at * self.sample_rate)
        with self._lock:
            if self._closed:
                self.late_samples += len(samples)
                return
            if start < self._written:
                skipped = min(self._written - start, len(samples))
                self.late_samples += skipped
                samples, start = samples[skipped:], self._written
            if not len(samples):
                return
            offset = start - self._written
            end = offset + len(samples)
            self._reserve(end)
            region = self._buffer[offset:end, column]
            if start >= self._heard_until[column]:  # the usual case: nothing there to mix
                region[:] = samples
            else:
                mixed = region.astype(np.int32) + samples
                region[:] = np.clip(mixed, -32768, 32767)
            self._heard_until[column] = max(self._heard_until[column], start + len(samples))
            self._buffered = max(self._buffered, end)

    def flush(self, until: float) -> None:
        """Write every frame before ``until`` seconds (silence where nobody spoke)."""
        with self._io_lock:
            if not self._closed:
                self._write_until(round(until * self.sample_rate))

    def close(self, end: float) -> float:
        """Write the file up to ``end`` exactly (later audio is dropped) and return the
        duration in seconds. Further ``add`` and ``flush`` calls do nothing."""
        frames = round(end * self.sample_rate)
        with self._io_lock:
            if not self._closed:
                if frames < self._written:  # a flush ran past the end the call settled on
                    self._file.truncate(_HEADER_BYTES + frames * _FRAME_BYTES)
                    self._written = frames
                    self._patch_sizes()
                self._write_until(frames)
                with self._lock:
                    self._closed = True
                    self._buffer = np.zeros((0, 2), dtype=np.int16)
            return self._written / self.sample_rate

    def _write_until(self, frames: int) -> None:
        with self._lock:
            count = frames - self._written
            if count <= 0:
                return
            self._reserve(count)
            chunk = self._buffer[:count].copy()
            kept = max(self._buffered - count, 0)
            # Shift what is still ahead of ``frames`` to the front; clear what it leaves.
            self._buffer[:kept] = self._buffer[count : count + kept]
            self._buffer[kept : max(self._buffered, count)] = 0
            self._buffered = kept
            self._written = frames
        # The file is only touched under the io lock, never under the buffer's lock, so
        # ``add`` never waits on the disk. Data first, then the sizes that cover it: the
        # header never claims bytes that are not there.
        self._file.seek(0, 2)
        self._file.write(chunk.astype("<i2", copy=False).tobytes())
        self._patch_sizes()

    def _patch_sizes(self) -> None:
        data_bytes = self._written * _FRAME_BYTES
        self._file.seek(_RIFF_SIZE_AT)
        self._file.write(struct.pack("<I", _HEADER_BYTES - 8 + data_bytes))
        self._file.seek(_DATA_SIZE_AT)
        self._file.write(struct.pack("<I", data_bytes))
        # To the OS, not to the disk: a crashed process leaves a valid file either way,
        # and an fsync per call every second costs more than surviving a power cut is
        # worth for a recording.
        self._file.flush()

    def _reserve(self, frames: int) -> None:
        if frames > len(self._buffer):
            grown = np.zeros((max(frames, 2 * len(self._buffer)), 2), dtype=np.int16)
            grown[: self._buffered] = self._buffer[: self._buffered]
            self._buffer = grown


def _header(sample_rate: int, data_bytes: int) -> bytes:
    """The canonical 44-byte header of 16-bit stereo PCM."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        _HEADER_BYTES - 8 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,  # fmt chunk size
        1,  # PCM
        2,  # channels
        sample_rate,
        sample_rate * _FRAME_BYTES,  # byte rate
        _FRAME_BYTES,  # block align
        16,  # bits per sample
        b"data",
        data_bytes,
    )
