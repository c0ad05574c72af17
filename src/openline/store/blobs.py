"""Blobs (call recordings): files on local disk, or objects in S3-compatible storage.

A blob is written as a local file, seekable, because writers patch it as they go (a
recording rewrites its WAV header on every flush), and is final once ``commit`` is
called. Local blobs stay where they were written. S3 blobs are spooled on local disk
while written, uploaded on commit, then removed from the spool; spooled files a crash
left behind are uploaded by ``recover`` when the process starts again.

Every method may block (disk, network): call them off the event loop.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


def recording_key(call_id: str) -> str:
    return f"recordings/{call_id}.wav"


class BlobStore(Protocol):
    def open_for_writing(self, key: str) -> IO[bytes]:
        """A new local file for ``key`` (seekable, read-write); the caller closes it."""

    def commit(self, key: str) -> None:
        """The file written for ``key`` is complete and closed: make it final."""

    def size(self, key: str) -> int | None:
        """Size in bytes, or None when there is no such blob."""

    def local_path(self, key: str) -> Path | None:
        """The blob's file on this machine, when it has one (to serve it as a file)."""

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive) of the blob, in chunks."""

    def delete(self, key: str) -> None:
        """Remove the blob; no error when there is none."""

    def recover(self) -> None:
        """Finish what a crashed process left half done (at start-up)."""


def _safe_path(root: Path, key: str) -> Path:
    # Keys are built by openline (recording_key), but a call id comes from a URL: never
    # let one name a file outside the store.
    path = (root / key).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"blob key {key!r} leaves the store")
    return path


def _open_new(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w+b")


def _read_file(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(start)
        while start < end:
            chunk = file.read(min(CHUNK_BYTES, end - start))
            if not chunk:
                return
            start += len(chunk)
            yield chunk


class LocalBlobStore:
    """Blobs as files under ``root`` (default: ``<data dir>/blobs``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open_for_writing(self, key: str) -> IO[bytes]:
        return _open_new(_safe_path(self.root, key))

    def commit(self, key: str) -> None:
        return None  # written in place: the file already is the blob

    def size(self, key: str) -> int | None:
        path = self.local_path(key)
        return None if path is None else path.stat().st_size

    def local_path(self, key: str) -> Path | None:
        path = _safe_path(self.root, key)
        return path if path.is_file() else None

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        return _read_file(_safe_path(self.root, key), start, end)

    def delete(self, key: str) -> None:
        _safe_path(self.root, key).unlink(missing_ok=True)

    def recover(self) -> None:
        return None  # nothing is ever half done: files are written where they stay


class S3BlobStore:
    """Blobs as objects ``<prefix><key>`` in ``bucket`` (AWS S3, MinIO, R2, …).

    Credentials and region come from boto3's usual chain (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, profiles, instance roles).
    """

    def __init__(
        self, bucket: str, prefix: str, spool: Path, endpoint_url: str | None = None
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # an optional extra
            raise RuntimeError("recordings in S3 need boto3: pip install 'openline[s3]'") from None
        self.bucket = bucket
        self.prefix = prefix
        self.spool = spool
        # S3-compatible servers (MinIO, R2, …) are reached by path, not by bucket subdomain.
        config = Config(s3={"addressing_style": "path"}) if endpoint_url else None
        self._s3: Any = boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def _object(self, key: str) -> str:
        return self.prefix + key

    def open_for_writing(self, key: str) -> IO[bytes]:
        file = _open_new(_safe_path(self.spool, key))
        # Held while the file is open, so that ``recover`` in another process sharing this
        # spool never uploads (and removes) a recording still being written.
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return file

    def commit(self, key: str) -> None:
        self._upload(_safe_path(self.spool, key), key)

    def _upload(self, path: Path, key: str) -> None:
        try:
            self._s3.upload_file(str(path), self.bucket, self._object(key))
        except FileNotFoundError:
            return  # ``recover`` in another process uploaded it between close and commit
        path.unlink(missing_ok=True)

    def size(self, key: str) -> int | None:
        spooled = self.local_path(key)
        if spooled is not None:
            return spooled.stat().st_size
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self._object(key))
        except self._s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head["ContentLength"]

    def local_path(self, key: str) -> Path | None:
        """The spooled file while the blob is written here and not yet uploaded."""
        path = _safe_path(self.spool, key)
        return path if path.is_file() else None

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:  # S3 has no way to ask for nothing
            return
        reply = self._s3.get_object(
            Bucket=self.bucket, Key=self._object(key), Range=f"bytes={start}-{end - 1}"
        )
        body = reply["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        _safe_path(self.spool, key).unlink(missing_ok=True)
        self._s3.delete_object(Bucket=self.bucket, Key=self._object(key))

    def recover(self) -> None:
        if not self.spool.is_dir():
            return
        for path in sorted(p for p in self.spool.rglob("*") if p.is_file()):
            key = path.relative_to(self.spool).as_posix()
            with path.open("rb") as file:
                try:
                    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process is writing it
                try:
                    self._upload(path, key)
                except Exception:  # kept spooled for the next start
                    log.exception("could not upload spooled blob %s; kept in %s", key, path)
                else:
                    log.info("uploaded blob %s left spooled by an earlier run", key)
