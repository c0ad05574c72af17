"""How many deliveries this process keeps in flight to each endpoint.

A congestion window per endpoint, as TCP does: every failure halves it (down to one),
every success widens it by one (slow start: it doubles each round trip). An endpoint that
just came back after an outage starts at one delivery in flight, so the catch-up grows
only as fast as the receiver proves it can take it, and backs off when it struggles.
Endpoints that never failed here run at the dispatcher's full concurrency.
"""

from __future__ import annotations

from collections import Counter


class Pacer:
    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._windows: dict[str, int] = {}  # only endpoints below full concurrency
        self.in_flight: Counter[str] = Counter()

    def window(self, webhook_id: str) -> int:
        return self._windows.get(webhook_id, self._concurrency)

    def room(self) -> dict[str, int]:
        """Endpoints held below full concurrency -> how many more may be sent now (0: none)."""
        return {w: max(0, size - self.in_flight[w]) for w, size in self._windows.items()}

    def started(self, webhook_id: str) -> None:
        self.in_flight[webhook_id] += 1

    def finished(self, webhook_id: str, delivered: bool) -> None:
        self.in_flight[webhook_id] -= 1
        if self.in_flight[webhook_id] <= 0:
            del self.in_flight[webhook_id]
        size = self.window(webhook_id)
        size = size + 1 if delivered else max(1, size // 2)
        if size >= self._concurrency:
            self._windows.pop(webhook_id, None)
        else:
            self._windows[webhook_id] = size
