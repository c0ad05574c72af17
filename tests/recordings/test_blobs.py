"""Blob stores: local files, and S3 through moto's real HTTP server on loopback."""

from __future__ import annotations

import os

import pytest

from openline.store.blobs import LocalBlobStore, S3BlobStore, recording_key

CONTENT = bytes(range(256)) * 1000  # bigger than one read chunk


def write(store, key: str, content: bytes = CONTENT) -> None:
    with store.open_for_writing(key) as file:
        file.write(content[:10])
        file.seek(0)  # writers patch what they wrote (a WAV header)
        file.write(b"X")
        file.seek(0, os.SEEK_END)
        file.write(content[10:])
    store.commit(key)


def expected(content: bytes = CONTENT) -> bytes:
    return b"X" + content[1:]


def read(store, key: str, start: int, end: int) -> bytes:
    return b"".join(store.read_range(key, start, end))


def test_recording_key():
    assert recording_key("call_01abc") == "recordings/call_01abc.wav"


def test_local_store_round_trip(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    key = recording_key("call_1")
    assert store.size(key) is None and store.local_path(key) is None
    write(store, key)
    assert store.local_path(key) == tmp_path / "blobs" / "recordings" / "call_1.wav"
    assert store.size(key) == len(CONTENT)
    assert read(store, key, 0, len(CONTENT)) == expected()
    assert read(store, key, 70_000, 140_001) == expected()[70_000:140_001]
    store.delete(key)
    store.delete(key)  # deleting what is gone is fine
    assert store.size(key) is None and store.local_path(key) is None


def test_keys_never_leave_the_store(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        store.open_for_writing("recordings/../../outside.wav")
    with pytest.raises(ValueError):
        store.local_path("/etc/passwd")


def s3_store(s3, spool, prefix="rec/") -> S3BlobStore:
    return S3BlobStore(s3.bucket, prefix, spool, s3.endpoint_url)


def object_keys(s3) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_s3_store_spools_uploads_on_commit_and_reads_ranges(s3, tmp_path):
    store = s3_store(s3, tmp_path / "spool")
    key = recording_key("call_1")
    assert store.size(key) is None
    with store.open_for_writing(key) as file:
        file.write(CONTENT)
        file.flush()
        # While written, it is a local file on this machine, and nothing is uploaded.
        assert store.local_path(key) == tmp_path / "spool" / "recordings" / "call_1.wav"
        assert store.size(key) == len(CONTENT)
        assert object_keys(s3) == []
    store.commit(key)
    assert object_keys(s3) == ["rec/recordings/call_1.wav"]
    assert store.local_path(key) is None
    assert not (tmp_path / "spool" / "recordings" / "call_1.wav").exists()
    assert store.size(key) == len(CONTENT)
    assert read(store, key, 0, len(CONTENT)) == CONTENT
    assert read(store, key, 65_000, 200_001) == CONTENT[65_000:200_001]
    assert read(store, key, 5, 5) == b""
    store.delete(key)
    store.delete(key)
    assert store.size(key) is None and object_keys(s3) == []


def test_s3_recover_uploads_what_a_crash_left_spooled(s3, tmp_path):
    spool = tmp_path / "spool"
    crashed = s3_store(s3, spool)
    left = recording_key("call_crashed")
    with crashed.open_for_writing(left) as file:
        file.write(CONTENT)  # ... and the process died before commit
    live = s3_store(s3, spool)  # another process on the same spool, still recording
    writing = recording_key("call_live")
    handle = live.open_for_writing(writing)
    handle.write(b"half")

    s3_store(s3, spool).recover()  # a process starting up
    assert object_keys(s3) == ["rec/recordings/call_crashed.wav"]
    assert read(crashed, left, 0, len(CONTENT)) == CONTENT
    assert not (spool / "recordings" / "call_crashed.wav").exists()
    assert (spool / "recordings" / "call_live.wav").exists()  # in use: left alone

    handle.close()
    live.commit(writing)
    assert sorted(object_keys(s3)) == [
        "rec/recordings/call_crashed.wav",
        "rec/recordings/call_live.wav",
    ]
    s3_store(s3, tmp_path / "no-spool-yet").recover()  # nothing to do


def test_s3_delete_removes_a_spooled_copy_too(s3, tmp_path):
    store = s3_store(s3, tmp_path / "spool", prefix="")
    key = recording_key("call_1")
    with store.open_for_writing(key) as file:
        file.write(b"RIFF")
    store.delete(key)
    assert store.size(key) is None and store.local_path(key) is None
