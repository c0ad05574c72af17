"""The writer's journal: every op is appended to a local file before it is queued.

One ``write()`` per op (a record, ``ops.py``) to a file in the page cache: it survives
a kill of the process (not, unless ``fsync``, a crash of the machine) and costs no wait
on the database. The writer trims the journal as batches commit: a full segment is closed and deleted once
every op in it is committed. What is left at start-up was not (or not known to be)
committed, and is replayed (``replay.py``).

Each process journals into its own directory, ``<root>/<process id>/``, and holds an
exclusive ``flock`` on it while it runs; the kernel drops the lock when the process dies
however it dies, so a directory whose lock can be taken belongs to a process that is
gone, and whoever takes it (the next process started on this data dir) replays it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from openline.store.ops import Op, decode_all, encode

SEGMENT_BYTES = 1 << 20  # past this, a segment is closed at the next commit (default)
_LOCK = "lock"
_SUFFIX = ".log"


class Journal:
    def __init__(self, directory: Path, lock_fd: int, fsync: bool, segment_bytes: int) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._lock_fd = lock_fd
        self._flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_DSYNC if fsync else 0)
        self._appended = 0
        self._segment = 0
        self._fd = -1
        self._bytes = 0
        self._closed: deque[tuple[Path, int]] = deque()  # (segment, ops appended by its end)
        self._open_segment()

    @classmethod
    def create(
        cls, root: Path, process_id: str, fsync: bool = False, segment_bytes: int = SEGMENT_BYTES
    ) -> Journal:
        """This process's journal, locked before it is visible under its final name (so no
        other process can take it for a dead one's)."""
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".new-{process_id}"
        staging.mkdir()
        lock_fd = os.open(staging / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        directory = staging.rename(root / process_id)
        return cls(directory, lock_fd, fsync, segment_bytes)

    def append(self, op: Op) -> None:
        self._appended += 1  # counted even if it cannot be encoded: it is the writer's count
        data = encode(op)
        self._bytes += len(data)
        while data:  # a regular file takes it all at once; the loop is for the rare rest
            data = data[os.write(self._fd, data) :]

    def trim(self, committed: int) -> None:
        """The first ``committed`` ops appended are in the database: drop what held them."""
        if self._bytes >= self._segment_bytes:
            os.close(self._fd)
            self._closed.append((self._segment_path(), self._appended))
            self._open_segment()
        while self._closed and self._closed[0][1] <= committed:
            self._closed.popleft()[0].unlink()

    def close(self) -> None:
        """Everything appended is committed: the journal goes."""
        os.close(self._fd)
        shutil.rmtree(self.directory)
        os.close(self._lock_fd)

    def _open_segment(self) -> None:
        self._segment += 1
        self._fd = os.open(self._segment_path(), self._flags, 0o600)
        self._bytes = 0

    def _segment_path(self) -> Path:
        return self.directory / f"{self._segment:08d}{_SUFFIX}"


class Leftover:
    """The journal of a process that is gone, locked by this one until discarded."""

    def __init__(self, directory: Path, lock_fd: int) -> None:
        self.directory = directory
        self.process_id = directory.name
        self._lock_fd = lock_fd

    def ops(self) -> Iterator[Op]:
        """Its ops in the order they were appended. A torn last record (a machine crash
        mid-write) is left out: nothing that was acknowledged can be in it."""
        for segment in sorted(self.directory.glob("*" + _SUFFIX)):
            yield from decode_all(segment.read_bytes())

    def discard(self) -> None:
        shutil.rmtree(self.directory)
        os.close(self._lock_fd)


def leftovers(root: Path) -> list[Leftover]:
    """Journals under ``root`` whose process is gone (their lock could be taken)."""
    found = []
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        if directory.name.startswith(".") or not directory.is_dir():
            continue
        lock_fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive
            os.close(lock_fd)
            continue
        found.append(Leftover(directory, lock_fd))
    return found
