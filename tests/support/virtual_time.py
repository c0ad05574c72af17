"""An asyncio loop on a virtual clock, for voice behaviour tests in the LiveKit Agents style.

Whenever every task is waiting, the loop's clock jumps to its next timer instead of
sleeping until it, so seconds of paced audio play out in milliseconds, and every run sees
the same times. Code under test reads the call's time from ``loop.time``. Work handed to
a thread (``asyncio.to_thread``) takes no virtual time: the clock waits for it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.threads = 0  # executor jobs running: their results wake the loop

    def select(self, timeout: float | None = None):
        # Each pass of the loop takes a microsecond, as on a real clock: a task waiting for
        # the clock to pass a time rounded down (a call clock in milliseconds) gets there.
        self.now += 1e-6
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self.threads:
            return super().select()  # until a thread at work hands back its result
        if timeout is None:  # no timer set, nothing to read, no thread: nothing can happen
            raise RuntimeError("deadlock: every task waits for something no timer will bring")
        self.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._clock = _JumpingSelector()
        super().__init__(self._clock)

    def time(self) -> float:
        return self._clock.now

    def run_in_executor(self, executor, func, *args):
        self._clock.threads += 1
        future = super().run_in_executor(executor, func, *args)
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future) -> None:
        self._clock.threads -= 1


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` to completion on a fresh virtual-time loop (its clock starts at 0)."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
