"""Failed sign-in attempts per client address, with exponential backoff.

Keys are long and random, so guessing one is hopeless at any rate; the limit is there
to make it cost time and to keep a guessing client from loading the server. After
``free`` failures an address must wait ``base_s`` before it may try again, twice as long
after each further failure, up to ``max_s``; while it waits, every attempt from it is
refused unchecked (checking would answer its guesses at full speed again). A success
clears the address, and so does a quiet ``FORGET_AFTER_S``.

Counted per process: with several workers, an address gets ``free`` tries on each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FORGET_AFTER_S = 15 * 60
_MAX_ADDRESSES = 100_000  # beyond this, addresses whose record is forgotten are dropped


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class FailedAttempts:
    def __init__(self, free: int, base_s: float, max_s: float) -> None:
        self._free = free
        self._base_s = base_s
        self._max_s = max_s
        self._records: dict[str, _Record] = {}

    def wait_s(self, address: str) -> float:
        """How long ``address`` must still wait before its next attempt is checked."""
        record = self._records.get(address)
        return 0.0 if record is None else max(0.0, record.blocked_until - time.monotonic())

    def failed(self, address: str) -> None:
        now = time.monotonic()
        record = self._records.get(address)
        if record is None or now - record.last_failure > FORGET_AFTER_S:
            if len(self._records) >= _MAX_ADDRESSES:
                self._forget_quiet(now)
            record = self._records[address] = _Record()
        record.failures += 1
        record.last_failure = now
        beyond = record.failures - self._free
        if beyond > 0:
            record.blocked_until = now + min(self._max_s, self._base_s * 2 ** min(beyond - 1, 30))

    def succeeded(self, address: str) -> None:
        self._records.pop(address, None)

    def _forget_quiet(self, now: float) -> None:
        for address, record in list(self._records.items()):
            if now - record.last_failure > FORGET_AFTER_S:
                del self._records[address]
