"""The event loop's stalls as the listener asks for them, on a real loop: a blocked loop
is seen as held up, while it is coming out of it and after its tick has run."""

from __future__ import annotations

import asyncio
import time

from openline.harness import loop_lag


async def test_a_blocked_loop_is_held_up_for_as_long_as_it_was_blocked():
    loop_lag.held_up(1.0)  # the monitor starts on first use
    await asyncio.sleep(3 * loop_lag.PERIOD_S)
    time.sleep(0.4)  # noqa: ASYNC251 - the point: nothing else on the loop can run
    coming_out = loop_lag.held_up(1.0)  # before the monitor's tick has run again
    await asyncio.sleep(3 * loop_lag.PERIOD_S)
    noted = loop_lag.held_up(1.0)
    assert coming_out >= 0.4 - loop_lag.PERIOD_S
    assert noted >= 0.4 - loop_lag.PERIOD_S
    assert loop_lag.held_up(0.1) <= 0.1  # only what falls within the window asked about
