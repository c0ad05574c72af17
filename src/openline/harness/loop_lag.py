"""How long this process's event loop was held up: a tick every ``PERIOD_S`` notes how
late it ran. Caller audio read late *because the loop could not run* (speech
recognition holding the interpreter, a starved process) was said on time and waited in
the socket; audio late for any other reason may follow a real pause in the stream. The
listener asks which it was (``held_up``) before placing late audio on the call's clock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

PERIOD_S = 0.05
KEPT = 200  # stalls remembered: far more than a few seconds' worth
_MONITORS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag] = (
    weakref.WeakKeyDictionary()
)


class LoopLag:
    """The stalls of one event loop, on its own clock (``loop.time()``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stalls: deque[tuple[float, float]] = deque(maxlen=KEPT)  # (from, until)
        self._ticked = loop.time()
        self._task = loop.create_task(self._tick(), name="loop-lag")

    async def _tick(self) -> None:
        while True:
            due = self._loop.time() + PERIOD_S
            await asyncio.sleep(PERIOD_S)
            self._ticked = self._loop.time()
            if self._ticked > due + PERIOD_S:  # late by more than a tick: held up
                self._stalls.append((due, self._ticked))

    def held_up(self, within_s: float) -> float:
        """Seconds of the last ``within_s`` the loop could not run: the stalls it noted,
        and the one it is coming out of now (its tick not run yet)."""
        now = self._loop.time()
        since = now - within_s
        stalls = [*self._stalls, (self._ticked + PERIOD_S, now)]
        return sum(max(0.0, min(until, now) - max(start, since)) for start, until in stalls)


def held_up(within_s: float) -> float:
    """``LoopLag.held_up`` of the running loop (its monitor starts on first use)."""
    loop = asyncio.get_running_loop()
    monitor = _MONITORS.get(loop)
    if monitor is None:
        monitor = _MONITORS[loop] = LoopLag(loop)
    return monitor.held_up(within_s)
