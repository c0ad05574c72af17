"""Recordings for tests: a tone on each side of the call, written by the real recorder,
and a real S3 API (moto's server) on loopback."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import numpy as np
from moto.server import ThreadedMotoServer

from openline.harness.recorder import CallRecorder
from openline.store.blobs import BlobStore, recording_key
from tests.support.servers import free_port

RATE = 16000


def tone(seconds: float, hz: float = 440.0, level: int = 8000) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def record_call(blobs: BlobStore, call_id: str, seconds: float = 2.0) -> bytes:
    """Store a recording for ``call_id`` the way a voice call does: the caller speaks in
    the first half, the agent answers in the second. Returns the file's bytes."""
    key = recording_key(call_id)
    with blobs.open_for_writing(key) as file:
        recorder = CallRecorder(file)
        recorder.add("caller", 0.0, tone(seconds / 2, 440))
        recorder.add("agent", seconds / 2, tone(seconds / 2, 660))
        recorder.flush(seconds / 2)
        recorder.close(seconds)
        file.seek(0)
        content = file.read()
    blobs.commit(key)
    return content


@dataclass(frozen=True)
class S3:
    endpoint_url: str
    bucket: str

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint_url)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 API over real HTTP on loopback; yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def new_bucket(endpoint_url: str) -> S3:
    s3 = S3(endpoint_url, f"recordings-{uuid.uuid4().hex[:12]}")
    s3.client().create_bucket(Bucket=s3.bucket)
    return s3
