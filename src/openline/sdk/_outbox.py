"""One writer per call: frames leave in the order they were posted, and posting
never blocks or raises into agent code.

Protocol frames (text, tool calls, events...) are never dropped. Log records come
from any thread and are bounded: past `max_logs` waiting records new ones are
dropped and counted, and the count is reported as one log record.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ._wire import dumps, plain

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]

DEFAULT_MAX_LOGS = 5_000


class _CloseMarker:
    def __init__(self, code: int) -> None:
        self.code = code


class Outbox:
    def __init__(self, send: Send, close: Close, *, max_logs: int = DEFAULT_MAX_LOGS) -> None:
        self._send = send
        self._close = close
        self._max_logs = max_logs
        self._lock = threading.Lock()
        self._items: deque[tuple[bool, Any]] = deque()  # (is_log, frame or _CloseMarker)
        self._waiting_logs = 0
        self._dropped = 0
        self._closing = False
        self._dead = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self.done = asyncio.Event()  # set when the socket is closed or the writer stopped

    # ------------------------------------------------------------------ posting

    def post(self, frame: dict[str, Any]) -> None:
        """Queue a protocol frame (event-loop thread only)."""
        with self._lock:
            if self._closing:
                return
            self._items.append((False, frame))
        self._wake.set()

    def post_log(self, frame: dict[str, Any]) -> None:
        """Queue a log record from any thread; drops it when too many are waiting."""
        with self._lock:
            if self._closing:
                return
            if self._waiting_logs >= self._max_logs:
                self._dropped += 1
                return
            self._waiting_logs += 1
            self._items.append((True, frame))
        self._wake_up()

    def close(self, code: int = 1000) -> None:
        """Send everything already queued, then close the socket with `code`."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._items.append((False, _CloseMarker(code)))
        self._wake.set()

    def _wake_up(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
            return
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # loop closed: the call is over
            pass

    # ------------------------------------------------------------------ writing

    async def run(self) -> None:
        """The writer loop; returns after the close frame or when the socket fails."""
        try:
            while not self._dead:
                await self._wake.wait()
                self._wake.clear()
                while True:
                    with self._lock:
                        if not self._items:
                            dropped, self._dropped = self._dropped, 0
                            break
                        is_log, item = self._items.popleft()
                        if is_log:
                            self._waiting_logs -= 1
                    if isinstance(item, _CloseMarker):
                        await self._report_drops()
                        await self._close_socket(item.code)
                        return
                    await self._write(item)
                if dropped:
                    await self._write(_drop_notice(dropped))
        finally:
            self._dead = True
            with self._lock:
                self._closing = True
                self._items.clear()
            self.done.set()

    async def _report_drops(self) -> None:
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            await self._write(_drop_notice(dropped))

    async def _write(self, frame: dict[str, Any]) -> None:
        if self._dead:
            return
        try:
            text = dumps(frame)
        except (TypeError, ValueError):  # frames are built JSON-safe; this is a last resort
            text = dumps(plain(frame))
        try:
            await self._send(text)
        except Exception:  # noqa: BLE001 - any send failure means the platform went away
            self._dead = True

    async def _close_socket(self, code: int) -> None:
        if self._dead:
            return
        with contextlib.suppress(Exception):  # already closed by the platform
            await self._close(code)


def _drop_notice(count: int) -> dict[str, Any]:
    return {
        "type": "log_record",
        "level": "warning",
        "logger": "openline.sdk",
        "message": f"dropped {count} log records: the call's log queue was full",
        "timestamp": time.time(),
        "exc_text": None,
    }
