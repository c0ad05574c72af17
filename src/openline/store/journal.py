"""The writer's journal: every op is appended to a local file before it is queued.

Each op is copied as one record (``ops.py``) into a segment file mapped into memory
(``mmap``, shared): the copy lands in the page cache, so it survives a kill of the
process (not, unless ``fsync``, a crash of the machine), and it costs neither a wait on
the database nor a system call (a ``write()`` would let the writer's thread take the GIL
on every fact). Segments have a fixed size; a full one is closed, and deleted once every
op in it is committed. What is left at start-up was not (or not known to be)
committed, and is replayed (``replay.py``).

Each process journals into its own directory, ``<root>/<process id>/``, and holds an
exclusive ``flock`` on it while it runs; the kernel drops the lock when the process dies
however it dies, so a directory whose lock can be taken belongs to a process that is
gone, and whoever takes it (the next process started on this data dir) replays it.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import shutil
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from openline.store.ops import Op, decode_all, encode

SEGMENT_BYTES = 4 << 20  # a segment's size (larger for a larger record)
_LOCK = "lock"
_SUFFIX = ".log"


class Journal:
    def __init__(self, directory: Path, lock_fd: int, fsync: bool, segment_bytes: int) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._lock_fd = lock_fd
        self._fsync = fsync
        self._appended = 0
        self._segment = 0
        self._at = 0  # where the next record goes in the current segment
        self._closed: deque[tuple[Path, int]] = deque()  # (segment, ops appended by its end)
        self._map = self._open_segment(segment_bytes)

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
        end = self._at + len(data)
        if end > len(self._map):  # full: the ops before this one are in the segment closed
            self._map.close()
            self._closed.append((self._segment_path(), self._appended - 1))
            self._map = self._open_segment(max(self._segment_bytes, len(data)))
            end = len(data)
        self._map[self._at : end] = data
        if self._fsync:
            start = self._at - self._at % mmap.PAGESIZE
            self._map.flush(start, end - start)
        self._at = end

    def trim(self, committed: int) -> None:
        """The first ``committed`` ops appended are in the database: drop what held them."""
        while self._closed and self._closed[0][1] <= committed:
            self._closed.popleft()[0].unlink()

    def close(self) -> None:
        """Everything appended is committed: the journal goes."""
        self._map.close()
        shutil.rmtree(self.directory)
        os.close(self._lock_fd)

    def _open_segment(self, size: int) -> mmap.mmap:
        """The next segment, mapped; the next record goes at its start."""
        self._segment += 1
        fd = os.open(self._segment_path(), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Zeros (a record length of 0 marks the end), on blocks taken now: a full disk
            # is an error here, not a SIGBUS when a page is first written.
            os.posix_fallocate(fd, 0, size)
            segment = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._at = 0
        return segment

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
