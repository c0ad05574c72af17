"""``GET /agents/calls/{call_id}/audio/peaks``: a recording's waveform as per-channel
min/max peaks, so a page can draw an hour-long call without downloading its WAV.

Peaks are computed once from the stored WAV at a fixed resolution (10 ms blocks) and
cached in ``<data dir>/cache/peaks/<call_id>.peaks``; a request's points are reduced from
that cache. While the call runs its recording grows (flushed about once a second): the
cache holds the whole blocks read so far and each request adds only the blocks written
since, so every sample is read once. A recording shorter than what was cached (cut at the
call's end) is read again from its start. The cache is derived data: deleting it is safe.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from openline.api._params import Text
from openline.api.deps import PlatformDep, authenticated
from openline.api.errors import ApiError, not_found
from openline.domain.calls import CallStatus
from openline.platform import Platform
from openline.store.blobs import BlobStore, recording_key

BLOCKS_PER_S = 100  # the cached resolution: one min/max pair per channel every 10 ms
MAX_POINTS = 20_000
CACHE_DIR = Path("cache") / "peaks"
_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # the recorder's canonical 44 bytes
_CACHE_HEADER = struct.Struct("<4sIIQ?")  # magic, sample rate, block frames, frames, complete
_MAGIC = b"OLPK"
_PIECE_BLOCKS = 4096  # blocks read from the WAV at a time (~2.6 MB at 16 kHz stereo)

router = APIRouter(prefix="/agents/calls", dependencies=[Depends(authenticated)], tags=["calls"])


class ChannelPeaks(BaseModel):
    min: list[int]
    max: list[int]


class Peaks(BaseModel):
    call_id: str
    sample_rate: int
    duration: float  # seconds of audio in the file (so far, while the call runs)
    complete: bool  # false while the call is in progress: the file still grows
    start: float  # seconds: where the first point begins
    seconds_per_point: float
    channels: dict[str, ChannelPeaks]  # "caller" (left) and "agent" (right)


@router.get("/{call_id}/audio/peaks")
def call_audio_peaks(
    call_id: Text,
    ol: PlatformDep,
    points: Annotated[int, Query(ge=1, le=MAX_POINTS, description="at most this many")] = 1000,
    start: Annotated[float, Query(ge=0, le=86_400, allow_inf_nan=False)] = 0.0,
    end: Annotated[float | None, Query(gt=0, le=86_400, allow_inf_nan=False)] = None,
) -> Peaks:
    """Each channel's lowest and highest sample (the top 8 bits: −128…127) in ``points``
    equal slices of ``start``–``end`` seconds (default: the whole recording), at most one
    per 10 ms, so fewer points than asked when zoomed in that far."""
    if end is not None and end <= start:
        raise ApiError(422, "end: must be after start")
    call = ol.calls.get(call_id)
    if call is None:
        raise not_found("call", call_id)
    found = cached_peaks(ol, call_id, complete=call["status"] != CallStatus.STARTED.value)
    if found is None:
        raise ApiError(404, f"call {call_id!r} has no recording")
    return found.window(call_id, points, start, end)


@dataclass(frozen=True)
class BlockPeaks:
    """A recording's peaks per block: ``values`` is int8, shape (blocks, 4): caller min,
    caller max, agent min, agent max."""

    sample_rate: int
    block_frames: int
    frames: int  # of the recording the blocks cover
    complete: bool  # the blocks cover the finished recording, to its last frame
    values: np.ndarray

    def window(self, call_id: str, points: int, start: float, end: float | None) -> Peaks:
        block_s = self.block_frames / self.sample_rate
        first = min(len(self.values), math.floor(start / block_s))
        last = len(self.values) if end is None else min(len(self.values), math.ceil(end / block_s))
        span = self.values[first:last]
        per = max(1, math.ceil(len(span) / points))
        starts = np.arange(0, len(span), per)
        lows = np.minimum.reduceat(span[:, 0::2], starts) if len(span) else span[:, 0::2]
        highs = np.maximum.reduceat(span[:, 1::2], starts) if len(span) else span[:, 1::2]
        return Peaks(
            call_id=call_id,
            sample_rate=self.sample_rate,
            duration=self.frames / self.sample_rate,
            complete=self.complete,
            start=first * block_s,
            seconds_per_point=per * block_s,
            channels={
                name: ChannelPeaks(min=lows[:, c].tolist(), max=highs[:, c].tolist())
                for c, name in enumerate(("caller", "agent"))
            },
        )


def cache_path(ol: Platform, call_id: str) -> Path:
    return ol.settings.data_dir / CACHE_DIR / f"{call_id}.peaks"


def cached_peaks(ol: Platform, call_id: str, complete: bool) -> BlockPeaks | None:
    """The recording's block peaks, from the cache and extended by what was written since;
    None when there is no recording (a stale cache of a deleted one is removed)."""
    key = recording_key(call_id)
    path = cache_path(ol, call_id)
    size = ol.blobs.size(key)
    if size is None:
        path.unlink(missing_ok=True)
        return None
    rate = _sample_rate(b"".join(_read(ol.blobs, key, 0, _WAV_HEADER.size)))
    block = rate // BLOCKS_PER_S
    frames = max(0, size - _WAV_HEADER.size) // 4
    # While the call runs, only whole blocks: the last one is still being written.
    until = frames if complete else frames - frames % block
    known = _load(path, rate, block)
    if known is not None and (known.frames, known.complete) == (until, complete):
        return known
    if known is not None and (known.complete or known.frames > until):
        known = None  # the file was cut at the call's end, or replaced: start again
    done = known.values if known is not None else np.zeros((0, 4), np.int8)
    added = _block_peaks(_read_frames(ol.blobs, key, len(done) * block, until, block), block)
    found = BlockPeaks(rate, block, until, complete, np.concatenate([done, *added]))
    _store(path, found)
    return found


def _sample_rate(header: bytes) -> int:
    if len(header) < _WAV_HEADER.size:
        raise ApiError(409, "the recording has no complete WAV header yet")
    riff, _, wave, fmt, _, pcm, channels, rate, _, _, bits, data, _ = _WAV_HEADER.unpack(header)
    if (riff, wave, fmt, data, pcm, channels, bits) != (
        b"RIFF",
        b"WAVE",
        b"fmt ",
        b"data",
        1,
        2,
        16,
    ):
        raise ApiError(409, "the recording is not the 16-bit stereo PCM WAV openline writes")
    return rate


def _read(blobs: BlobStore, key: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes of the blob; a recording still being written is read from its local file
    (an S3 store uploads it only when the call ends)."""
    path = blobs.local_path(key)
    if path is None:
        yield from blobs.read_range(key, start, end)
        return
    with path.open("rb") as file:
        file.seek(start)
        while start < end:
            chunk = file.read(min(1 << 22, end - start))
            if not chunk:
                return
            start += len(chunk)
            yield chunk


def _read_frames(
    blobs: BlobStore, key: str, first: int, until: int, block: int
) -> Iterator[np.ndarray]:
    """Frames ``first``–``until`` as int16 arrays of shape (n, 2), whole blocks at a time
    (the last piece may end in a partial block)."""
    piece = _PIECE_BLOCKS * block * 4
    pending = bytearray()
    offset = _WAV_HEADER.size + 4 * first
    for chunk in _read(blobs, key, offset, _WAV_HEADER.size + 4 * until):
        pending += chunk
        if len(pending) >= piece:
            whole = len(pending) - len(pending) % (block * 4)
            yield np.frombuffer(bytes(pending[:whole]), "<i2").reshape(-1, 2)
            del pending[:whole]
    del pending[len(pending) - len(pending) % 4 :]
    if pending:
        yield np.frombuffer(bytes(pending), "<i2").reshape(-1, 2)


def _block_peaks(pieces: Iterator[np.ndarray], block: int) -> list[np.ndarray]:
    found = []
    for frames in pieces:
        high = frames.astype(np.int16) >> 8  # the top 8 bits: −128…127
        starts = np.arange(0, len(high), block)
        lows = np.minimum.reduceat(high, starts)
        highs = np.maximum.reduceat(high, starts)
        found.append(
            np.stack([lows[:, 0], highs[:, 0], lows[:, 1], highs[:, 1]], 1).astype(np.int8)
        )
    return found


def _load(path: Path, rate: int, block: int) -> BlockPeaks | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < _CACHE_HEADER.size:
        return None
    magic, cached_rate, cached_block, frames, complete = _CACHE_HEADER.unpack_from(raw)
    values = np.frombuffer(raw, np.int8, offset=_CACHE_HEADER.size)
    if (magic, cached_rate, cached_block) != (_MAGIC, rate, block) or len(values) % 4:
        return None
    return BlockPeaks(rate, block, frames, complete, values.reshape(-1, 4))


def _store(path: Path, peaks: BlockPeaks) -> None:
    """Written aside and renamed: a reader never sees half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = _CACHE_HEADER.pack(
        _MAGIC, peaks.sample_rate, peaks.block_frames, peaks.frames, peaks.complete
    )
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as spool:
        spool.write(header + peaks.values.tobytes())
    os.replace(spool.name, path)
